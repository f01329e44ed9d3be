//! Typed errors of the engine. Every message names the file, tensor or layer it is about.

use std::path::PathBuf;

/// Whether an I/O error happened reading or writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoAction {
    Read,
    Write,
}

impl std::fmt::Display for IoAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IoAction::Read => "cannot read",
            IoAction::Write => "cannot write",
        })
    }
}

/// Everything the engine can refuse, with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The OS message is part of this message and deliberately not a `source`, so that a
    /// chain printed with `{:#}` says it once.
    #[error("{path}: {action}: {error}")]
    Io {
        path: PathBuf,
        action: IoAction,
        error: std::io::Error,
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
        "class {class} is out of range: the model has {} (0..{num_classes})",
        classes(*num_classes)
    )]
    ClassOutOfRange { class: usize, num_classes: usize },

    #[error("{method} is not available: {reason}")]
    MethodNotApplicable { method: String, reason: String },

    #[error("{path}: {reason}")]
    BadImage { path: PathBuf, reason: String },

    #[error("{path}: not a usable .npy file: {reason}")]
    BadNpy { path: PathBuf, reason: String },

    /// The model input (a tensor handed to a model) has the wrong shape or size.
    #[error("input tensor: {0}")]
    BadInput(String),

    #[error("{path}: {reason}")]
    BadLabels { path: PathBuf, reason: String },

    /// A line of a CSV file (eval-loc's boxes.csv).
    #[error("{path}:{line}: {reason}")]
    BadCsv {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    /// A `config.json` / `preprocessor_config.json` next to a checkpoint that cannot be used.
    #[error("{path}: {reason}")]
    BadMetadata { path: PathBuf, reason: String },

    /// Encoding an image for writing failed (before anything was written).
    #[error("{path}: cannot encode {format}: {reason}")]
    Encode {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },

    /// Resampling an image failed (sizes the resizer refuses).
    #[error("cannot resize {from_w}×{from_h} to {to_w}×{to_h}: {reason}")]
    Resize {
        from_w: u32,
        from_h: u32,
        to_w: u32,
        to_h: u32,
        reason: String,
    },

    /// A computation on another thread panicked while holding shared state.
    #[error("a previous computation panicked; open the photo again")]
    Poisoned,

    /// The caller asked a long computation to stop.
    #[error("cancelled")]
    Cancelled,

    /// A backward pass was asked of an op whose forward pass recorded nothing.
    #[error("internal: backward pass without a recorded forward pass")]
    NoTape,

    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

impl Error {
    /// Names the layer a bad input failed in (other errors pass unchanged).
    pub fn in_layer(self, layer: &str) -> Self {
        match self {
            Error::BadInput(reason) => Error::BadInput(format!("at layer {layer}: {reason}")),
            e => e,
        }
    }

    /// An I/O error while reading `path`.
    pub fn read(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            action: IoAction::Read,
            error,
        }
    }

    /// An I/O error while writing `path`.
    pub fn write(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            action: IoAction::Write,
            error,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// "1 class", "1000 classes".
pub fn classes(n: usize) -> String {
    if n == 1 {
        "1 class".to_owned()
    } else {
        format!("{n} classes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_say_read_or_write_and_the_os_message_once() {
        let e = Error::write(
            "/x/out.png",
            std::io::Error::other("No space left on device"),
        );
        let chain = format!("{:#}", anyhow::Error::from(e));
        assert_eq!(chain, "/x/out.png: cannot write: No space left on device");
        let e = Error::read("in.png", std::io::Error::other("Permission denied"));
        assert_eq!(e.to_string(), "in.png: cannot read: Permission denied");
    }
}
