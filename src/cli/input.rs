//! Input handling shared by every subcommand: the photo or `.npy` to explain, how a photo is
//! fitted to the model, the layer and the class names.

use std::path::{Path, PathBuf};

use camscope::engine::input::{self, Loaded, PhotoFit};
use camscope::engine::{Labels, Model};

/// Where to look and how to read the photo: shared by `explain`, `compare` and `batch`.
#[derive(clap::Args, Clone)]
pub struct ViewArgs {
    /// The layer to explain (see `camscope layers`); default: the last convolutional block.
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

#[derive(clap::ValueEnum, Clone, Copy)]
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

/// Decodes and preprocesses the source for `model`.
pub fn load(model: &Model, source: Source<'_>, resize: ResizeArg) -> anyhow::Result<Loaded> {
    Ok(match source {
        Source::Photo(p) => input::load_photo(model, p, resize.into())?,
        Source::Npy(p) => input::load_npy(model, p)?,
    })
}

/// Class names: `--labels FILE`, else the built-in ImageNet names for 1000-class heads.
pub fn labels(path: Option<&Path>, model: &Model) -> anyhow::Result<Option<Labels>> {
    Ok(match path {
        Some(p) => Some(Labels::from_file(p, model.num_classes())?),
        None => Labels::for_classes(model.num_classes()),
    })
}
