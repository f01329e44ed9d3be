//! Maps into pictures: heat overlays on the original photo, boxes, captions, composites, PNG.

use std::path::Path;

use image::{Rgb, RgbImage};

use super::colormap::Colormap;
use super::error::{Error, Result};
use super::localize::BBox;
use super::maps::Map;
use super::preprocess::InputMapping;
use super::text::{draw_text, fit};

/// How heat is laid over the photo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Blend {
    /// `(1 − w)·heat + w·image`, then divided by its maximum: pytorch-grad-cam's
    /// `show_cam_on_image`.
    Mix,
    /// Heat with opacity `α = min(1, 2·(1 − w)·v)`: transparent where the map is low
    /// (α = v at the default w = 0.5).
    AlphaByValue,
}

/// Overlay settings.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OverlayStyle {
    pub colormap: Colormap,
    /// The image's weight w in [0, 1].
    pub image_weight: f32,
    pub blend: Blend,
    /// How bright the photo stays outside the model's crop.
    pub outside_dim: f32,
}

impl Default for OverlayStyle {
    fn default() -> Self {
        Self {
            colormap: Colormap::Jet,
            image_weight: 0.5,
            blend: Blend::Mix,
            outside_dim: 0.35,
        }
    }
}

/// pytorch-grad-cam's `show_cam_on_image(img / 255, mask, use_rgb=True)`: the photo and the
/// map have the same size.
pub fn show_cam_on_image(img: &RgbImage, map: &Map, cmap: Colormap, image_weight: f32) -> RgbImage {
    assert_eq!(
        (img.width() as usize, img.height() as usize),
        (map.width, map.height),
        "image and map sizes"
    );
    let mix: Vec<[f32; 3]> = img
        .pixels()
        .zip(&map.data)
        .map(|(p, &v)| mix_pixel(p.0, cmap.color(v), image_weight))
        .collect();
    let max = mix.iter().flatten().copied().fold(0f32, f32::max);
    let mut out = RgbImage::new(img.width(), img.height());
    for (o, m) in out.pixels_mut().zip(&mix) {
        *o = Rgb(m.map(|c| to_u8(c / max)));
    }
    out
}

fn mix_pixel(img: [u8; 3], heat: [u8; 3], w: f32) -> [f32; 3] {
    std::array::from_fn(|i| (1.0 - w) * (heat[i] as f32 / 255.0) + w * (img[i] as f32 / 255.0))
}

/// NumPy's `np.uint8(255 * v)` for v in [0, 1].
fn to_u8(v: f32) -> u8 {
    (255.0 * v).clamp(0.0, 255.0) as u8
}

/// The map (at model-input resolution, in [0, 1]) drawn over the original photo: each photo
/// pixel samples the map bilinearly through the preprocessing's mapping; pixels outside the
/// crop are dimmed.
pub fn overlay_on_photo(
    photo: &RgbImage,
    map: &Map,
    mapping: &InputMapping,
    style: &OverlayStyle,
) -> RgbImage {
    let (w, h) = photo.dimensions();
    let (iw, ih) = (map.width as f32, map.height as f32);
    // Per column and per row: the position in map pixels (centres), or None outside the crop.
    let cols: Vec<Option<f32>> = (0..w)
        .map(|x| {
            let (u, _) = mapping.input_from_original(x as f32 + 0.5, 0.0);
            (0.0..iw).contains(&u).then_some(u - 0.5)
        })
        .collect();
    let rows: Vec<Option<f32>> = (0..h)
        .map(|y| {
            let (_, v) = mapping.input_from_original(0.0, y as f32 + 0.5);
            (0.0..ih).contains(&v).then_some(v - 0.5)
        })
        .collect();
    let mut mixed = vec![[0f32; 3]; (w * h) as usize];
    let mut inside = vec![false; (w * h) as usize];
    let mut max = 0f32;
    for (y, row) in rows.iter().enumerate() {
        for (x, col) in cols.iter().enumerate() {
            let i = y * w as usize + x;
            let p = photo.get_pixel(x as u32, y as u32).0;
            let (Some(v), Some(u)) = (row, col) else {
                mixed[i] = p.map(|c| c as f32 / 255.0 * style.outside_dim);
                continue;
            };
            inside[i] = true;
            let value = map.sample(*u, *v);
            let heat = style.colormap.color(value);
            mixed[i] = match style.blend {
                Blend::Mix => mix_pixel(p, heat, style.image_weight),
                Blend::AlphaByValue => {
                    let a = (2.0 * (1.0 - style.image_weight) * value).clamp(0.0, 1.0);
                    std::array::from_fn(|c| (a * heat[c] as f32 + (1.0 - a) * p[c] as f32) / 255.0)
                }
            };
            max = max.max(mixed[i].iter().copied().fold(0.0, f32::max));
        }
    }
    let norm = if style.blend == Blend::Mix && max > 0.0 {
        max
    } else {
        1.0
    };
    let mut out = RgbImage::new(w, h);
    for (i, o) in out.pixels_mut().enumerate() {
        let s = if inside[i] { norm } else { 1.0 };
        *o = Rgb(mixed[i].map(|c| to_u8(c / s)));
    }
    out
}

/// pytorch-grad-cam's `deprocess_image` of a `3 × H × W` gradient: standardize, scale by 0.1
/// around mid-grey, clip; the usual picture of guided backprop.
pub fn deprocess_gradient(data: &[f32], w: usize, h: usize) -> [Map; 3] {
    let n = data.len() as f64;
    let mean = data.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = data.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let std = var.sqrt() + 1e-5;
    let plane = w * h;
    std::array::from_fn(|c| {
        let d = data[c * plane..(c + 1) * plane]
            .iter()
            .map(|&v| ((((v as f64 - mean) / std) * 0.1 + 0.5).clamp(0.0, 1.0)) as f32)
            .collect();
        Map::new(w, h, d)
    })
}

/// An RGB picture at model-input resolution (three [0, 1] channel maps) drawn into the crop
/// region of the photo; the rest of the photo is dimmed.
pub fn picture_on_photo(
    photo: &RgbImage,
    rgb: &[Map; 3],
    mapping: &InputMapping,
    style: &OverlayStyle,
) -> RgbImage {
    let (iw, ih) = (rgb[0].width as f32, rgb[0].height as f32);
    let mut out = photo.clone();
    for (x, y, p) in out.enumerate_pixels_mut() {
        let (u, v) = mapping.input_from_original(x as f32 + 0.5, y as f32 + 0.5);
        if (0.0..iw).contains(&u) && (0.0..ih).contains(&v) {
            *p = Rgb(std::array::from_fn(|c| {
                to_u8(rgb[c].sample(u - 0.5, v - 0.5))
            }));
        } else {
            *p = Rgb(p.0.map(|c| (c as f32 * style.outside_dim) as u8));
        }
    }
    out
}

pub const BOX_PRIMARY: [u8; 3] = [0, 255, 0];
pub const BOX_SECONDARY: [u8; 3] = [255, 255, 0];

/// A line thickness that reads at any photo size.
pub fn stroke_for(w: u32, h: u32) -> u32 {
    (w.max(h) / 300).max(2)
}

/// Draws boxes (photo pixel-edge coordinates), the first in the primary colour.
pub fn draw_boxes(img: &mut RgbImage, boxes: &[BBox]) {
    let t = stroke_for(img.width(), img.height());
    for (i, b) in boxes.iter().enumerate().rev() {
        let color = if i == 0 { BOX_PRIMARY } else { BOX_SECONDARY };
        draw_rect(img, b, if i == 0 { t } else { t.div_ceil(2) }, color);
    }
}

/// An outline of thickness `t` just inside `b`.
pub fn draw_rect(img: &mut RgbImage, b: &BBox, t: u32, color: [u8; 3]) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let [x0, y0, x1, y1] = b.to_pixels();
    let (x0, y0, x1, y1) = (x0.max(0), y0.max(0), x1.min(w), y1.min(h));
    if x0 >= x1 || y0 >= y1 {
        return;
    }
    let t = t as i64;
    for y in y0..y1 {
        for x in x0..x1 {
            let edge = x < x0 + t || x >= x1 - t || y < y0 + t || y >= y1 - t;
            if edge {
                img.put_pixel(x as u32, y as u32, Rgb(color));
            }
        }
    }
}

/// The caption strip's font size and height for an image `w` pixels wide.
fn caption_metrics(w: u32) -> (f32, u32) {
    let size = (w as f32 / 40.0).clamp(13.0, 36.0);
    (size, (size * 1.7).round() as u32)
}

/// `img` with a dark strip below it holding `caption` (shortened to fit).
pub fn with_caption(img: &RgbImage, caption: &str) -> RgbImage {
    with_caption_for(img, caption, img.width())
}

/// [`with_caption`] with text sized as for an image `text_width` pixels wide (composites use
/// their pane width, so that titles and caption match).
pub fn with_caption_for(img: &RgbImage, caption: &str, text_width: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let (size, strip) = caption_metrics(text_width);
    let mut out = RgbImage::from_pixel(w, h + strip, Rgb([24, 24, 28]));
    image::imageops::replace(&mut out, img, 0, 0);
    let pad = size * 0.5;
    let text = fit(caption, size, w as f32 - 2.0 * pad);
    draw_text(
        &mut out,
        &text,
        pad,
        h as f32 + (strip as f32 - size) / 2.0,
        size,
        [240, 240, 240],
    );
    out
}

/// The height an annotated export adds below a `w`-pixel-wide image.
pub fn caption_height(w: u32) -> u32 {
    caption_metrics(w).1
}

/// Panes side by side, each with its title above, on a dark background; panes are scaled to
/// the first pane's height.
pub fn composite(panes: &[(String, RgbImage)]) -> RgbImage {
    let Some((_, first)) = panes.first() else {
        return RgbImage::new(1, 1);
    };
    let ph = first.height();
    let gap = (ph / 100).max(4);
    let scaled: Vec<(String, RgbImage)> = panes
        .iter()
        .map(|(t, img)| {
            let img = if img.height() == ph {
                img.clone()
            } else {
                let w = (img.width() as f32 * ph as f32 / img.height() as f32).round() as u32;
                super::preprocess::resize_rgb(img, w.max(1), ph).unwrap_or_else(|_| img.clone())
            };
            (t.clone(), img)
        })
        .collect();
    let pw: u32 = scaled.iter().map(|(_, i)| i.width()).sum();
    let (size, title_h) = caption_metrics(first.width());
    let width = pw + gap * (scaled.len() as u32 + 1);
    let mut out = RgbImage::from_pixel(width, ph + title_h + gap, Rgb([24, 24, 28]));
    let mut x = gap;
    for (title, img) in &scaled {
        let text = fit(title, size, img.width() as f32);
        draw_text(
            &mut out,
            &text,
            x as f32,
            (title_h as f32 - size) / 2.0,
            size,
            [240, 240, 240],
        );
        image::imageops::replace(&mut out, img, x as i64, title_h as i64);
        x += img.width() + gap;
    }
    out
}

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
    .map_err(|e| Error::BadInput(format!("{}: encoding PNG: {e}", path.display())))?;
    super::io::write_atomic(path, |w| w.write_all(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caption_makes_the_image_taller_by_the_strip() {
        let img = RgbImage::from_pixel(400, 300, Rgb([9, 9, 9]));
        let out = with_caption(&img, "tiger cat 37.7% · Grad-CAM · _head_act · τ 0.20");
        assert_eq!(out.dimensions(), (400, 300 + caption_height(400)));
        // Some text pixels are light.
        let light = out
            .enumerate_pixels()
            .filter(|(_, y, p)| *y >= 300 && p.0[0] > 128)
            .count();
        assert!(light > 50);
    }

    #[test]
    fn boxes_are_drawn_inside_their_edges() {
        let mut img = RgbImage::new(20, 20);
        draw_rect(&mut img, &BBox::new(2., 3., 10., 12.), 2, [0, 255, 0]);
        assert_eq!(img.get_pixel(2, 3).0, [0, 255, 0]);
        assert_eq!(img.get_pixel(9, 11).0, [0, 255, 0]);
        assert_eq!(img.get_pixel(10, 12).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(5, 6).0, [0, 0, 0]);
    }
}
