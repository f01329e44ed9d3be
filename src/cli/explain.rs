//! `camscope explain`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use camscope::engine::io::labels::label_of;
use camscope::engine::render::{
    Caption, annotated_with_caption, export_warning, photo_boxes, save_png,
};
use camscope::engine::{Array, Explainer, Method};

use super::input::{self, MethodArgs, Source, ViewArgs};
use super::{ModelArgs, RenderArgs, box_json, outln, parse_class, parse_method};

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["image", "input_npy"])))]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// A photo (PNG, JPEG, WebP, BMP, TIFF), preprocessed as the model expects.
    #[arg(long, value_name = "IMG")]
    image: Option<PathBuf>,
    /// An already-preprocessed float32 array of shape (1,3,H,W) or (3,H,W).
    #[arg(long, value_name = "X.npy")]
    input_npy: Option<PathBuf>,
    /// The method (docs/methods.md): cam, gradcam, gradcam++, xgradcam, hirescam,
    /// gradcam-elementwise, layercam, eigencam, eigen-gradcam, scorecam, ablationcam,
    /// guided-backprop or guided-gradcam.
    #[arg(long, default_value = "gradcam", value_parser = parse_method)]
    method: Method,
    #[command(flatten)]
    view: ViewArgs,
    #[command(flatten)]
    how: MethodArgs,
    /// The class to explain (0-based); default: the top-1 prediction.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_class)]
    class: Option<usize>,
    /// How many predictions to list.
    #[arg(long, value_name = "K", default_value_t = 5)]
    top_k: usize,
    /// Write the raw map (before ReLU / upsampling / normalization) as .npy.
    #[arg(long, value_name = "RAW.npy")]
    save_raw: Option<PathBuf>,
    /// Write the final map (input resolution, [0, 1]) as an (H, W) .npy.
    #[arg(long, value_name = "MAP.npy")]
    save_map: Option<PathBuf>,
    /// Write the annotated photo (overlay, box, caption) as PNG at the photo's resolution.
    #[arg(long, value_name = "ANNOTATED.png")]
    out: Option<PathBuf>,
    #[command(flatten)]
    render: RenderArgs,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    input::check_outputs(
        &input::given(&[
            ("--image", args.image.as_deref()),
            ("--input-npy", args.input_npy.as_deref()),
            ("--model", args.model.model.as_deref()),
            ("--labels", args.view.labels.as_deref()),
        ]),
        &input::given(&[
            ("--out", args.out.as_deref()),
            ("--save-raw", args.save_raw.as_deref()),
            ("--save-map", args.save_map.as_deref()),
        ]),
    )?;
    let model = args.model.load()?;
    let style = args.render.style()?;
    let labels = input::labels(args.view.labels.as_deref(), &model)?;
    let source = match (&args.image, &args.input_npy) {
        (Some(p), _) => Source::Photo(p),
        (None, Some(p)) => Source::Npy(p),
        (None, None) => anyhow::bail!("either --image or --input-npy is needed"),
    };
    let loaded = input::load(&model, source, args.view.resize)?;
    let explainer = Explainer::new(&model, &loaded.input)?;
    let all = explainer.predictions()?;
    let class = args.class.unwrap_or(all[0].class);
    model.check_class(class)?;
    let options = args.how.options(!args.json);
    let e = explainer.explain_with(args.method, args.view.layer.as_deref(), class, &options)?;
    let this = all
        .iter()
        .find(|p| p.class == class)
        .context("every class has a prediction")?;
    let label = label_of(labels.as_ref(), class);
    let boxes = photo_boxes(
        &e.localization,
        &loaded.mapping,
        args.render.threshold,
        args.render.all_boxes,
    );

    if let Some(p) = &args.save_raw {
        e.raw.write_npy(p)?;
    }
    if let Some(p) = &args.save_map {
        Array::new(vec![e.map.height, e.map.width], e.map.data.clone()).write_npy(p)?;
    }
    if let Some(p) = &args.out {
        let caption = Caption {
            label: &label,
            probability: this.probability,
            method: e.method,
            layer: &e.layer,
            threshold: args.render.threshold,
        };
        let img = annotated_with_caption(
            &loaded.photo,
            &loaded.mapping,
            &e,
            &style,
            None,
            &boxes,
            &caption,
        );
        save_png(p, &img)?;
    }

    let mut warnings = loaded.warnings.clone();
    if args.out.is_some() {
        warnings.extend(export_warning(loaded.photo.width(), loaded.photo.height()));
    }
    warnings.extend(explainer.warnings()?);
    warnings.extend(e.warning());
    input::warn(&warnings);
    let top: Vec<_> = all.iter().take(args.top_k).collect();
    if args.json {
        let top_k: Vec<_> = top
            .iter()
            .map(|p| {
                serde_json::json!({
                    "class": p.class,
                    "label": label_of(labels.as_ref(), p.class),
                    "logit": p.logit,
                    "probability": p.probability,
                })
            })
            .collect();
        let out = serde_json::json!({
            "model": args.model.display(),
            "architecture": model.architecture,
            "preprocess": model.preprocess_info(),
            "image": args.image.as_ref().map(|p| p.display().to_string()),
            "input_shape": loaded.input.dims(),
            "mapping": loaded.mapping,
            "layer": e.layer,
            "layer_shape": e.layer_shape,
            "method": e.method,
            "class": class,
            "label": label,
            "logit": this.logit,
            "probability": this.probability,
            "top_k": top_k,
            "threshold": super::json_f32(args.render.threshold),
            "boxes": box_json(&boxes),
            "raw_shape": e.raw.shape,
            "map_shape": [e.map.height, e.map.width],
            "out": args.out.as_ref().map(|p| p.display().to_string()),
            "warnings": warnings,
        });
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        outln!("{} ({})", args.model.display(), model.architecture);
        for p in &top {
            outln!(
                "  {:>5}  {:6.2}%  logit {:8.3}  {}",
                p.class,
                p.probability * 100.0,
                p.logit,
                label_of(labels.as_ref(), p.class)
            );
        }
        outln!(
            "{} of class {class} ({label}) at {} {:?}; box at τ {}: {:?}",
            e.method.title(),
            e.layer,
            e.layer_shape,
            args.render.threshold,
            box_json(&boxes).first()
        );
        if let Some(p) = &args.out {
            outln!("wrote {}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
