//! Typed errors of the engine. Every message names the file, tensor or layer it is about.

use std::path::PathBuf;

/// Everything the engine can refuse, with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: not a valid .safetensors file: {reason}")]
    BadSafetensors { path: PathBuf, reason: String },

    #[error("{path}: missing tensor {name}")]
    MissingTensor { path: PathBuf, name: String },

    #[error("{path}: {name}: expected {expected:?}, found {found:?}")]
    ShapeMismatch {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    #[error("{path}: {name}: stored as {dtype}, expected a float tensor (f32, f16, bf16 or f64)")]
    BadDtype {
        path: PathBuf,
        name: String,
        dtype: String,
    },

    #[error("{path}: unknown model layout: {reason}")]
    UnknownLayout { path: PathBuf, reason: String },

    #[error("unknown layer {name:?}; available layers: {available}")]
    UnknownLayer { name: String, available: String },

    #[error(
        "class {class} is out of range: the model has {num_classes} classes (0..{num_classes})"
    )]
    ClassOutOfRange { class: usize, num_classes: usize },

    #[error("{method} is not available: {reason}")]
    MethodNotApplicable { method: String, reason: String },

    #[error("{path}: {reason}")]
    BadImage { path: PathBuf, reason: String },

    #[error("{path}: not a usable .npy file: {reason}")]
    BadNpy { path: PathBuf, reason: String },

    #[error("input tensor: {0}")]
    BadInput(String),

    #[error("{path}: {reason}")]
    BadLabels { path: PathBuf, reason: String },

    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
