//! `camscope explain`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use candle_core::Tensor;

use camscope::engine::labels::label_of;
use camscope::engine::preprocess::load_image;
use camscope::engine::{Array, Error, Explainer, InputMapping, Method, Model, ResizeMode};

use super::ModelArgs;

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
    /// cam, gradcam, guided-backprop or guided-gradcam.
    #[arg(long, default_value = "gradcam", value_parser = parse_method)]
    method: Method,
    /// The layer to explain (see `camscope layers`); default: the last convolutional block.
    #[arg(long, value_name = "NAME")]
    layer: Option<String>,
    /// The class to explain (0-based); default: the top-1 prediction.
    #[arg(long, value_name = "N")]
    class: Option<usize>,
    /// How many predictions to list.
    #[arg(long, value_name = "K", default_value_t = 5)]
    top_k: usize,
    /// Class names, one per line (default: ImageNet's for 1000-class models).
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// How a photo becomes the model input: the model's center crop, or the whole photo
    /// stretched to the input size.
    #[arg(long, value_enum, default_value = "center-crop")]
    resize: ResizeArg,
    /// Write the raw map (before ReLU / upsampling / normalization) as .npy.
    #[arg(long, value_name = "RAW.npy")]
    save_raw: Option<PathBuf>,
    /// Write the final map (input resolution, [0, 1]) as an (H, W) .npy.
    #[arg(long, value_name = "MAP.npy")]
    save_map: Option<PathBuf>,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum ResizeArg {
    CenterCrop,
    Stretch,
}

/// The model input and where it sits in the photo.
pub fn load_input(
    model: &Model,
    image: Option<&PathBuf>,
    npy: Option<&PathBuf>,
    resize: ResizeArg,
) -> anyhow::Result<(Tensor, InputMapping)> {
    if let Some(path) = image {
        let photo = load_image(path)?;
        let pre = match resize {
            ResizeArg::CenterCrop => model.preprocess,
            ResizeArg::Stretch => {
                let (h, _) = model.preprocess.input_size();
                model
                    .preprocess
                    .with_mode(ResizeMode::Stretch { size: h as u32 })
            }
        };
        return Ok(pre.apply(&photo, model.device())?);
    }
    let path = npy.context("either --image or --input-npy is needed")?;
    let a = Array::read_npy(path)?;
    let (h, w) = match a.shape.as_slice() {
        [1, 3, h, w] | [3, h, w] => (*h, *w),
        s => {
            return Err(Error::BadNpy {
                path: path.clone(),
                reason: format!("expected shape (1, 3, H, W) or (3, H, W), found {s:?}"),
            }
            .into());
        }
    };
    if h == 0 || w == 0 {
        return Err(Error::BadNpy {
            path: path.clone(),
            reason: "the image plane is empty".into(),
        }
        .into());
    }
    let t = Tensor::from_vec(a.data, (1, 3, h, w), model.device())?;
    Ok((t, InputMapping::identity(w as u32, h as u32)))
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let model = args.model.load()?;
    let labels = super::labels(args.labels.as_deref(), &model)?;
    let (input, mapping) = load_input(
        &model,
        args.image.as_ref(),
        args.input_npy.as_ref(),
        args.resize,
    )?;
    let explainer = Explainer::new(&model, &input)?;
    let top = explainer.top_k(args.top_k.max(1))?;
    let class = args.class.unwrap_or(top[0].class);
    model.check_class(class)?;
    let e = explainer.explain(args.method, args.layer.as_deref(), class)?;
    let all = explainer.predictions()?;
    let this = all
        .iter()
        .find(|p| p.class == class)
        .expect("every class has a prediction");

    if let Some(p) = &args.save_raw {
        e.raw.write_npy(p)?;
    }
    if let Some(p) = &args.save_map {
        Array::new(vec![e.map.height, e.map.width], e.map.data.clone()).write_npy(p)?;
    }

    let top_k: Vec<_> = top
        .iter()
        .take(args.top_k)
        .map(|p| {
            serde_json::json!({
                "class": p.class,
                "label": label_of(labels.as_ref(), p.class),
                "logit": p.logit,
                "probability": p.probability,
            })
        })
        .collect();
    if args.json {
        let out = serde_json::json!({
            "model": args.model.display(),
            "architecture": model.architecture,
            "image": args.image.as_ref().map(|p| p.display().to_string()),
            "input_shape": input.dims(),
            "mapping": mapping,
            "layer": e.layer,
            "layer_shape": e.layer_shape,
            "method": e.method,
            "class": class,
            "label": label_of(labels.as_ref(), class),
            "logit": this.logit,
            "probability": this.probability,
            "top_k": top_k,
            "raw_shape": e.raw.shape,
            "map_shape": [e.map.height, e.map.width],
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{} ({})", args.model.display(), model.architecture);
        for p in top.iter().take(args.top_k) {
            println!(
                "  {:>5}  {:6.2}%  logit {:8.3}  {}",
                p.class,
                p.probability * 100.0,
                p.logit,
                label_of(labels.as_ref(), p.class)
            );
        }
        println!(
            "{} of class {} ({}) at {} {:?}: map {}×{}",
            e.method.title(),
            class,
            label_of(labels.as_ref(), class),
            e.layer,
            e.layer_shape,
            e.map.width,
            e.map.height
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_method(s: &str) -> Result<Method, String> {
    s.parse()
}
