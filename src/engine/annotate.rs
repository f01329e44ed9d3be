//! One explanation turned into what people look at: boxes in photo pixels, an annotated
//! picture with a caption, and panes for composites. Shared by the CLI and the app.

use image::{Rgb, RgbImage};

use super::localize::{BBox, boxes};
use super::maps::Map;
use super::methods::{Explanation, Method};
use super::preprocess::{InputMapping, Preprocess};
use super::render::{
    OverlayStyle, deprocess_gradient, draw_boxes, overlay_on_photo, picture_on_photo, with_caption,
};
use super::text::{draw_text, fit};

/// Boxes of `{map ≥ τ·max}` (largest component first; all components with `all`), in the
/// original photo's pixel-edge coordinates, clipped to the photo.
pub fn photo_boxes(map: &Map, mapping: &InputMapping, tau: f32, all: bool) -> Vec<BBox> {
    let (w, h) = (mapping.original.0 as f32, mapping.original.1 as f32);
    boxes(&map.data, map.width, map.height, tau, all)
        .iter()
        .map(|b| {
            b.map(|x, y| mapping.original_from_input(x, y))
                .clamp_to(w, h)
        })
        .collect()
}

/// What a caption says.
pub struct Caption<'a> {
    pub label: &'a str,
    pub probability: f32,
    pub method: Method,
    pub layer: &'a str,
    pub threshold: f32,
}

impl Caption<'_> {
    pub fn text(&self) -> String {
        let layer = if self.method.uses_layer() {
            format!(" · {}", self.layer)
        } else {
            String::new()
        };
        format!(
            "{}  {:.1}% · {}{layer} · τ {:.2}",
            self.label,
            self.probability * 100.0,
            self.method.title(),
            self.threshold
        )
    }
}

/// The map used for display: the signed map for diverging colormaps, else the final map.
pub fn display_map<'e>(e: &'e Explanation, style: &OverlayStyle) -> std::borrow::Cow<'e, Map> {
    if style.colormap.is_diverging() {
        std::borrow::Cow::Owned(e.signed_map())
    } else {
        std::borrow::Cow::Borrowed(&e.map)
    }
}

/// Overlay and boxes on the photo, at the photo's resolution (no caption).
pub fn annotated(
    photo: &RgbImage,
    mapping: &InputMapping,
    e: &Explanation,
    style: &OverlayStyle,
    boxes: &[BBox],
) -> RgbImage {
    let mut img = if e.raw.shape.len() == 3 && !style.colormap.is_diverging() {
        // Guided methods: the gradient picture itself, as pytorch-grad-cam shows it.
        let (w, h) = (e.raw.shape[2], e.raw.shape[1]);
        picture_on_photo(
            photo,
            &deprocess_gradient(&e.raw.data, w, h),
            mapping,
            style,
        )
    } else {
        overlay_on_photo(photo, &display_map(e, style), mapping, style)
    };
    draw_boxes(&mut img, boxes);
    img
}

/// [`annotated`] with its caption strip below: what `explain --out` and `batch` write.
pub fn annotated_with_caption(
    photo: &RgbImage,
    mapping: &InputMapping,
    e: &Explanation,
    style: &OverlayStyle,
    boxes: &[BBox],
    caption: &Caption,
) -> RgbImage {
    with_caption(&annotated(photo, mapping, e, style, boxes), &caption.text())
}

/// A pane standing in for a method that does not apply: the dimmed photo with the reason.
pub fn unavailable_pane(photo: &RgbImage, reason: &str) -> RgbImage {
    let mut img = photo.clone();
    for p in img.pixels_mut() {
        *p = Rgb(p.0.map(|c| (c as f32 * 0.3) as u8));
    }
    let size = (img.width() as f32 / 28.0).clamp(12.0, 32.0);
    let max_w = img.width() as f32 - 2.0 * size;
    // Wrap words into lines that fit.
    let mut lines: Vec<String> = Vec::new();
    for word in reason.split_whitespace() {
        match lines.last_mut() {
            Some(l) if super::text::text_width(&format!("{l} {word}"), size) <= max_w => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(fit(word, size, max_w)),
        }
    }
    let top = (img.height() as f32 - lines.len() as f32 * size * 1.3) / 2.0;
    for (i, line) in lines.iter().enumerate() {
        draw_text(
            &mut img,
            line,
            size,
            top + i as f32 * size * 1.3,
            size,
            [255, 210, 120],
        );
    }
    img
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
