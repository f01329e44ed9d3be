//! Captions and composites: one caption strip, one pane title, one composite builder, shared
//! by `explain --out`, `batch`, `compare` and the app's exports.

use image::{Rgb, RgbImage};

use super::annotate::{annotated, pane_title, photo_boxes, unavailable_pane};
use super::{OverlayStyle, on_shared_scale};
use crate::engine::error::Result;
use crate::engine::io::preprocess::{InputMapping, resize_rgb};
use crate::engine::maps::Map;
use crate::engine::methods::{Explanation, Method};
use crate::engine::render::text::{draw_text, fit};

/// Compare panes are drawn on a copy of the photo at most this large.
pub const MAX_PANE_SIDE: u32 = 1600;

/// `(w, h)` scaled down (never up) to fit `max_side`, rounded, each side at least 1.
pub fn fit_size(w: u32, h: u32, max_side: u32) -> (u32, u32) {
    let s = (max_side as f32 / w.max(h) as f32).min(1.0);
    (
        ((w as f32 * s).round() as u32).max(1),
        ((h as f32 * s).round() as u32).max(1),
    )
}

/// One pane of a comparison: a method and its explanation, or why it does not apply.
pub struct GridPane<'a> {
    pub method: Method,
    pub result: std::result::Result<&'a Explanation, &'a str>,
    /// The pane's own mapping to the photo at full resolution, where its model differs from
    /// the grid's (the app's second model); `None`: the grid's.
    pub mapping: Option<&'a InputMapping>,
}

/// How a comparison grid is annotated.
pub struct GridSettings<'a> {
    pub style: &'a OverlayStyle,
    pub threshold: f32,
    pub all_boxes: bool,
    /// Every pane on one colour scale ([`on_shared_scale`]) instead of its own min–max.
    pub shared_scale: bool,
    pub caption: &'a str,
}

/// The comparison grid of `compare --out` and the app's composite export: each pane drawn on a
/// preview of the photo (at most [`MAX_PANE_SIDE`]) with its boxes and title, the caption below.
pub fn compare_grid(
    photo: &RgbImage,
    mapping: &InputMapping,
    panes: &[GridPane<'_>],
    settings: &GridSettings<'_>,
) -> Result<RgbImage> {
    let (pw, ph) = fit_size(photo.width(), photo.height(), MAX_PANE_SIDE);
    let preview = resize_rgb(photo, pw, ph)?;
    let mapping = mapping.for_photo_size(pw, ph);
    let shared = shared_maps(panes, settings.shared_scale, settings.style);
    let drawn: Vec<(String, RgbImage)> = panes
        .iter()
        .zip(&shared)
        .map(|(p, shared)| match p.result {
            Ok(e) => {
                let own = p.mapping.map(|m| m.for_photo_size(pw, ph));
                let mapping = own.as_ref().unwrap_or(&mapping);
                let boxes = photo_boxes(
                    &e.localization,
                    mapping,
                    settings.threshold,
                    settings.all_boxes,
                );
                (
                    pane_title(e.method, &e.layer),
                    annotated(
                        &preview,
                        mapping,
                        e,
                        settings.style,
                        shared.as_ref(),
                        &boxes,
                    ),
                )
            }
            Err(why) => (
                format!("{} · n/a", p.method.title()),
                unavailable_pane(&preview, why),
            ),
        })
        .collect();
    Ok(with_caption_for(&composite(&drawn), settings.caption, pw))
}

/// For each pane, its map on the shared colour scale (`None` without one, or where the method
/// did not apply).
pub fn shared_maps(panes: &[GridPane<'_>], shared: bool, style: &OverlayStyle) -> Vec<Option<Map>> {
    if !shared {
        return vec![None; panes.len()];
    }
    let ok: Vec<&Explanation> = panes.iter().filter_map(|p| p.result.ok()).collect();
    let mut maps = on_shared_scale(&ok, style.colormap.is_diverging()).into_iter();
    panes
        .iter()
        .map(|p| p.result.ok().and_then(|_| maps.next()))
        .collect()
}

/// The caption under a comparison grid.
pub fn grid_caption(
    label: &str,
    probability: f32,
    class: usize,
    threshold: f32,
    architecture: &str,
) -> String {
    format!(
        "{label}  {:.1}% · class {class} · τ {threshold:.2} · {architecture}",
        probability * 100.0
    )
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
                resize_rgb(img, w.max(1), ph).unwrap_or_else(|_| img.clone())
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
}
