//! `camscope compare`: several methods side by side in one PNG.

use std::path::PathBuf;
use std::process::ExitCode;

use camscope::engine::Explainer;
use camscope::engine::annotate::{annotated, photo_boxes, unavailable_pane};
use camscope::engine::labels::label_of;
use camscope::engine::preprocess::resize_rgb;
use camscope::engine::render::{composite, save_png, with_caption_for};

use super::explain::{ViewArgs, load_photo};
use super::{Methods, ModelArgs, RenderArgs, box_json, parse_methods};

/// Panes wider or taller than this are scaled down in the composite.
const MAX_PANE_SIDE: u32 = 1600;

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
    /// The class to explain; default: the top-1 prediction.
    #[arg(long, value_name = "N")]
    class: Option<usize>,
    #[command(flatten)]
    render: RenderArgs,
    /// The composite PNG to write.
    #[arg(long, value_name = "GRID.png")]
    out: PathBuf,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let model = args.model.load()?;
    let style = args.render.style()?;
    let labels = super::labels(args.view.labels.as_deref(), &model)?;
    let loaded = load_photo(&model, &args.image, args.view.resize)?;
    let explainer = Explainer::new(&model, &loaded.input)?;
    let all = explainer.predictions()?;
    let class = args.class.unwrap_or(all[0].class);
    model.check_class(class)?;
    let probability = all
        .iter()
        .find(|p| p.class == class)
        .map_or(0.0, |p| p.probability);
    let label = label_of(labels.as_ref(), class);

    // Panes are drawn on a preview-sized copy of the photo.
    let (w, h) = loaded.photo.dimensions();
    let s = (MAX_PANE_SIDE as f32 / w.max(h) as f32).min(1.0);
    let (pw, ph) = (
        ((w as f32 * s).round() as u32).max(1),
        ((h as f32 * s).round() as u32).max(1),
    );
    let photo = resize_rgb(&loaded.photo, pw, ph)?;
    let mapping = loaded.mapping.for_photo_size(pw, ph);

    let mut panes = Vec::new();
    let mut report = Vec::new();
    for &m in &args.methods.0 {
        match explainer.explain(m, args.view.layer.as_deref(), class) {
            Ok(e) => {
                let boxes = photo_boxes(
                    &e.localization,
                    &mapping,
                    args.render.threshold,
                    args.render.all_boxes,
                );
                let title = if m.uses_layer() {
                    format!("{} · {}", m.title(), e.layer)
                } else {
                    m.title().to_owned()
                };
                panes.push((title, annotated(&photo, &mapping, &e, &style, &boxes)));
                let full = photo_boxes(
                    &e.localization,
                    &loaded.mapping,
                    args.render.threshold,
                    args.render.all_boxes,
                );
                report.push(
                    serde_json::json!({"method": m, "layer": e.layer, "boxes": box_json(&full)}),
                );
            }
            Err(err) => {
                eprintln!("camscope: {m}: {err}");
                panes.push((
                    format!("{} · n/a", m.title()),
                    unavailable_pane(&photo, &err.to_string()),
                ));
                report.push(serde_json::json!({"method": m, "error": err.to_string()}));
            }
        }
    }
    let caption = format!(
        "{label}  {:.1}% · class {class} · τ {:.2} · {}",
        probability * 100.0,
        args.render.threshold,
        model.architecture
    );
    let grid = with_caption_for(&composite(&panes), &caption, pw);
    save_png(&args.out, &grid)?;
    if args.json {
        let out = serde_json::json!({
            "architecture": model.architecture,
            "class": class,
            "label": label,
            "probability": probability,
            "threshold": super::json_f32(args.render.threshold),
            "panes": report,
            "out": args.out.display().to_string(),
            "size": [grid.width(), grid.height()],
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "wrote {} ({}×{})",
            args.out.display(),
            grid.width(),
            grid.height()
        );
    }
    Ok(ExitCode::SUCCESS)
}
