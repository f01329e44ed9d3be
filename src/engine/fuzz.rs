//! The entry points of the fuzz targets (fuzz/, docs/fuzzing.md), here so that `cargo test`
//! replays the committed regression inputs (fuzz/regressions/<target>/) through exactly the
//! code the fuzzers ran. Each takes arbitrary bytes; any error result is fine, a panic, an
//! abort or unbounded memory is a bug.

use std::path::Path;

use candle_core::Device;

use super::io::preprocess::load_image_bytes;
use super::models::Weights;
use super::{Array, Model, Preprocess};

/// A `.safetensors` file → layout inference → model → one forward pass at its input size.
pub fn safetensors_model(data: &[u8]) {
    let Ok(weights) = Weights::from_bytes(data, Path::new("fuzz.safetensors")) else {
        return;
    };
    if let Ok(model) = Model::from_weights(&weights, &Device::Cpu) {
        let _ = model.layers();
    }
}

/// Image bytes → decode (any supported format, EXIF orientation) → ImageNet preprocessing.
pub fn image_preprocess(data: &[u8]) {
    if let Ok(photo) = load_image_bytes(data, Path::new("fuzz.img")) {
        let _ = Preprocess::imagenet().apply(&photo, &Device::Cpu);
    }
}

/// `.npy` bytes → the float32 array reader.
pub fn npy(data: &[u8]) {
    let _ = Array::from_npy_bytes(data);
}

/// eval-loc's `boxes.csv` reader.
pub fn boxes_csv(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = super::metrics::wsol::parse_boxes_csv(text, Path::new("boxes.csv"));
    }
}

/// A fuzz target's entry point.
pub type Target = fn(&[u8]);

/// Every target by name, for the regression test.
pub const TARGETS: [(&str, Target); 4] = [
    ("safetensors_model", safetensors_model),
    ("image_preprocess", image_preprocess),
    ("npy", npy),
    ("boxes_csv", boxes_csv),
];
