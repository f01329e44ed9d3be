//! Input handling shared by every subcommand: the photo or `.npy` to explain, how a photo is
//! fitted to the model, the layer and the class names.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use camscope::engine::io::input::{self, Loaded, PhotoFit};
use camscope::engine::methods::{DEFAULT_BATCH_SIZE, Fuse, Options, Progress};
pub use camscope::engine::metrics::dataset::{file_name, image_files};
use camscope::engine::{Labels, Model};

/// Where to look and how to read the photo: shared by `explain`, `compare` and `batch`.
#[derive(clap::Args, Clone)]
pub struct ViewArgs {
    /// The layer to explain (see `camscope layers`); default: the last convolutional block.
    /// Several, comma-separated (`layer4,layer3`), fuse their maps (see --fuse).
    #[arg(long, value_name = "NAME")]
    pub layer: Option<String>,
    /// Class names, one per line (default: ImageNet's for 1000-class models).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// How a photo becomes the model input: the model's center crop, or the whole photo
    /// stretched to the input size.
    #[arg(long, value_enum, default_value = "center-crop")]
    pub resize: ResizeArg,
}

#[derive(clap::ValueEnum, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResizeArg {
    CenterCrop,
    Stretch,
}

impl From<ResizeArg> for PhotoFit {
    fn from(r: ResizeArg) -> Self {
        match r {
            ResizeArg::CenterCrop => PhotoFit::CenterCrop,
            ResizeArg::Stretch => PhotoFit::Stretch,
        }
    }
}

/// What a subcommand explains.
pub enum Source<'a> {
    Photo(&'a Path),
    /// An already preprocessed `(1, 3, H, W)` float32 array.
    Npy(&'a Path),
}

/// Prints warnings as `camscope: warning: …` on stderr.
pub fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("camscope: warning: {w}");
    }
}

/// Decodes and preprocesses the source for `model`.
pub fn load(model: &Model, source: Source<'_>, resize: ResizeArg) -> anyhow::Result<Loaded> {
    Ok(match source {
        Source::Photo(p) => input::load_photo(model.preprocess, model.device(), p, resize.into())?,
        Source::Npy(p) => input::load_npy(&model.preprocess, model.device(), p)?,
    })
}

/// Class names: `--labels FILE`, else the checkpoint's metadata, else the built-in ImageNet
/// names for 1000-class heads.
pub fn labels(path: Option<&Path>, model: &Model) -> anyhow::Result<Option<Labels>> {
    Ok(match path {
        Some(p) => Some(Labels::from_file(p, model.num_classes())?),
        None => Labels::for_model(model),
    })
}

/// How maps are computed beyond method, layer and class: shared by `explain`, `compare`,
/// `batch`, `eval-loc` and `bench`.
#[derive(clap::Args, Clone)]
pub struct MethodArgs {
    /// Replace the sum over channels by their first principal component (pytorch-grad-cam's
    /// eigen_smooth).
    #[arg(long)]
    pub eigen_smooth: bool,
    /// Average the maps of the input flipped and scaled by 0.9 / 1.0 / 1.1 (six forward
    /// passes; pytorch-grad-cam's aug_smooth).
    #[arg(long)]
    pub aug_smooth: bool,
    /// How the maps of several layers (`--layer layer4,layer3`) are combined: their mean
    /// (pytorch-grad-cam) or maximum (torchcam).
    #[arg(long, value_enum, default_value = "mean")]
    pub fuse: FuseArg,
    /// Score-CAM and Ablation-CAM: masked inputs or activations per forward pass.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BATCH_SIZE as u64,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub batch_size: u64,
    /// Score-CAM and Ablation-CAM: evaluate only the N channels with the largest mean
    /// activation, the others weigh 0 (an approximation; default: every channel, exact).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub top_channels: Option<u64>,
}

#[derive(clap::ValueEnum, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FuseArg {
    Mean,
    Max,
}

impl MethodArgs {
    /// The options as a run's log records them (docs/scale.md).
    pub fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "eigen_smooth": self.eigen_smooth,
            "aug_smooth": self.aug_smooth,
            "fuse": self.fuse,
            "batch_size": self.batch_size,
            "top_channels": self.top_channels,
        })
    }

    /// The engine's options; `show_progress` prints the slow methods' progress on a terminal.
    pub fn options(&self, show_progress: bool) -> Options {
        let progress: Option<Arc<Progress>> = (show_progress && std::io::stderr().is_terminal())
            .then(|| -> Arc<Progress> {
                Arc::new(|done, total| {
                    eprint!("\r  {done}/{total} channels");
                    if done == total {
                        eprintln!();
                    }
                })
            });
        Options {
            eigen_smooth: self.eigen_smooth,
            aug_smooth: self.aug_smooth,
            fuse: match self.fuse {
                FuseArg::Mean => Fuse::Mean,
                FuseArg::Max => Fuse::Max,
            },
            batch_size: self.batch_size as usize,
            top_channels: self.top_channels.map(|n| n as usize),
            progress,
            cancel: None,
        }
    }
}

/// The path as the file system resolves it (links, `..`), for paths that may not exist yet:
/// the resolved folder and the file name.
pub fn resolved(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match (parent.canonicalize(), p.file_name()) {
        (Ok(d), Some(name)) => d.join(name),
        _ => p.to_owned(),
    }
}

/// The paths of the flags that were given.
pub fn given<'a>(flags: &[(&'static str, Option<&'a Path>)]) -> Vec<(&'static str, &'a Path)> {
    flags
        .iter()
        .filter_map(|&(flag, p)| p.map(|p| (flag, p)))
        .collect()
}

/// Refuses when an output names one of the command's inputs, or two outputs name one file:
/// nothing a command reads is replaced by what it writes.
pub fn check_outputs(inputs: &[(&str, &Path)], outputs: &[(&str, &Path)]) -> anyhow::Result<()> {
    for (i, (flag, out)) in outputs.iter().enumerate() {
        let o = resolved(out);
        if let Some((input_flag, _)) = inputs.iter().find(|(_, p)| resolved(p) == o) {
            anyhow::bail!(
                "{}: {flag} names the same file as {input_flag}; refusing to write over an input",
                out.display()
            );
        }
        if let Some((other, _)) = outputs[..i].iter().find(|(_, p)| resolved(p) == o) {
            anyhow::bail!(
                "{}: {other} and {flag} name the same file; give each output its own path",
                out.display()
            );
        }
    }
    Ok(())
}

/// Adds `deletion_auc` and `insertion_auc` of `map` for `class` to the record `v` (blur
/// baseline, `steps` steps), as eval-loc and report record them (docs/metrics.md).
pub fn add_auc(
    v: &mut serde_json::Value,
    model: &Model,
    loaded: &Loaded,
    map: &camscope::engine::Map,
    class: usize,
    steps: u64,
    batch_size: u64,
) -> anyhow::Result<()> {
    use camscope::engine::metrics::faithfulness::{Baseline, CurveSettings, deletion_insertion};
    let s = CurveSettings {
        class,
        steps: steps as usize,
        baseline: Baseline::Blur,
        batch_size: batch_size as usize,
        check: &|| Ok(()),
        progress: None,
    };
    let (del, ins) = deletion_insertion(model, &loaded.input, map, &s)?;
    v["deletion_auc"] = serde_json::json!(del.auc);
    v["insertion_auc"] = serde_json::json!(ins.auc);
    Ok(())
}
