//! From a photo (or an already preprocessed array) to the model input: the one step that every
//! CLI subcommand and the app share.

use std::path::Path;

use candle_core::{Device, Tensor};
use image::{Rgb, RgbImage};

use crate::engine::error::{Error, Result};
use crate::engine::io::npy::Array;
use crate::engine::io::preprocess::{
    InputMapping, Preprocess, ResizeMode, image_warnings, load_image,
};

/// How a photo becomes the model input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PhotoFit {
    /// The model's own preprocessing: resize the shorter side, then take the centre crop.
    #[default]
    CenterCrop,
    /// The whole photo stretched to the input size (as wsolevaluation does).
    Stretch,
}

/// A model input with the picture it came from and the way back to it.
pub struct Loaded {
    pub input: Tensor,
    pub mapping: InputMapping,
    /// The decoded photo, or the input itself turned back into a picture.
    pub photo: RgbImage,
    /// Problems that did not stop decoding (a truncated JPEG).
    pub warnings: Vec<String>,
}

/// The preprocessing a model whose own is `pre` gets for `fit`.
///
/// The functions here take a model's preprocessing and device rather than the model, so that
/// `io` never imports `models` (which reads its preprocessing through `io`).
pub fn preprocess_for(pre: Preprocess, fit: PhotoFit) -> Preprocess {
    match fit {
        PhotoFit::CenterCrop => pre,
        PhotoFit::Stretch => {
            let (h, _) = pre.input_size();
            pre.with_mode(ResizeMode::Stretch { size: h as u32 })
        }
    }
}

/// Preprocesses a decoded photo for a model with preprocessing `pre` on `device`.
pub fn from_photo(
    pre: Preprocess,
    device: &Device,
    photo: RgbImage,
    fit: PhotoFit,
) -> Result<Loaded> {
    let (input, mapping) = preprocess_for(pre, fit).apply(&photo, device)?;
    Ok(Loaded {
        input,
        mapping,
        photo,
        warnings: Vec::new(),
    })
}

/// Decodes and preprocesses a photo file (see [`from_photo`]).
pub fn load_photo(pre: Preprocess, device: &Device, path: &Path, fit: PhotoFit) -> Result<Loaded> {
    let photo = load_image(path)?;
    let mut loaded = from_photo(pre, device, photo, fit)?;
    loaded.warnings = image_warnings(path);
    Ok(loaded)
}

/// Reads a preprocessed `(1, 3, H, W)` or `(3, H, W)` float32 `.npy` input.
/// `pre` turns it back into a picture.
pub fn load_npy(pre: &Preprocess, device: &Device, path: &Path) -> Result<Loaded> {
    let a = Array::read_npy(path)?;
    let (h, w) = match a.shape.as_slice() {
        [1, 3, h, w] | [3, h, w] if *h > 0 && *w > 0 => (*h, *w),
        s => {
            return Err(Error::BadNpy {
                path: path.to_owned(),
                reason: format!("expected shape (1, 3, H, W) or (3, H, W), found {s:?}"),
            });
        }
    };
    let photo = input_picture(&a.data, w, h, pre);
    let input = Tensor::from_vec(a.data, (1, 3, h, w), device)?;
    Ok(Loaded {
        input,
        mapping: InputMapping::identity(w as u32, h as u32),
        photo,
        warnings: Vec::new(),
    })
}

/// The model input turned back into a picture (for inputs given as tensors).
pub fn input_picture(data: &[f32], w: usize, h: usize, pre: &Preprocess) -> RgbImage {
    let plane = w * h;
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let i = y as usize * w + x as usize;
        Rgb(std::array::from_fn(|c| {
            let v = data[c * plane + i] * pre.std[c] + pre.mean[c];
            (v * 255.0).round().clamp(0.0, 255.0) as u8
        }))
    })
}
