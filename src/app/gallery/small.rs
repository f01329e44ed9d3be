//! What the gallery keeps of each map: the localization map at most [`SMALL_SIDE`] pixels a
//! side, one byte a pixel (12.5 KB for a 224² input), enough for boxes at any threshold, the
//! per-class mean map and the correlation between two models' maps. The single-photo
//! inspector recomputes the full map when a thumbnail is opened.

use crate::engine::metrics::localize::{BBox, boxes};
use crate::engine::{InputMapping, Map};

pub const SMALL_SIDE: usize = 112;

#[derive(Clone, Debug, PartialEq)]
pub struct SmallMap {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
    /// Model-input pixels per small-map pixel, across and down.
    scale: (f32, f32),
}

impl SmallMap {
    /// `map` (model-input resolution, values in 0–1) scaled down with bilinear sampling,
    /// half-pixel centres (at a factor of 2: the mean of each 2 × 2 block).
    pub fn of(map: &Map) -> Self {
        let f = (map.width.max(map.height) as f32 / SMALL_SIDE as f32).max(1.0);
        let w = ((map.width as f32 / f).round() as usize).max(1);
        let h = ((map.height as f32 / f).round() as usize).max(1);
        let small = map.resized(w, h);
        Self {
            width: w,
            height: h,
            data: small
                .data
                .iter()
                .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
                .collect(),
            scale: (map.width as f32 / w as f32, map.height as f32 / h as f32),
        }
    }

    pub fn to_map(&self) -> Map {
        Map::new(
            self.width,
            self.height,
            self.data.iter().map(|&v| v as f32 / 255.0).collect(),
        )
    }

    /// The boxes at threshold `tau` (largest component first) in photo pixels.
    pub fn boxes(&self, mapping: &InputMapping, tau: f32) -> Vec<BBox> {
        let (w, h) = (mapping.original.0 as f32, mapping.original.1 as f32);
        let (sx, sy) = self.scale;
        boxes(&self.to_map().data, self.width, self.height, tau, false)
            .iter()
            .map(|b| {
                b.map(|x, y| mapping.original_from_input(x * sx, y * sy))
                    .clamp_to(w, h)
            })
            .collect()
    }

    /// The value at photo pixel `(x, y)`, or `None` outside the model's crop.
    fn at_photo(&self, m: &Map, mapping: &InputMapping, x: f32, y: f32) -> Option<f32> {
        let (u, v) = mapping.input_from_original(x, y);
        let (u, v) = (u / self.scale.0, v / self.scale.1);
        ((0.0..self.width as f32).contains(&u) && (0.0..self.height as f32).contains(&v))
            .then(|| m.sample(u - 0.5, v - 0.5))
    }
}

/// Pearson's correlation of two maps of one photo, each over its own model's crop, sampled
/// on a 32 × 32 grid of photo points inside both crops; `None` when fewer than 16 points are
/// inside both or either map is flat there.
pub fn correlation(a: (&SmallMap, &InputMapping), b: (&SmallMap, &InputMapping)) -> Option<f32> {
    const GRID: usize = 32;
    let (w, h) = (a.1.original.0 as f32, a.1.original.1 as f32);
    let (ma, mb) = (a.0.to_map(), b.0.to_map());
    let mut pairs = Vec::with_capacity(GRID * GRID);
    for j in 0..GRID {
        for i in 0..GRID {
            let (x, y) = (
                (i as f32 + 0.5) * w / GRID as f32,
                (j as f32 + 0.5) * h / GRID as f32,
            );
            if let (Some(p), Some(q)) = (a.0.at_photo(&ma, a.1, x, y), b.0.at_photo(&mb, b.1, x, y))
            {
                pairs.push((p as f64, q as f64));
            }
        }
    }
    if pairs.len() < 16 {
        return None;
    }
    let n = pairs.len() as f64;
    let (mp, mq) = (
        pairs.iter().map(|p| p.0).sum::<f64>() / n,
        pairs.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let (mut c, mut vp, mut vq) = (0f64, 0f64, 0f64);
    for (p, q) in &pairs {
        c += (p - mp) * (q - mq);
        vp += (p - mp).powi(2);
        vq += (q - mq).powi(2);
    }
    (vp > 1e-12 && vq > 1e-12).then(|| (c / (vp * vq).sqrt()) as f32)
}

/// The pixel-wise mean of maps of one size (one model's), or `None` without any.
pub fn mean<'a>(maps: impl Iterator<Item = &'a SmallMap>) -> Option<(Map, usize)> {
    let mut sum: Vec<f32> = Vec::new();
    let (mut n, mut size) = (0usize, (0, 0));
    for m in maps {
        if n == 0 {
            sum = vec![0.0; m.data.len()];
            size = (m.width, m.height);
        }
        if (m.width, m.height) != size {
            continue;
        }
        for (s, &v) in sum.iter_mut().zip(&m.data) {
            *s += v as f32 / 255.0;
        }
        n += 1;
    }
    (n > 0).then(|| {
        let data = sum.into_iter().map(|s| s / n as f32).collect();
        (Map::new(size.0, size.1, data), n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(w: usize, h: usize, cx: f32, cy: f32) -> Map {
        let data = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32, (i / w) as f32);
                (-((x - cx).powi(2) + (y - cy).powi(2)) / 400.0).exp()
            })
            .collect();
        Map::new(w, h, data)
    }

    #[test]
    fn small_boxes_agree_with_the_full_maps_boxes() {
        let m = blob(224, 224, 80.0, 120.0);
        let mapping = InputMapping::identity(224, 224);
        let full = boxes(&m.data, 224, 224, 0.2, false)[0];
        let small = SmallMap::of(&m).boxes(&mapping, 0.2)[0];
        assert_eq!(
            (SmallMap::of(&m).width, SmallMap::of(&m).height),
            (112, 112)
        );
        // One small pixel is two input pixels: the edges agree to that.
        for (a, b) in [
            (full.x0, small.x0),
            (full.y0, small.y0),
            (full.x1, small.x1),
            (full.y1, small.y1),
        ] {
            assert!((a - b).abs() <= 2.0, "{full:?} vs {small:?}");
        }
    }

    #[test]
    fn correlation_is_one_for_the_same_map_and_low_for_a_moved_one() {
        let mapping = InputMapping::identity(224, 224);
        let a = SmallMap::of(&blob(224, 224, 60.0, 60.0));
        let b = SmallMap::of(&blob(224, 224, 170.0, 170.0));
        let same = correlation((&a, &mapping), (&a, &mapping)).unwrap();
        let moved = correlation((&a, &mapping), (&b, &mapping)).unwrap();
        assert!((same - 1.0).abs() < 1e-5);
        assert!(moved < 0.2, "{moved}");
    }

    #[test]
    fn mean_averages_pixelwise() {
        let a = SmallMap::of(&Map::new(2, 1, vec![0.0, 1.0]));
        let b = SmallMap::of(&Map::new(2, 1, vec![1.0, 1.0]));
        let (m, n) = mean([&a, &b].into_iter()).unwrap();
        assert_eq!(n, 2);
        assert_eq!(m.data, vec![0.5, 1.0]);
    }
}
