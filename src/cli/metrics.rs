//! `camscope metrics`: how faithful each method's map is (docs/metrics.md) — deletion and
//! insertion curves with their areas, the input-times-map confidence measures, and ROAD.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use camscope::engine::Explainer;
use camscope::engine::io::labels::label_of;
use camscope::engine::metrics::faithfulness::{
    Baseline, CurveSettings, confidence, deletion_insertion,
};
use camscope::engine::metrics::road::road;
use camscope::engine::render::plot::{PlotSeries, curves_png};
use camscope::engine::render::save_png;

use super::input::{self, MethodArgs, Source, ViewArgs};
use super::{EXIT_PARTIAL, Methods, ModelArgs, outln, parse_class, parse_methods};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// The photo.
    #[arg(long, value_name = "IMG")]
    image: PathBuf,
    /// Comma-separated methods, one row each.
    #[arg(long, default_value = "cam,gradcam", value_parser = parse_methods)]
    methods: Methods,
    #[command(flatten)]
    view: ViewArgs,
    #[command(flatten)]
    how: MethodArgs,
    /// The class; default: the top-1 prediction.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_class)]
    class: Option<usize>,
    /// Points of each curve after the first (the pixels go in `steps` equal parts).
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    steps: u64,
    /// What deleted pixels become and insertion starts from.
    #[arg(long, value_enum, default_value = "blur")]
    baseline: BaselineArg,
    /// ROAD's imputation noise (pytorch-grad-cam's 0.01; from a fixed seed, so runs agree).
    #[arg(long, value_name = "SIGMA", default_value_t = 0.01)]
    road_noise: f32,
    /// Draw every method's deletion and insertion curves into one PNG.
    #[arg(long, value_name = "OUT.png")]
    plot: Option<PathBuf>,
    /// Print one JSON object (with the curves) on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum BaselineArg {
    Blur,
    Zero,
    Mean,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if let Some(plot) = &args.plot {
        input::check_outputs(
            &input::given(&[
                ("--image", Some(&args.image)),
                ("--model", args.model.model.as_deref()),
                ("--labels", args.view.labels.as_deref()),
            ]),
            &[("--plot", plot)],
        )?;
    }
    let model = args.model.load()?;
    let labels = input::labels(args.view.labels.as_deref(), &model)?;
    let loaded = input::load(&model, Source::Photo(&args.image), args.view.resize)?;
    input::warn(&loaded.warnings);
    let explainer = Explainer::new(&model, &loaded.input)?;
    let class = match args.class {
        Some(c) => c,
        None => explainer.top_k(1)?[0].class,
    };
    model.check_class(class)?;
    let options = args.how.options(!args.json);
    let show_progress = !args.json && std::io::stderr().is_terminal();
    let progress = |done: usize, total: usize| {
        eprint!("\r  curves: {done}/{total} forward passes");
        if done == total {
            eprintln!();
        }
    };
    let settings = CurveSettings {
        class,
        steps: args.steps as usize,
        baseline: match args.baseline {
            BaselineArg::Blur => Baseline::Blur,
            BaselineArg::Zero => Baseline::Zero,
            BaselineArg::Mean => Baseline::Mean,
        },
        batch_size: args.how.batch_size as usize,
        check: &|| Ok(()),
        progress: show_progress.then_some(&progress as &dyn Fn(usize, usize)),
    };
    let mut rows = Vec::new();
    let mut curves = Vec::new();
    let mut failed = 0;
    for &m in &args.methods.0 {
        let row = explainer
            .explain_with(m, args.view.layer.as_deref(), class, &options)
            .and_then(|e| {
                let (del, ins) = deletion_insertion(&model, &loaded.input, &e.map, &settings)?;
                let conf = confidence(&model, &loaded.input, &e.map, class)?;
                let road = road(&model, &loaded.input, &e.map, class, args.road_noise, 0)?;
                let row = serde_json::json!({
                    "method": m, "layer": e.layer,
                    "deletion_auc": del.auc, "insertion_auc": ins.auc,
                    "average_drop": conf.average_drop, "increase": conf.increase,
                    "confidence_change": conf.change, "road_combined": road.combined,
                    "deletion": del, "insertion": ins, "confidence": conf, "road": road,
                });
                curves.push((m.name(), del, ins));
                Ok(row)
            });
        rows.push(match row {
            Ok(r) => r,
            Err(e) => {
                failed += 1;
                eprintln!("camscope: {m}: {e}");
                serde_json::json!({"method": m, "error": e.to_string()})
            }
        });
    }
    let label = label_of(labels.as_ref(), class);
    if let Some(p) = &args.plot {
        let series: Vec<PlotSeries> = curves
            .iter()
            .map(|(name, deletion, insertion)| PlotSeries {
                name,
                deletion,
                insertion,
            })
            .collect();
        let caption = format!(
            "{} — class {class} ({label}) — {} steps, {:?} baseline — {}",
            args.image.display(),
            args.steps,
            settings.baseline,
            model.architecture
        );
        save_png(p, &curves_png(&series, &caption))?;
    }
    if args.json {
        let out = serde_json::json!({
            "model": args.model.display(),
            "architecture": model.architecture,
            "image": args.image.display().to_string(),
            "class": class,
            "label": label,
            "steps": args.steps,
            "baseline": settings.baseline,
            "methods": rows,
            "plot": args.plot.as_ref().map(|p| p.display().to_string()),
        });
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        outln!(
            "{} ({}), class {class} ({label}), {} steps, {:?} baseline",
            args.image.display(),
            model.architecture,
            args.steps,
            settings.baseline
        );
        outln!(
            "  {:22} {:>13} {:>14} {:>10} {:>9} {:>12} {:>10}",
            "method",
            "deletion AUC↓",
            "insertion AUC↑",
            "avg drop %",
            "increase",
            "conf. change",
            "ROAD↑"
        );
        for r in &rows {
            if r.get("error").is_some() {
                outln!("  {:22} failed", r["method"].as_str().unwrap_or(""));
                continue;
            }
            outln!(
                "  {:22} {:>13.4} {:>14.4} {:>10.2} {:>9} {:>+12.4} {:>+10.4}",
                r["method"].as_str().unwrap_or(""),
                r["deletion_auc"].as_f64().unwrap_or(f64::NAN),
                r["insertion_auc"].as_f64().unwrap_or(f64::NAN),
                r["average_drop"].as_f64().unwrap_or(f64::NAN),
                if r["increase"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                },
                r["confidence_change"].as_f64().unwrap_or(f64::NAN),
                r["road_combined"].as_f64().unwrap_or(f64::NAN),
            );
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(EXIT_PARTIAL)
    } else {
        ExitCode::SUCCESS
    })
}
