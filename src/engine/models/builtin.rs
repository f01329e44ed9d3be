//! The built-in default model, embedded in the binary so that camscope needs no download.

use std::path::Path;

use candle_core::Device;

use crate::engine::error::Result;
use crate::engine::models::{Model, Weights};

/// What `--model` defaults to; shown in messages and JSON.
pub const NAME: &str = "builtin:efficientnet_lite0";

const BYTES: &[u8] = include_bytes!("../../../assets/efficientnet_lite0.safetensors");

/// The sample photo the app opens on first run (scikit-image's chelsea.png, CC0).
pub const SAMPLE_IMAGE_NAME: &str = "builtin:chelsea.png";
pub const SAMPLE_IMAGE: &[u8] = include_bytes!("../../../assets/chelsea.png");

/// EfficientNet-Lite0 with its ImageNet weights (assets/README.md says where they come from).
pub fn model(device: &Device) -> Result<Model> {
    let w = Weights::from_bytes(BYTES, Path::new(NAME))?;
    Model::from_weights(&w, device)
}
