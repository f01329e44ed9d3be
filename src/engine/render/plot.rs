//! The deletion and insertion curves of several methods, drawn into one PNG
//! (`camscope metrics --plot`): two panels, probability against the share of pixels, a legend
//! with each curve's area.

use image::{Rgb, RgbImage};

use crate::engine::metrics::faithfulness::Curve;
use crate::engine::metrics::localize::BBox;
use crate::engine::render::draw_rect;
use crate::engine::render::text::{draw_text, fit, text_width};

/// Distinct curve colours (Okabe–Ito, readable by colour-blind people), reused in order.
const PALETTE: [[u8; 3]; 7] = [
    [0, 114, 178],
    [213, 94, 0],
    [0, 158, 115],
    [204, 121, 167],
    [230, 159, 0],
    [86, 180, 233],
    [0, 0, 0],
];

const PANEL_W: u32 = 520;
const PANEL_H: u32 = 380;
const MARGIN: f32 = 48.0;

/// One method's two curves.
pub struct PlotSeries<'a> {
    pub name: &'a str,
    pub deletion: &'a Curve,
    pub insertion: &'a Curve,
}

/// Draws a line of thickness ~2 px from `a` to `b`.
fn line(img: &mut RgbImage, a: (f32, f32), b: (f32, f32), color: [u8; 3]) {
    let n = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).max(1);
    for i in 0..=n {
        let t = i as f32 / n as f32;
        let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
        for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            let (px, py) = (x as i64 + dx, y as i64 + dy);
            if px >= 0 && py >= 0 && (px as u32) < img.width() && (py as u32) < img.height() {
                img.put_pixel(px as u32, py as u32, Rgb(color));
            }
        }
    }
}

/// Where a panel's legend goes: the corner its curves usually leave empty.
#[derive(Clone, Copy)]
enum Corner {
    BottomLeft,
    BottomRight,
}

fn panel(img: &mut RgbImage, x0: u32, title: &str, series: &[(&str, &Curve)], corner: Corner) {
    let (left, top) = (x0 as f32 + MARGIN, 36.0);
    let (w, h) = (PANEL_W as f32 - MARGIN - 16.0, PANEL_H as f32 - top - 40.0);
    let grey = [200, 200, 200];
    for i in 0..=4 {
        let f = i as f32 / 4.0;
        line(
            img,
            (left, top + h * (1.0 - f)),
            (left + w, top + h * (1.0 - f)),
            grey,
        );
        line(img, (left + w * f, top), (left + w * f, top + h), grey);
        let label = format!("{f}");
        draw_text(
            img,
            &label,
            left - 34.0,
            top + h * (1.0 - f) - 8.0,
            14.0,
            [60; 3],
        );
        draw_text(
            img,
            &label,
            left + w * f - 8.0,
            top + h + 6.0,
            14.0,
            [60; 3],
        );
    }
    let frame = BBox::new(left, top, left + w + 1.0, top + h + 1.0);
    draw_rect(img, &frame, 1, [90, 90, 90]);
    draw_text(img, title, left, 8.0, 18.0, [0; 3]);
    draw_text(
        img,
        "share of pixels",
        left + w - 110.0,
        top + h + 22.0,
        13.0,
        [60; 3],
    );
    for (k, (_, curve)) in series.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let pts: Vec<(f32, f32)> = curve
            .fractions
            .iter()
            .zip(&curve.scores)
            .filter(|(_, s)| s.is_finite())
            .map(|(&f, &s)| (left + w * f, top + h * (1.0 - s.clamp(0.0, 1.0))))
            .collect();
        for p in pts.windows(2) {
            line(img, p[0], p[1], color);
        }
    }
    // The legend, on white, in the corner.
    let texts: Vec<String> = series
        .iter()
        .map(|(name, c)| fit(&format!("{name}  AUC {:.3}", c.auc), 14.0, w * 0.6))
        .collect();
    let tw = texts
        .iter()
        .map(|t| text_width(t, 14.0))
        .fold(0.0, f32::max)
        + 34.0;
    let th = 18.0 * texts.len() as f32 + 6.0;
    let lx = match corner {
        Corner::BottomLeft => left + 8.0,
        Corner::BottomRight => left + w - tw - 8.0,
    };
    let ly = top + h - th - 8.0;
    for y in ly as u32..(ly + th) as u32 {
        for x in lx as u32..(lx + tw) as u32 {
            if x < img.width() && y < img.height() {
                img.put_pixel(x, y, Rgb([255, 255, 255]));
            }
        }
    }
    draw_rect(img, &BBox::new(lx, ly, lx + tw, ly + th), 1, [160; 3]);
    for (k, t) in texts.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let y = ly + 4.0 + 18.0 * k as f32;
        line(img, (lx + 6.0, y + 8.0), (lx + 24.0, y + 8.0), color);
        draw_text(img, t, lx + 30.0, y, 14.0, color);
    }
}

/// Both panels of every series, with `caption` (photo, class, baseline) along the bottom.
pub fn curves_png(series: &[PlotSeries<'_>], caption: &str) -> RgbImage {
    let mut img = RgbImage::from_pixel(2 * PANEL_W, PANEL_H + 28, Rgb([255, 255, 255]));
    let del: Vec<(&str, &Curve)> = series.iter().map(|s| (s.name, s.deletion)).collect();
    let ins: Vec<(&str, &Curve)> = series.iter().map(|s| (s.name, s.insertion)).collect();
    panel(
        &mut img,
        0,
        "Deletion (lower is better)",
        &del,
        Corner::BottomLeft,
    );
    panel(
        &mut img,
        PANEL_W,
        "Insertion (higher is better)",
        &ins,
        Corner::BottomRight,
    );
    let text = fit(caption, 14.0, 2.0 * PANEL_W as f32 - 20.0);
    draw_text(&mut img, &text, 10.0, PANEL_H as f32 + 6.0, 14.0, [40; 3]);
    img
}
