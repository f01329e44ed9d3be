//! How faithful is a map? Perturb the input where the map points and watch the class score.
//! docs/metrics.md cites each definition and says how camscope computes it.
//!
//! - Deletion and insertion (Petsiuk et al. 2018, RISE): input pixels ranked by the map
//!   (highest first); in `steps` steps the top `k/steps` of them are replaced by a baseline
//!   (deletion) or put into the baseline (insertion); the class probability after each step
//!   is the curve, its area by the trapezoid rule over x ∈ [0, 1] the score (deletion: lower
//!   is better; insertion: higher).
//! - Confidence change, Average Drop and Increase in Confidence (Chattopadhay et al. 2018,
//!   Grad-CAM++; pytorch-grad-cam's `CamMultImageConfidenceChange`): the probability of the
//!   input multiplied by the map (in [0, 1]), against the input's own.
//! - Pointing game (Zhang et al. 2018): the map's maximum within 15 pixels of a ground-truth
//!   box.
//!
//! Scores are softmax probabilities. Every perturbed input of a curve runs through the
//! batched forward pass ([`Model::logits_from`]), `batch_size` at a time.

use candle_core::Tensor;

use crate::engine::error::{Error, Result};
use crate::engine::io::preprocess::{InputMapping, Preprocess};
use crate::engine::maps::Map;
use crate::engine::metrics::localize::BBox;
use crate::engine::models::Model;

/// What deleted pixels become, and what insertion starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Baseline {
    /// The input blurred by a Gaussian (σ = 5 px, 11 taps — RISE's), edges replicated.
    Blur,
    /// Black (pixel value 0).
    Zero,
    /// The input's mean colour.
    Mean,
}

/// One deletion or insertion curve.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Curve {
    /// The share of pixels deleted (inserted) at each point: `k / steps`.
    pub fractions: Vec<f32>,
    /// The class probability at each point.
    pub scores: Vec<f32>,
    /// Area under the curve, trapezoid rule over [0, 1].
    pub auc: f32,
}

/// The input multiplied by the map, against the input (Grad-CAM++'s measures).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Confidence {
    /// The class probability of the input.
    pub original: f32,
    /// … of the input multiplied by the map.
    pub masked: f32,
    /// `masked − original` (pytorch-grad-cam's confidence change).
    pub change: f32,
    /// `max(0, original − masked) / original`, in percent.
    pub average_drop: f32,
    /// Whether the masked input scores higher.
    pub increase: bool,
}

/// The trapezoid-rule area under `scores` sampled evenly over [0, 1] (RISE's `auc`).
pub fn auc(scores: &[f32]) -> f32 {
    match scores.len() {
        0 => 0.0,
        1 => scores[0],
        n => {
            let inner: f64 = scores.iter().map(|&s| s as f64).sum::<f64>()
                - (scores[0] as f64 + scores[n - 1] as f64) / 2.0;
            (inner / (n - 1) as f64) as f32
        }
    }
}

/// Softmax probability of `class` in each row of `(N, classes)` logits.
pub(crate) fn probabilities(logits: &Tensor, class: usize) -> Result<Vec<f32>> {
    let rows = logits.to_dtype(candle_core::DType::F32)?.to_vec2::<f32>()?;
    Ok(rows
        .iter()
        .map(|r| {
            let max = r.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let sum: f64 = r.iter().map(|&l| (l as f64 - max).exp()).sum();
            ((r[class] as f64 - max).exp() / sum) as f32
        })
        .collect())
}

/// An error unless `map` has the input's size `(h, w)`.
pub(crate) fn check_map(map: &Map, (h, w): (usize, usize)) -> Result<()> {
    if (map.height, map.width) != (h, w) {
        return Err(Error::BadInput(format!(
            "a {}×{} map for a {w}×{h} input",
            map.width, map.height
        )));
    }
    Ok(())
}

/// The class probability of every image in `images` (each `3·h·w` values), in batches.
fn scores(
    model: &Model,
    images: &[f32],
    (h, w): (usize, usize),
    class: usize,
    batch_size: usize,
    check: &dyn Fn() -> Result<()>,
    progress: &dyn Fn(usize),
) -> Result<Vec<f32>> {
    let per = 3 * h * w;
    let mut out = Vec::with_capacity(images.len() / per);
    for chunk in images.chunks(per * batch_size.max(1)) {
        check()?;
        progress(out.len());
        let n = chunk.len() / per;
        let x = Tensor::from_vec(chunk.to_vec(), (n, 3, h, w), model.device())?;
        out.extend(probabilities(
            &model.logits_from_checked(None, &x, check)?,
            class,
        )?);
    }
    Ok(out)
}

/// The baseline image for `input` (`3·h·w` normalized values), in the same normalization.
pub fn baseline(
    input: &[f32],
    (h, w): (usize, usize),
    kind: Baseline,
    pre: &Preprocess,
) -> Vec<f32> {
    let plane = h * w;
    let mut out = vec![0f32; 3 * plane];
    for c in 0..3 {
        let src = &input[c * plane..(c + 1) * plane];
        let dst = &mut out[c * plane..(c + 1) * plane];
        match kind {
            Baseline::Zero => dst.fill((0.0 - pre.mean[c]) / pre.std[c]),
            Baseline::Mean => {
                let m = src.iter().map(|&v| v as f64).sum::<f64>() / plane as f64;
                dst.fill(m as f32);
            }
            Baseline::Blur => dst.copy_from_slice(&gaussian_blur(src, h, w, 5.0, 11)),
        }
    }
    out
}

/// A separable Gaussian blur of one plane, edges replicated.
fn gaussian_blur(src: &[f32], h: usize, w: usize, sigma: f32, taps: usize) -> Vec<f32> {
    let r = taps as isize / 2;
    let k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    let k: Vec<f32> = k.iter().map(|v| v / sum).collect();
    let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    let mut tmp = vec![0f32; h * w];
    for y in 0..h {
        for x in 0..w {
            tmp[y * w + x] = (-r..=r)
                .map(|i| k[(i + r) as usize] * src[y * w + clamp(x as isize + i, w)])
                .sum();
        }
    }
    let mut out = vec![0f32; h * w];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = (-r..=r)
                .map(|i| k[(i + r) as usize] * tmp[clamp(y as isize + i, h) * w + x])
                .sum();
        }
    }
    out
}

/// Input pixels from the map's highest value to its lowest (ties in reading order, NaN last).
fn ranking(map: &Map) -> Vec<usize> {
    let mut order: Vec<usize> = (0..map.data.len()).collect();
    order.sort_by(|&a, &b| {
        let (va, vb) = (map.data[a], map.data[b]);
        (va.is_nan(), -va)
            .partial_cmp(&(vb.is_nan(), -vb))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(&b))
    });
    order
}

/// What a deletion / insertion run needs besides the model.
pub struct CurveSettings<'a> {
    pub class: usize,
    pub steps: usize,
    pub baseline: Baseline,
    pub batch_size: usize,
    /// Called between batches; its error stops the run (cancellation).
    pub check: &'a dyn Fn() -> Result<()>,
    /// Called before each batch with the forward passes done and the passes in all
    /// (`2 · (steps + 1)`), and once more at the end.
    pub progress: Option<&'a dyn Fn(usize, usize)>,
}

/// The deletion and insertion curves of `map` (at input resolution) for `input` `(1, 3, H, W)`.
pub fn deletion_insertion(
    model: &Model,
    input: &Tensor,
    map: &Map,
    s: &CurveSettings<'_>,
) -> Result<(Curve, Curve)> {
    model.check_class(s.class)?;
    let (_, _, h, w) = input.dims4()?;
    check_map(map, (h, w))?;
    if s.steps == 0 {
        return Err(Error::BadInput("deletion needs at least one step".into()));
    }
    let x = input.flatten_all()?.to_vec1::<f32>()?;
    let base = baseline(&x, (h, w), s.baseline, &model.preprocess);
    let order = ranking(map);
    let plane = h * w;
    let counts: Vec<usize> = (0..=s.steps)
        .map(|k| (k * plane + s.steps / 2) / s.steps)
        .collect();
    let mut curves = Vec::new();
    let total = 2 * counts.len();
    let report = |done: usize| {
        if let Some(p) = s.progress {
            p(done, total);
        }
    };
    for (start, fill) in [(&x, &base), (&base, &x)] {
        let mut img = start.clone();
        let mut images = Vec::with_capacity(counts.len() * 3 * plane);
        let mut done = 0;
        for &n in &counts {
            for &p in &order[done..n] {
                for c in 0..3 {
                    img[c * plane + p] = fill[c * plane + p];
                }
            }
            done = n;
            images.extend_from_slice(&img);
        }
        let offset = curves.len() * counts.len();
        let scores = scores(
            model,
            &images,
            (h, w),
            s.class,
            s.batch_size,
            s.check,
            &|done| report(offset + done),
        )?;
        curves.push(Curve {
            fractions: (0..=s.steps).map(|k| k as f32 / s.steps as f32).collect(),
            auc: auc(&scores),
            scores,
        });
    }
    report(total);
    let insertion = curves.pop().expect("two curves");
    let deletion = curves.pop().expect("two curves");
    Ok((deletion, insertion))
}

/// The class probability of `input` multiplied by `map` (values in [0, 1], at input
/// resolution), against the input's own — as pytorch-grad-cam's `CamMultImageConfidenceChange`
/// multiplies the (normalized) input tensor by the map.
pub fn confidence(model: &Model, input: &Tensor, map: &Map, class: usize) -> Result<Confidence> {
    model.check_class(class)?;
    let (_, _, h, w) = input.dims4()?;
    check_map(map, (h, w))?;
    let m = Tensor::from_vec(map.data.clone(), (1, 1, h, w), input.device())?;
    let masked = input.broadcast_mul(&m)?;
    let both = Tensor::cat(&[input, &masked], 0)?;
    let p = probabilities(&model.logits_from(None, &both)?, class)?;
    let (original, masked) = (p[0], p[1]);
    Ok(Confidence {
        original,
        masked,
        change: masked - original,
        average_drop: if original > 0.0 {
            100.0 * (original - masked).max(0.0) / original
        } else {
            0.0
        },
        increase: masked > original,
    })
}

/// The pointing game's tolerance (Zhang et al. 2018), in original-photo pixels.
pub const POINTING_TOLERANCE: f32 = 15.0;

/// Whether the map's maximum (the centre of its first highest pixel, in original-photo
/// coordinates) lies within `tolerance` pixels of one of `boxes` (original-photo pixels).
pub fn pointing_game(map: &Map, mapping: &InputMapping, boxes: &[BBox], tolerance: f32) -> bool {
    let Some(best) = ranking(map).first().copied() else {
        return false;
    };
    if map.data[best].is_nan() {
        return false;
    }
    let (ix, iy) = (
        (best % map.width) as f32 + 0.5,
        (best / map.width) as f32 + 0.5,
    );
    let (x, y) = mapping.original_from_input(ix, iy);
    boxes.iter().any(|b| {
        let dx = (b.x0 - x).max(0.0).max(x - b.x1);
        let dy = (b.y0 - y).max(0.0).max(y - b.y1);
        (dx * dx + dy * dy).sqrt() <= tolerance
    })
}

/// The share of the map's mass outside every box (original-photo pixels): Σ of the map over
/// the pixels whose centre lies in no box, over Σ of the map (negative values count as 0).
/// A map that looks at the object's surroundings — the bias signal of a "right for the wrong
/// reason" prediction — scores near 1. `None` without boxes or with an all-zero map.
pub fn mass_outside(map: &Map, mapping: &InputMapping, boxes: &[BBox]) -> Option<f32> {
    if boxes.is_empty() {
        return None;
    }
    let (mut total, mut outside) = (0f64, 0f64);
    for (i, &v) in map.data.iter().enumerate() {
        if v.is_nan() || v <= 0.0 {
            continue;
        }
        let (ix, iy) = ((i % map.width) as f32 + 0.5, (i / map.width) as f32 + 0.5);
        let (x, y) = mapping.original_from_input(ix, iy);
        let inside = boxes
            .iter()
            .any(|b| x >= b.x0 && x < b.x1 && y >= b.y0 && y < b.y1);
        total += v as f64;
        if !inside {
            outside += v as f64;
        }
    }
    (total > 0.0).then(|| (outside / total) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_known_curves() {
        assert_eq!(auc(&[1.0, 1.0, 1.0]), 1.0);
        assert!((auc(&[1.0, 0.5, 0.0]) - 0.5).abs() < 1e-7);
        assert!((auc(&[0.0, 1.0, 0.0]) - 0.5).abs() < 1e-7);
        // 5 points of x²: (0 + 2·(1/16 + 4/16 + 9/16) + 1) / 8 = 0.34375.
        assert!((auc(&[0.0, 0.0625, 0.25, 0.5625, 1.0]) - 0.34375).abs() < 1e-7);
    }

    #[test]
    fn mass_outside_counts_the_map_off_the_boxes() {
        let m = InputMapping::identity(4, 2);
        // Row 0: 1 2 3 4, row 1: 0 0 −5 NaN; the box covers columns 0–1 of row 0.
        let data = vec![1.0, 2.0, 3.0, 4.0, 0.0, 0.0, -5.0, f32::NAN];
        let map = Map::new(4, 2, data);
        let b = [BBox::new(0.0, 0.0, 2.0, 1.0)];
        assert_eq!(mass_outside(&map, &m, &b), Some(0.7));
        assert_eq!(mass_outside(&map, &m, &[]), None);
        let all = [BBox::new(0.0, 0.0, 4.0, 2.0)];
        assert_eq!(mass_outside(&map, &m, &all), Some(0.0));
        assert_eq!(mass_outside(&Map::new(4, 2, vec![0.0; 8]), &m, &b), None);
    }

    #[test]
    fn pointing_game_at_the_tolerance_edge() {
        let m = InputMapping::identity(64, 8);
        let boxes = [BBox::new(10.0, 0.0, 20.0, 8.0)];
        // Maximum at pixel 34: centre 34.5, 14.5 px right of the box — a hit; pixel 35
        // (15.5 px) is a miss.
        let mut data = vec![0.0; 64 * 8];
        data[34] = 1.0;
        assert!(pointing_game(
            &Map::new(64, 8, data.clone()),
            &m,
            &boxes,
            15.0
        ));
        data[34] = 0.0;
        data[35] = 1.0;
        assert!(!pointing_game(&Map::new(64, 8, data), &m, &boxes, 15.0));
    }

    #[test]
    fn blur_keeps_a_constant_plane_and_the_mean_baseline_is_the_mean() {
        let plane = vec![0.7f32; 12 * 9];
        let b = gaussian_blur(&plane, 9, 12, 5.0, 11);
        assert!(b.iter().all(|v| (v - 0.7).abs() < 1e-6));
        let x: Vec<f32> = (0..3 * 4).map(|i| i as f32).collect();
        let m = baseline(&x, (2, 2), Baseline::Mean, &Preprocess::imagenet());
        assert_eq!(
            m,
            [1.5, 1.5, 1.5, 1.5, 5.5, 5.5, 5.5, 5.5, 9.5, 9.5, 9.5, 9.5]
        );
    }
}
