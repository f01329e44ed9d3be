//! PNG files, written atomically.

use std::path::Path;

use image::RgbImage;

use crate::engine::error::{Error, Result};
use crate::engine::io::files::write_atomic;

/// Encodes `img` as PNG and writes it atomically.
pub fn save_png(path: &Path, img: &RgbImage) -> Result<()> {
    use image::ImageEncoder as _;
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut bytes,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| Error::Encode {
        path: path.to_owned(),
        format: "PNG",
        reason: e.to_string(),
    })?;
    write_atomic(path, |w| w.write_all(&bytes))
}
