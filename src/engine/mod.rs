//! The engine: models, preprocessing, explanation methods and rendering. It knows nothing of
//! any UI; the CLI and the app are thin layers over it (docs/architecture.md draws the map).

pub mod builtin;
pub mod colormap;
mod colormap_tables;
pub mod error;
pub mod faithfulness;
#[doc(hidden)]
pub mod fuzz;
pub mod input;
pub mod io;
pub mod labels;
pub mod localize;
pub mod maps;
pub mod methods;
pub mod models;
pub mod npy;
pub mod ops;
pub mod preprocess;
pub mod render;
pub mod road;
pub mod text;
pub mod wsol;

pub use colormap::Colormap;
pub use error::{Error, Result};
pub use labels::Labels;
pub use localize::BBox;
pub use maps::Map;
pub use methods::{Explainer, Explanation, Method, Prediction, Produces};
pub use models::{LayerInfo, Model};
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
