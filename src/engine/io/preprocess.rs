//! Decoding photos and turning them into model input, keeping the way back to the photo.
//!
//! The ImageNet convention is torchvision's `Resize(256)` (shorter side, antialiased bilinear,
//! as PIL does it) → `CenterCrop(224)` → `ToTensor` → `Normalize(mean, std)`. The resize is
//! `fast_image_resize`'s bilinear convolution, which is PIL's algorithm; it agrees with PIL to
//! ±1 grey level (tests/fixtures/preprocess_*).

use std::path::Path;

use candle_core::{Device, Tensor};
use fast_image_resize as fr;
use image::{ImageDecoder as _, ImageReader, RgbImage};

use crate::engine::error::{Error, Result};

/// File extensions of the image formats camscope decodes.
pub const IMAGE_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff"];

/// The largest photo side we decode, the most pixels, and the most memory a decoder may ask
/// for: together they keep any photo's peak memory under 1 GiB (a 120-megapixel RGB photo is
/// 360 MB decoded; a 16-bit RGBA one is limited by the bytes, to 80 megapixels).
pub const MAX_IMAGE_SIDE: u32 = 30_000;
pub const MAX_PIXELS: u64 = 120_000_000;
pub const MAX_DECODE_BYTES: u64 = 640 << 20;

/// How a photo becomes a square model input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResizeMode {
    /// Resize the shorter side to `resize`, then take the central `crop × crop`.
    CenterCrop { resize: u32, crop: u32 },
    /// Resize the whole photo to `size × size`, ignoring its aspect ratio.
    Stretch { size: u32 },
}

/// The resampling filter of the resize step, as PIL (and so torchvision / timm on PIL images)
/// implements it: antialiased when shrinking.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interpolation {
    #[default]
    Bilinear,
    /// PIL's `BICUBIC` (Catmull-Rom, a = −0.5).
    Bicubic,
    Nearest,
}

impl Interpolation {
    fn algorithm(self) -> fr::ResizeAlg {
        match self {
            Self::Bilinear => fr::ResizeAlg::Convolution(fr::FilterType::Bilinear),
            Self::Bicubic => fr::ResizeAlg::Convolution(fr::FilterType::CatmullRom),
            Self::Nearest => fr::ResizeAlg::Nearest,
        }
    }
}

/// Where a center crop starts when the margin is odd: the libraries disagree by one pixel,
/// which moves a textured photo's input by up to dozens of grey levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CropOffset {
    /// torchvision's (and timm's) `round(margin / 2)`, half to even.
    #[default]
    Round,
    /// transformers' image processors: `margin // 2`.
    Floor,
}

/// A model's input convention: geometry, then `(pixel / 255 − mean) / std` per channel.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Preprocess {
    pub mode: ResizeMode,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub interpolation: Interpolation,
    pub crop_offset: CropOffset,
}

impl Preprocess {
    /// torchvision's ImageNet preprocessing.
    pub fn imagenet() -> Self {
        Self {
            mode: ResizeMode::CenterCrop {
                resize: 256,
                crop: 224,
            },
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            interpolation: Interpolation::Bilinear,
            crop_offset: CropOffset::Round,
        }
    }

    /// A torchvision model's documented eval transform: resize the short side to `resize`,
    /// centre-crop `crop`, ImageNet mean and std.
    pub fn torchvision(resize: u32, crop: u32, interpolation: Interpolation) -> Self {
        Self {
            mode: ResizeMode::CenterCrop { resize, crop },
            interpolation,
            ..Self::imagenet()
        }
    }

    /// One line for people: `resize 256 → center crop 224, bilinear, mean […], std […]`.
    pub fn describe(&self) -> String {
        let geometry = match self.mode {
            ResizeMode::CenterCrop { resize, crop } => {
                format!("resize {resize} → center crop {crop}")
            }
            ResizeMode::Stretch { size } => format!("stretch to {size}×{size}"),
        };
        let f = |v: [f32; 3]| format!("[{}, {}, {}]", v[0], v[1], v[2]);
        format!(
            "{geometry}, {}, mean {}, std {}",
            serde_json::to_value(self.interpolation)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            f(self.mean),
            f(self.std)
        )
    }

    /// The same normalization with another geometry.
    pub fn with_mode(self, mode: ResizeMode) -> Self {
        Self { mode, ..self }
    }

    /// `(height, width)` of the model input.
    pub fn input_size(&self) -> (usize, usize) {
        match self.mode {
            ResizeMode::CenterCrop { crop, .. } => (crop as usize, crop as usize),
            ResizeMode::Stretch { size } => (size as usize, size as usize),
        }
    }

    /// Resizes and crops `photo`, returning the `(1, 3, H, W)` input and its mapping.
    ///
    /// Only the crop is resampled: each input pixel is computed from the photo exactly as in
    /// a resize of the whole photo followed by the crop (the filter reads the photo's pixels
    /// around the crop box too, as PIL does), so a 1 × 30000 photo never becomes a
    /// 256 × 7,680,000 intermediate.
    pub fn apply(&self, photo: &RgbImage, device: &Device) -> Result<(Tensor, InputMapping)> {
        let (ow, oh) = photo.dimensions();
        let mapping = match self.mode {
            ResizeMode::CenterCrop { resize, crop } => {
                let (rw, rh) = shorter_side_size(ow, oh, resize);
                let (cw, ch) = (crop.min(rw), crop.min(rh));
                let offset = |margin: u32| match self.crop_offset {
                    CropOffset::Round => round_half_even(margin as f64 / 2.0),
                    CropOffset::Floor => margin / 2,
                };
                InputMapping {
                    original: (ow, oh),
                    resized: (rw, rh),
                    crop_origin: (offset(rw - cw), offset(rh - ch)),
                    input: (cw, ch),
                }
            }
            ResizeMode::Stretch { size } => InputMapping {
                original: (ow, oh),
                resized: (size, size),
                crop_origin: (0, 0),
                input: (size, size),
            },
        };
        let cropped = resize_crop(photo, &mapping, self.interpolation)?;
        let (iw, ih) = (mapping.input.0 as usize, mapping.input.1 as usize);
        let raw = cropped.as_raw();
        let mut data = vec![0f32; 3 * ih * iw];
        for c in 0..3 {
            let (m, s) = (self.mean[c], self.std[c]);
            for y in 0..ih {
                for x in 0..iw {
                    let p = raw[(y * iw + x) * 3 + c] as f32 / 255.0;
                    data[(c * ih + y) * iw + x] = (p - m) / s;
                }
            }
        }
        let t = Tensor::from_vec(data, (1, 3, ih, iw), device)?;
        Ok((t, mapping))
    }
}

/// torchvision's `Resize(size)` output size for an int `size`: the shorter side becomes `size`,
/// the longer `int(size * long / short)` (truncated, as Python's `int`).
pub fn shorter_side_size(w: u32, h: u32, size: u32) -> (u32, u32) {
    let (short, long) = if w <= h { (w, h) } else { (h, w) };
    let new_long = ((size as f64) * (long as f64) / (short as f64)) as u32;
    if w <= h {
        (size, new_long.max(1))
    } else {
        (new_long.max(1), size)
    }
}

/// Python's `round()` (half to even), as torchvision's `center_crop` uses it.
fn round_half_even(v: f64) -> u32 {
    let r = v.round();
    let r = if (v - v.trunc()).abs() == 0.5 && (r as i64) % 2 != 0 {
        r - v.signum()
    } else {
        r
    };
    r.max(0.0) as u32
}

/// The model-input part of `photo` under `m`: the photo resized to `m.resized` and cropped
/// to `m.input` at `m.crop_origin`, computing only the cropped pixels.
fn resize_crop(photo: &RgbImage, m: &InputMapping, filter: Interpolation) -> Result<RgbImage> {
    let sx = photo.width() as f64 / m.resized.0 as f64;
    let sy = photo.height() as f64 / m.resized.1 as f64;
    let (w, h) = m.input;
    let crop = [
        m.crop_origin.0 as f64 * sx,
        m.crop_origin.1 as f64 * sy,
        w as f64 * sx,
        h as f64 * sy,
    ];
    resample(photo, w, h, filter, Some(crop))
}

/// Antialiased bilinear resize (PIL's `BILINEAR` for downscaling).
pub fn resize_rgb(img: &RgbImage, w: u32, h: u32) -> Result<RgbImage> {
    resize_with(img, w, h, Interpolation::Bilinear)
}

/// Resize with PIL's filter `filter` (antialiased when shrinking).
pub fn resize_with(img: &RgbImage, w: u32, h: u32, filter: Interpolation) -> Result<RgbImage> {
    if img.dimensions() == (w, h) {
        return Ok(img.clone());
    }
    resample(img, w, h, filter, None)
}

/// `img` (or its `[left, top, width, height]` box, in source pixels, which the filter may read
/// around) resampled to `w × h` by fast_image_resize, PIL's algorithm.
fn resample(
    img: &RgbImage,
    w: u32,
    h: u32,
    filter: Interpolation,
    crop: Option<[f64; 4]>,
) -> Result<RgbImage> {
    let fail = |reason: String| Error::Resize {
        from_w: img.width(),
        from_h: img.height(),
        to_w: w,
        to_h: h,
        reason,
    };
    let src =
        fr::images::ImageRef::new(img.width(), img.height(), img.as_raw(), fr::PixelType::U8x3)
            .map_err(|e| fail(e.to_string()))?;
    let mut dst = fr::images::Image::new(w, h, fr::PixelType::U8x3);
    let mut opts = fr::ResizeOptions::new().resize_alg(filter.algorithm());
    if let Some([left, top, width, height]) = crop {
        opts = opts.crop(left, top, width, height);
    }
    fr::Resizer::new()
        .resize(&src, &mut dst, &opts)
        .map_err(|e| fail(e.to_string()))?;
    RgbImage::from_raw(w, h, dst.into_vec()).ok_or_else(|| fail("buffer size".into()))
}

/// Where the model input sits in the original photo. Coordinates are continuous, in pixel
/// edges: input pixel `x` spans `[x, x + 1)`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct InputMapping {
    /// `(width, height)` of the decoded, upright photo.
    pub original: (u32, u32),
    /// Size after resizing, before cropping.
    pub resized: (u32, u32),
    /// Top-left of the crop in the resized image.
    pub crop_origin: (u32, u32),
    /// `(width, height)` of the model input.
    pub input: (u32, u32),
}

impl InputMapping {
    /// The identity mapping for an input given directly as a tensor.
    pub fn identity(w: u32, h: u32) -> Self {
        Self {
            original: (w, h),
            resized: (w, h),
            crop_origin: (0, 0),
            input: (w, h),
        }
    }

    /// The same geometry for a copy of the photo scaled to `(w, h)` (e.g. a preview).
    pub fn for_photo_size(&self, w: u32, h: u32) -> Self {
        Self {
            original: (w, h),
            ..*self
        }
    }

    /// A point in model-input coordinates, in original-photo coordinates.
    pub fn original_from_input(&self, x: f32, y: f32) -> (f32, f32) {
        let sx = self.original.0 as f32 / self.resized.0 as f32;
        let sy = self.original.1 as f32 / self.resized.1 as f32;
        (
            (x + self.crop_origin.0 as f32) * sx,
            (y + self.crop_origin.1 as f32) * sy,
        )
    }

    /// A point in original-photo coordinates, in model-input coordinates (may fall outside).
    pub fn input_from_original(&self, x: f32, y: f32) -> (f32, f32) {
        let sx = self.resized.0 as f32 / self.original.0 as f32;
        let sy = self.resized.1 as f32 / self.original.1 as f32;
        (
            x * sx - self.crop_origin.0 as f32,
            y * sy - self.crop_origin.1 as f32,
        )
    }
}

/// Decodes PNG, JPEG (with its EXIF orientation applied), WebP, BMP or TIFF into 8-bit RGB.
/// Grey, alpha and 16-bit images are converted; alpha is dropped, as PIL's `convert("RGB")`.
pub fn load_image(path: &Path) -> Result<RgbImage> {
    let reader = ImageReader::open(path).map_err(|e| Error::read(path, e))?;
    decode(reader, path)
}

/// How far from its end a JPEG's end-of-image marker may sit (camera makers append trailers).
const JPEG_TAIL: u64 = 1 << 20;

/// Warnings about a photo file that decoded, but perhaps not whole: a JPEG with no
/// end-of-image marker near its end was cut short, and the decoder filled in the missing part
/// (grey or smeared rows), which changes the maps and boxes there.
pub fn image_warnings(path: &Path) -> Vec<String> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let tail = (|| -> std::io::Result<Option<Vec<u8>>> {
        let mut f = std::fs::File::open(path)?;
        let mut head = [0u8; 2];
        if f.read(&mut head)? < 2 || head != [0xFF, 0xD8] {
            return Ok(None);
        }
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(JPEG_TAIL)))?;
        let mut tail = Vec::new();
        f.read_to_end(&mut tail)?;
        Ok(Some(tail))
    })();
    match tail {
        Ok(Some(tail)) if !has_jpeg_end(&tail) => vec![truncated_jpeg(path)],
        _ => Vec::new(),
    }
}

/// [`image_warnings`] for an image held in memory.
pub fn image_bytes_warnings(bytes: &[u8], name: &Path) -> Vec<String> {
    let start = bytes.len().saturating_sub(JPEG_TAIL as usize);
    if bytes.starts_with(&[0xFF, 0xD8]) && !has_jpeg_end(&bytes[start..]) {
        vec![truncated_jpeg(name)]
    } else {
        Vec::new()
    }
}

fn has_jpeg_end(tail: &[u8]) -> bool {
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

fn truncated_jpeg(path: &Path) -> String {
    format!(
        "{}: the JPEG ends early (no end-of-image marker): the decoder filled in the missing \
         part, so the map and box may be wrong there",
        path.display()
    )
}

/// [`load_image`] for an image held in memory; `name` is only used in messages.
pub fn load_image_bytes(bytes: &[u8], name: &Path) -> Result<RgbImage> {
    decode(ImageReader::new(std::io::Cursor::new(bytes)), name)
}

fn decode<R: std::io::BufRead + std::io::Seek>(
    reader: ImageReader<R>,
    path: &Path,
) -> Result<RgbImage> {
    let bad = |reason: String| Error::BadImage {
        path: path.to_owned(),
        reason,
    };
    let mut reader = reader
        .with_guessed_format()
        .map_err(|e| bad(format!("cannot read: {e}")))?;
    if reader.format().is_none() {
        return Err(bad(
            "not a supported image (PNG, JPEG, WebP, BMP or TIFF expected)".to_owned(),
        ));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| bad(format!("cannot decode: {e}")))?;
    let (w, h) = decoder.dimensions();
    if w as u64 * h as u64 > MAX_PIXELS {
        return Err(bad(format!(
            "{w}×{h} is {:.0} megapixels; camscope opens photos of up to {} megapixels",
            w as f64 * h as f64 / 1e6,
            MAX_PIXELS / 1_000_000
        )));
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = image::DynamicImage::from_decoder(decoder)
        .map_err(|e| bad(format!("cannot decode: {e}")))?;
    img.apply_orientation(orientation);
    if img.width() == 0 || img.height() == 0 {
        return Err(bad("the image is empty".to_owned()));
    }
    Ok(img.into_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_size_follows_torchvision() {
        // torchvision: int(256 * 451 / 300) = 384
        assert_eq!(shorter_side_size(451, 300, 256), (384, 256));
        assert_eq!(shorter_side_size(300, 451, 256), (256, 384));
        assert_eq!(shorter_side_size(512, 512, 256), (256, 256));
    }

    #[test]
    fn crop_rounds_half_to_even_like_python() {
        assert_eq!(round_half_even(16.5), 16);
        assert_eq!(round_half_even(17.5), 18);
        assert_eq!(round_half_even(80.0), 80);
        assert_eq!(round_half_even(0.5), 0);
    }

    #[test]
    fn mapping_round_trips() {
        let m = InputMapping {
            original: (1000, 600),
            resized: (426, 256),
            crop_origin: (101, 16),
            input: (224, 224),
        };
        let (x, y) = m.original_from_input(10.0, 20.0);
        let (u, v) = m.input_from_original(x, y);
        assert!((u - 10.0).abs() < 1e-3 && (v - 20.0).abs() < 1e-3);
    }
}
