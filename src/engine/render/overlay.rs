//! The one path from a map to pixels: heat (or a gradient picture) over the original photo.
//! The app's canvas and every export draw through [`pane_pixels`].

use std::borrow::Cow;

use image::{Rgb, RgbImage};

use super::{Blend, OverlayStyle};
use crate::engine::io::preprocess::InputMapping;
use crate::engine::maps::Map;
use crate::engine::methods::{Explanation, Produces};
use crate::engine::render::colormap::{Colormap, quantize};

/// The photo with `e`'s picture laid over the model's crop and the rest dimmed, at the photo's
/// resolution, without boxes or caption: what a pane shows and what exports start from.
/// Layer maps are drawn as heat (`style.blend`); input gradients as pytorch-grad-cam pictures
/// them (`deprocess_image`), unless the colormap is diverging, which shows any map's sign.
/// With `shared`, the pane draws that map instead: its map on a colour scale shared with
/// other panes ([`on_shared_scale`]).
pub fn pane_pixels(
    photo: &RgbImage,
    mapping: &InputMapping,
    e: &Explanation,
    style: &OverlayStyle,
    shared: Option<&Map>,
) -> RgbImage {
    if let Some(map) = shared {
        overlay_on_photo(photo, map, mapping, style)
    } else if e.method.produces() == Produces::InputGradient && !style.colormap.is_diverging() {
        let (w, h) = (e.raw.shape[2], e.raw.shape[1]);
        picture_on_photo(
            photo,
            &deprocess_gradient(&e.raw.data, w, h),
            mapping,
            style,
        )
    } else {
        overlay_on_photo(photo, &display_map(e, style), mapping, style)
    }
}

/// The maps of several explanations on one colour scale, instead of each its own min–max:
/// their [`Explanation::unnormalized_map`]s scaled by the smallest and largest value over all
/// of them (for a diverging colormap, `0.5 ± 0.5 · v / max |v|` over all of them), so that
/// methods can be compared by magnitude (Captum's issue #1103 asks for this).
pub fn on_shared_scale(es: &[&Explanation], diverging: bool) -> Vec<Map> {
    let maps: Vec<Map> = es.iter().map(|e| e.unnormalized_map()).collect();
    let values = || maps.iter().flat_map(|m| m.data.iter().copied());
    let (lo, hi) = values().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    let scale = values().fold(0f32, |a, v| a.max(v.abs()));
    maps.into_iter()
        .map(|m| {
            let data = m
                .data
                .iter()
                .map(|&v| match (diverging, scale > 0.0, hi > lo) {
                    (true, true, _) => 0.5 + 0.5 * v / scale,
                    (true, false, _) => 0.5,
                    (false, _, true) => (v - lo) / (hi - lo),
                    (false, _, false) => 0.0,
                })
                .collect();
            Map::new(m.width, m.height, data)
        })
        .collect()
}

/// The map used for display: the signed map for diverging colormaps, else the final map.
pub fn display_map<'e>(e: &'e Explanation, style: &OverlayStyle) -> Cow<'e, Map> {
    if style.colormap.is_diverging() {
        Cow::Owned(e.signed_map())
    } else {
        Cow::Borrowed(&e.map)
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
        *o = Rgb(m.map(|c| quantize(c / max)));
    }
    out
}

fn mix_pixel(img: [u8; 3], heat: [u8; 3], w: f32) -> [f32; 3] {
    std::array::from_fn(|i| (1.0 - w) * (heat[i] as f32 / 255.0) + w * (img[i] as f32 / 255.0))
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
    let diverging = style.colormap.is_diverging();
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
                    // On a diverging colormap 0.5 is zero: strength is the distance from it.
                    let strength = if diverging {
                        (value - 0.5).abs() * 2.0
                    } else {
                        value
                    };
                    let a = (2.0 * (1.0 - style.image_weight) * strength).clamp(0.0, 1.0);
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
        *o = Rgb(mixed[i].map(|c| quantize(c / s)));
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
                quantize(rgb[c].sample(u - 0.5, v - 0.5))
            }));
        } else {
            *p = Rgb(p.0.map(|c| (c as f32 * style.outside_dim) as u8));
        }
    }
    out
}
