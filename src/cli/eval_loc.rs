//! `camscope eval-loc`: WSOL metrics over a dataset (docs/eval-loc.md has the layout).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use camscope::engine::metrics::faithfulness::{
    Baseline, CurveSettings, POINTING_TOLERANCE, deletion_insertion, pointing_game,
};
use camscope::engine::metrics::wsol::{Item, LocEvaluator, LocMetrics, parse_boxes_csv};
use camscope::engine::{BBox, Error, Explainer};

use super::input::{self, MethodArgs, ResizeArg, Source};
use super::{EXIT_PARTIAL, Methods, ModelArgs, outln, parse_methods};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// A folder with boxes.csv (`file,class,x0,y0,x1,y1`, paths relative to the folder).
    #[arg(long, value_name = "DIR")]
    dataset: PathBuf,
    /// Comma-separated methods to evaluate.
    #[arg(long, default_value = "cam,gradcam", value_parser = parse_methods)]
    methods: Methods,
    /// The layer (several, comma-separated, fuse their maps); default: the model's.
    #[arg(long, value_name = "NAME")]
    layer: Option<String>,
    #[command(flatten)]
    how: MethodArgs,
    /// τ for Top-1 Loc and GT-known Loc (MaxBoxAcc sweeps τ itself).
    #[arg(
        long,
        value_name = "TAU",
        default_value_t = 0.2,
        allow_negative_numbers = true
    )]
    threshold: f32,
    /// `stretch` resizes the whole image to the input size, as wsolevaluation does.
    #[arg(long, value_enum, default_value = "center-crop")]
    resize: ResizeArg,
    /// Also the mean deletion and insertion AUC per method (docs/metrics.md; blur baseline,
    /// this many steps; 2 × (steps + 1) forward passes per image and method).
    #[arg(long, value_name = "STEPS", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    faithfulness: Option<u64>,
    #[arg(long)]
    json: bool,
}

/// Reads `DIR/boxes.csv` ([`parse_boxes_csv`]).
pub fn read_dataset(dir: &Path) -> anyhow::Result<Vec<Item>> {
    let path = dir.join("boxes.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::read(&path, e))?;
    Ok(parse_boxes_csv(&text, &path)?)
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let model = args.model.load()?;
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.threshold),
        "--threshold must be in [0, 1], got {}",
        args.threshold
    );
    let items = read_dataset(&args.dataset)?;
    let options = args.how.options(false);
    let mut evals: BTreeMap<&str, LocEvaluator> = args
        .methods
        .0
        .iter()
        .map(|m| (m.name(), LocEvaluator::new(args.threshold)))
        .collect();
    let mut unavailable: BTreeMap<&str, String> = BTreeMap::new();
    // Per method: the sums of deletion and insertion AUC, and the images counted.
    let mut auc_sums: BTreeMap<&str, (f64, f64, usize)> = BTreeMap::new();
    let mut failed = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = args.dataset.join(&item.file);
        let result = (|| -> anyhow::Result<()> {
            model.check_class(item.class)?;
            let loaded = input::load(&model, Source::Photo(&path), args.resize)?;
            input::warn(&loaded.warnings);
            let ex = Explainer::new(&model, &loaded.input)?;
            let top1 = ex.top_k(1)?[0].class;
            for &m in &args.methods.0 {
                if unavailable.contains_key(m.name()) {
                    continue;
                }
                match ex.explain_with(m, args.layer.as_deref(), item.class, &options) {
                    Ok(e) => {
                        let to_photo =
                            |b: &BBox| b.map(|x, y| loaded.mapping.original_from_input(x, y));
                        if let Some(ev) = evals.get_mut(m.name()) {
                            ev.add(top1, item.class, &item.boxes, &e.localization, to_photo);
                            ev.add_pointing(pointing_game(
                                &e.map,
                                &loaded.mapping,
                                &item.boxes,
                                POINTING_TOLERANCE,
                            ));
                        }
                        if let Some(steps) = args.faithfulness {
                            let s = CurveSettings {
                                class: item.class,
                                steps: steps as usize,
                                baseline: Baseline::Blur,
                                batch_size: args.how.batch_size as usize,
                                check: &|| Ok(()),
                                progress: None,
                            };
                            let (del, ins) = deletion_insertion(&model, &loaded.input, &e.map, &s)?;
                            let sums = auc_sums.entry(m.name()).or_default();
                            sums.0 += del.auc as f64;
                            sums.1 += ins.auc as f64;
                            sums.2 += 1;
                        }
                    }
                    Err(e) => {
                        unavailable.insert(m.name(), e.to_string());
                    }
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) => eprintln!("[{}/{}] {}", i + 1, items.len(), item.file),
            Err(e) => {
                eprintln!("[{}/{}] {}: FAILED: {e:#}", i + 1, items.len(), item.file);
                failed.push(serde_json::json!({"file": item.file, "error": format!("{e:#}")}));
            }
        }
    }
    let metrics: BTreeMap<&str, LocMetrics> = evals
        .iter()
        .filter(|(m, _)| !unavailable.contains_key(*m))
        .map(|(m, e)| (*m, e.metrics()))
        .collect();
    let faithfulness: BTreeMap<&str, serde_json::Value> = auc_sums
        .iter()
        .filter(|(m, _)| !unavailable.contains_key(*m))
        .map(|(m, (d, i, n))| {
            let n = (*n).max(1) as f64;
            (
                *m,
                serde_json::json!({"deletion_auc": d / n, "insertion_auc": i / n}),
            )
        })
        .collect();
    if args.json {
        let out = serde_json::json!({
            "faithfulness": args.faithfulness.map(|steps| serde_json::json!({
                "steps": steps, "baseline": Baseline::Blur, "mean": faithfulness,
            })),
            "dataset": args.dataset.display().to_string(),
            "architecture": model.architecture,
            "preprocess": model.preprocess_info(),
            "threshold": super::json_f32(args.threshold),
            "metrics": metrics,
            "unavailable": unavailable,
            "failed": failed,
        });
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        outln!(
            "{:16} {:>6} {:>8} {:>9} {:>12} {:>10} {:>6} {:>12} {:>9}",
            "method",
            "images",
            "acc %",
            "top1-loc",
            "gt-known-loc",
            "MaxBoxAcc",
            "at τ",
            "MaxBoxAccV2",
            "pointing"
        );
        for (m, r) in &metrics {
            outln!(
                "{m:16} {:>6} {:>8.2} {:>9.2} {:>12.2} {:>10.2} {:>6.2} {:>12.2} {:>9.2}",
                r.images,
                r.accuracy,
                r.top1_loc,
                r.gt_known_loc,
                r.max_box_acc,
                r.max_box_acc_threshold,
                r.max_box_acc_v2,
                r.pointing_game
            );
        }
        for (m, why) in &unavailable {
            outln!("{m:16} n/a: {why}");
        }
        if let Some(steps) = args.faithfulness {
            outln!("mean AUC over the images ({steps} steps, blur baseline):");
            for (m, v) in &faithfulness {
                outln!(
                    "{m:16} deletion {:.4}  insertion {:.4}",
                    v["deletion_auc"].as_f64().unwrap_or(f64::NAN),
                    v["insertion_auc"].as_f64().unwrap_or(f64::NAN)
                );
            }
        }
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PARTIAL)
    })
}
