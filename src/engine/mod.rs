//! The engine: models, preprocessing, explanation methods and rendering. It knows nothing of
//! any UI; the CLI and the app are thin layers over it (docs/architecture.md draws the map).
//!
//! Its rooms: `io` (photo or array in, files out), `models` (checkpoints → networks, the
//! built-in one), `ops` (what networks are made of, with input gradients), `methods` (maps
//! from a model), `metrics` (how good a map is: faithfulness, localization), `render` (maps
//! into pictures). `maps` (the 2-D map type) and `error` serve them all.

pub mod error;
#[doc(hidden)]
pub mod fuzz;
pub mod io;
pub mod maps;
pub mod methods;
pub mod metrics;
pub mod models;
pub mod ops;
pub mod render;

pub use error::{Error, Result};
pub use io::labels::Labels;
pub use io::npy::Array;
pub use io::preprocess::{InputMapping, Preprocess, ResizeMode};
pub use maps::Map;
pub use methods::{Explainer, Explanation, Method, Prediction, Produces};
pub use metrics::localize::BBox;
pub use models::builtin;
pub use models::{LayerInfo, Model};
pub use render::colormap::Colormap;
pub use render::{Blend, OverlayStyle};

/// The compute device: a CUDA GPU when built with the `cuda` feature and one is present (and
/// `cpu` is false), else the CPU.
pub fn device(cpu: bool) -> Result<candle_core::Device> {
    if cpu {
        return Ok(candle_core::Device::Cpu);
    }
    Ok(candle_core::Device::cuda_if_available(0)?)
}
