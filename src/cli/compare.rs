//! `camscope compare`: several methods side by side in one PNG.

use std::path::PathBuf;
use std::process::ExitCode;

use camscope::engine::Explainer;
use camscope::engine::io::labels::label_of;
use camscope::engine::render::{
    GridPane, GridSettings, compare_grid, grid_caption, photo_boxes, save_png,
};

use super::input::{self, MethodArgs, Source, ViewArgs};
use super::{Methods, ModelArgs, RenderArgs, box_json, outln, parse_class, parse_methods};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long, value_name = "IMG")]
    image: PathBuf,
    /// Comma-separated methods, one pane each.
    #[arg(long, default_value = "cam,gradcam,guided-gradcam", value_parser = parse_methods)]
    methods: Methods,
    #[command(flatten)]
    view: ViewArgs,
    #[command(flatten)]
    how: MethodArgs,
    /// The class to explain; default: the top-1 prediction.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_class)]
    class: Option<usize>,
    #[command(flatten)]
    render: RenderArgs,
    /// Put every pane on one colour scale (raw maps, shared minimum and maximum) instead of
    /// each pane's own min–max, to compare methods by magnitude.
    #[arg(long)]
    shared_scale: bool,
    /// The composite PNG to write.
    #[arg(long, value_name = "GRID.png")]
    out: PathBuf,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    input::check_outputs(
        &input::given(&[
            ("--image", Some(&args.image)),
            ("--model", args.model.model.as_deref()),
            ("--labels", args.view.labels.as_deref()),
        ]),
        &[("--out", &args.out)],
    )?;
    let model = args.model.load()?;
    let style = args.render.style()?;
    let labels = input::labels(args.view.labels.as_deref(), &model)?;
    let loaded = input::load(&model, Source::Photo(&args.image), args.view.resize)?;
    input::warn(&loaded.warnings);
    let explainer = Explainer::new(&model, &loaded.input)?;
    let all = explainer.predictions()?;
    let class = args.class.unwrap_or(all[0].class);
    model.check_class(class)?;
    let probability = all
        .iter()
        .find(|p| p.class == class)
        .map_or(0.0, |p| p.probability);
    let label = label_of(labels.as_ref(), class);

    let options = args.how.options(!args.json);
    let results: Vec<_> = args
        .methods
        .0
        .iter()
        .map(|&m| {
            let r = explainer
                .explain_with(m, args.view.layer.as_deref(), class, &options)
                .map_err(|e| e.to_string());
            (m, r)
        })
        .collect();
    let mut report = Vec::new();
    for (m, r) in &results {
        report.push(match r {
            Ok(e) => {
                let boxes = photo_boxes(
                    &e.localization,
                    &loaded.mapping,
                    args.render.threshold,
                    args.render.all_boxes,
                );
                serde_json::json!({"method": m, "layer": e.layer, "boxes": box_json(&boxes)})
            }
            Err(err) => {
                eprintln!("camscope: {m}: {err}");
                serde_json::json!({"method": m, "error": err})
            }
        });
    }
    let panes: Vec<GridPane> = results
        .iter()
        .map(|(m, r)| GridPane {
            mapping: None,
            method: *m,
            result: r.as_ref().map_err(String::as_str),
        })
        .collect();
    let caption = grid_caption(
        &label,
        probability,
        class,
        args.render.threshold,
        &model.architecture,
    );
    let settings = GridSettings {
        style: &style,
        threshold: args.render.threshold,
        all_boxes: args.render.all_boxes,
        shared_scale: args.shared_scale,
        caption: &caption,
    };
    let grid = compare_grid(&loaded.photo, &loaded.mapping, &panes, &settings)?;
    save_png(&args.out, &grid)?;
    if args.json {
        let out = serde_json::json!({
            "architecture": model.architecture,
            "preprocess": model.preprocess_info(),
            "class": class,
            "label": label,
            "probability": probability,
            "threshold": super::json_f32(args.render.threshold),
            "panes": report,
            "out": args.out.display().to_string(),
            "size": [grid.width(), grid.height()],
        });
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        outln!(
            "wrote {} ({}×{})",
            args.out.display(),
            grid.width(),
            grid.height()
        );
    }
    Ok(ExitCode::SUCCESS)
}
