//! The engine: models, preprocessing and explanation methods. It knows nothing of any UI.

pub mod annotate;
pub mod builtin;
pub mod colormap;
mod colormap_tables;
mod efficientnet;
pub mod error;
pub mod io;
pub mod labels;
mod layers;
pub mod localize;
pub mod maps;
pub mod methods;
pub mod model;
pub mod npy;
pub mod ops;
pub mod preprocess;
pub mod render;
mod resnet;
pub mod text;
mod vgg;
pub mod weights;
pub mod wsol;

pub use colormap::Colormap;
pub use error::{Error, Result};
pub use labels::Labels;
pub use localize::BBox;
pub use maps::Map;
pub use methods::{Explainer, Explanation, Method, Prediction};
pub use model::{LayerInfo, Model};
pub use npy::Array;
pub use preprocess::{InputMapping, Preprocess, ResizeMode};
pub use render::{Blend, OverlayStyle};

/// The compute device: a CUDA GPU when built with the `cuda` feature and one is present (and
/// `cpu` is false), else the CPU.
pub fn device(cpu: bool) -> Result<candle_core::Device> {
    if cpu {
        return Ok(candle_core::Device::Cpu);
    }
    Ok(candle_core::Device::cuda_if_available(0)?)
}
