//! One explanation turned into what people look at: boxes in photo pixels, an annotated
//! picture with a caption, pane titles, and the stand-in for a method that does not apply.
//! Shared by the CLI and the app.

use image::{Rgb, RgbImage};

use super::{OverlayStyle, draw_boxes, pane_pixels, with_caption};
use crate::engine::io::preprocess::InputMapping;
use crate::engine::maps::Map;
use crate::engine::methods::{Explanation, Method};
use crate::engine::metrics::localize::{BBox, boxes};
use crate::engine::render::text::{draw_text, fit, text_width};

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

/// A pane's title: the method, and its layer where it has one (`Grad-CAM · layer4`).
pub fn pane_title(method: Method, layer: &str) -> String {
    if method.uses_layer() {
        format!("{} · {layer}", method.title())
    } else {
        method.title().to_owned()
    }
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
        format!(
            "{}  {:.1}% · {} · τ {:.2}",
            self.label,
            self.probability * 100.0,
            pane_title(self.method, self.layer),
            self.threshold
        )
    }
}

/// Overlay and boxes on the photo, at the photo's resolution (no caption); `shared`: the map
/// on a colour scale shared with other panes, if any.
pub fn annotated(
    photo: &RgbImage,
    mapping: &InputMapping,
    e: &Explanation,
    style: &OverlayStyle,
    shared: Option<&Map>,
    boxes: &[BBox],
) -> RgbImage {
    let (w, h) = export_size(photo.width(), photo.height());
    if (w, h) != photo.dimensions() {
        // Drawn on a scaled copy: a full-size overlay of a huge photo would need gigabytes.
        let small = crate::engine::io::preprocess::resize_rgb(photo, w, h)
            .unwrap_or_else(|_| photo.clone());
        let s = w as f32 / photo.width() as f32;
        let scaled: Vec<BBox> = boxes
            .iter()
            .map(|b| BBox::new(b.x0 * s, b.y0 * s, b.x1 * s, b.y1 * s))
            .collect();
        return annotated(
            &small,
            &mapping.for_photo_size(w, h),
            e,
            style,
            shared,
            &scaled,
        );
    }
    let mut img = pane_pixels(photo, mapping, e, style, shared);
    draw_boxes(&mut img, boxes);
    img
}

/// Annotated exports are drawn at most this large (a full-resolution overlay costs about 20
/// bytes a pixel): larger photos are exported scaled down to fit, keeping peak memory under
/// 1 GiB.
pub const MAX_EXPORT_PIXELS: u64 = 24_000_000;

/// The size an annotated export of a `w × h` photo is drawn at.
pub fn export_size(w: u32, h: u32) -> (u32, u32) {
    let pixels = w as u64 * h as u64;
    if pixels <= MAX_EXPORT_PIXELS {
        return (w, h);
    }
    let s = (MAX_EXPORT_PIXELS as f64 / pixels as f64).sqrt();
    (
        ((w as f64 * s).floor() as u32).max(1),
        ((h as f64 * s).floor() as u32).max(1),
    )
}

/// The warning for an export drawn smaller than its photo, if it is.
pub fn export_warning(w: u32, h: u32) -> Option<String> {
    let (ew, eh) = export_size(w, h);
    ((ew, eh) != (w, h)).then(|| {
        format!(
            "the {w}×{h} photo is exported at {ew}×{eh} (annotated exports are limited to {} \
             megapixels)",
            MAX_EXPORT_PIXELS / 1_000_000
        )
    })
}

/// [`annotated`] with its caption strip below: what `explain --out` and `batch` write.
pub fn annotated_with_caption(
    photo: &RgbImage,
    mapping: &InputMapping,
    e: &Explanation,
    style: &OverlayStyle,
    shared: Option<&Map>,
    boxes: &[BBox],
    caption: &Caption,
) -> RgbImage {
    with_caption(
        &annotated(photo, mapping, e, style, shared, boxes),
        &caption.text(),
    )
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
            Some(l) if text_width(&format!("{l} {word}"), size) <= max_w => {
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
