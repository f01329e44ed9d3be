//! Text on images with an embedded font (DejaVu Sans, assets/fonts/LICENSE-DejaVu.txt), so
//! exports look the same everywhere.

use ab_glyph::{Font as _, FontRef, PxScale, ScaleFont as _};
use image::RgbImage;

/// DejaVu Sans, embedded (also the app's fallback font for τ, → and the like).
pub const FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

fn font() -> FontRef<'static> {
    FontRef::try_from_slice(FONT).expect("the embedded font parses")
}

/// The width in pixels of `text` at `size` pixels.
pub fn text_width(text: &str, size: f32) -> f32 {
    let font = font();
    let f = font.as_scaled(PxScale::from(size));
    let mut w = 0.0;
    let mut prev = None;
    for c in text.chars() {
        let id = f.glyph_id(c);
        if let Some(p) = prev {
            w += f.kern(p, id);
        }
        w += f.h_advance(id);
        prev = Some(id);
    }
    w
}

/// `text` shortened with an ellipsis to fit `max_width` pixels.
pub fn fit(text: &str, size: f32, max_width: f32) -> String {
    if text_width(text, size) <= max_width {
        return text.to_owned();
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let s: String = chars.iter().collect::<String>() + "…";
        if text_width(&s, size) <= max_width {
            return s;
        }
    }
    String::new()
}

/// Draws `text` with its top-left at `(x, y)`, `size` pixels high, blending `color` by glyph
/// coverage.
pub fn draw_text(img: &mut RgbImage, text: &str, x: f32, y: f32, size: f32, color: [u8; 3]) {
    let font = font();
    let scale = PxScale::from(size);
    let f = font.as_scaled(scale);
    let mut caret = ab_glyph::point(x, y + f.ascent());
    let mut prev = None;
    let (w, h) = img.dimensions();
    for c in text.chars() {
        let id = f.glyph_id(c);
        if let Some(p) = prev {
            caret.x += f.kern(p, id);
        }
        let glyph = id.with_scale_and_position(scale, caret);
        caret.x += f.h_advance(id);
        prev = Some(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let b = outline.px_bounds();
        outline.draw(|gx, gy, cov| {
            let px = b.min.x as i64 + gx as i64;
            let py = b.min.y as i64 + gy as i64;
            if px < 0 || py < 0 || px >= w as i64 || py >= h as i64 {
                return;
            }
            let p = img.get_pixel_mut(px as u32, py as u32);
            for (c, &target) in p.0.iter_mut().zip(&color) {
                *c = (*c as f32 * (1.0 - cov) + target as f32 * cov).round() as u8;
            }
        });
    }
}
