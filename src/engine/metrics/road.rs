//! ROAD — RemOve And Debias (Rong, Leemann, Borisov, Kasneci, Kasneci, ICML 2022), as
//! pytorch-grad-cam's `metrics/road.py` computes it: the pixels above (most relevant first,
//! MoRF) or below (least relevant first, LeRF) a percentile of the map are imputed by noisy
//! linear interpolation from their neighbours, and the class probability's change is the
//! score; averaged over percentiles 10 … 90; combined = (LeRF − MoRF) / 2 (higher is better).
//!
//! The imputation solves, for every removed pixel i, `s_i·x_i = Σ_n w_n·x_n` over its in-image
//! 8-neighbours n (weights 1/6 for the 4 direct, 1/12 for the diagonal ones; s_i their sum),
//! known neighbours on the right-hand side — the system pytorch-grad-cam hands to SciPy's
//! `spsolve`. Here it is solved by conjugate gradients (it is symmetric positive definite when
//! every removed region touches a kept pixel), in float64, to a relative residual of 1e-7 (far below
//! the library's noise of 0.01), starting from a push-pull fill of the holes, all channels in
//! one sweep over the matrix;
//! when no pixel is kept (a constant map) the removed pixels become the channel's mean of
//! nothing, 0. Then `noise · N(0, 1)` is added (0.01 in the library; its RNG is torch's, so
//! only `noise = 0` is comparable run to run: the parity test uses 0).

use candle_core::Tensor;

use crate::engine::error::Result;
use crate::engine::maps::Map;
use crate::engine::metrics::faithfulness::{check_map, probabilities};
use crate::engine::models::Model;

/// pytorch-grad-cam's neighbour offsets (row, column) and weights.
const NEIGHBOURS: [((isize, isize), f64); 8] = [
    ((1, 1), 1.0 / 12.0),
    ((0, 1), 1.0 / 6.0),
    ((-1, 1), 1.0 / 12.0),
    ((1, -1), 1.0 / 12.0),
    ((0, -1), 1.0 / 6.0),
    ((-1, -1), 1.0 / 12.0),
    ((1, 0), 1.0 / 6.0),
    ((-1, 0), 1.0 / 6.0),
];

/// The percentiles pytorch-grad-cam averages over.
pub const PERCENTILES: [f32; 9] = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0];

/// NumPy's `np.percentile` (linear interpolation between closest ranks).
pub fn percentile(values: &[f32], p: f32) -> f32 {
    let mut v: Vec<f32> = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f32::NAN;
    }
    let rank = p as f64 / 100.0 * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    let t = rank - lo as f64;
    (v[lo] as f64 * (1.0 - t) + v[hi] as f64 * t) as f32
}

/// Fills the pixels where `keep` is false in each channel of `img` (`c·h·w` values) by the
/// linear imputation, plus `noise(i)` for each filled value.
pub fn impute(
    img: &[f32],
    keep: &[bool],
    (h, w): (usize, usize),
    noise: &mut dyn FnMut() -> f32,
) -> Vec<f32> {
    let plane = h * w;
    let unknown: Vec<usize> = (0..plane).filter(|&i| !keep[i]).collect();
    let mut index = vec![usize::MAX; plane];
    for (k, &i) in unknown.iter().enumerate() {
        index[i] = k;
    }
    // For each unknown pixel: its diagonal s_i, its unknown neighbours (index, weight) as a
    // compressed sparse row matrix, and its known neighbours.
    let n = unknown.len();
    let mut diag = vec![0f64; n];
    let mut links = Csr {
        start: Vec::with_capacity(n + 1),
        col: Vec::with_capacity(8 * n),
        weight: Vec::with_capacity(8 * n),
    };
    let mut known: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    for (k, &i) in unknown.iter().enumerate() {
        links.start.push(links.col.len());
        let (y, x) = ((i / w) as isize, (i % w) as isize);
        for ((dy, dx), wt) in NEIGHBOURS {
            let (ny, nx) = (y + dy, x + dx);
            if ny < 0 || nx < 0 || ny >= h as isize || nx >= w as isize {
                continue;
            }
            diag[k] += wt;
            let j = ny as usize * w + nx as usize;
            if keep[j] {
                known[k].push((j, wt));
            } else {
                links.col.push(index[j]);
                links.weight.push(wt);
            }
        }
    }
    links.start.push(links.col.len());
    let mut out = img.to_vec();
    let channels = img.len() / plane;
    let any_known = keep.iter().any(|&k| k);
    // The right-hand sides of all channels, interleaved: b[k·channels + c].
    let mut b = vec![0f64; n * channels];
    if any_known {
        for (k, ks) in known.iter().enumerate() {
            for c in 0..channels {
                let src = &img[c * plane..(c + 1) * plane];
                b[k * channels + c] = ks.iter().map(|&(j, wt)| wt * src[j] as f64).sum();
            }
        }
    }
    let start = push_pull(img, keep, (h, w), channels);
    let mut x0 = vec![0f64; n * channels];
    for (k, &i) in unknown.iter().enumerate() {
        for c in 0..channels {
            x0[k * channels + c] = start[c * plane + i];
        }
    }
    let x = solve(&diag, &links, &b, x0, channels);
    for c in 0..channels {
        for (k, &i) in unknown.iter().enumerate() {
            out[c * plane + i] = x[k * channels + c] as f32 + noise();
        }
    }
    out
}

/// A smooth first guess for the removed pixels of every channel (push-pull: the kept pixels
/// averaged down a pyramid of 2×2 blocks, then each level's holes filled from the level
/// above), so that conjugate gradients start with the slow, large-scale part of the solution
/// nearly right. Returns `channels·h·w` values (kept pixels as they are).
fn push_pull(img: &[f32], keep: &[bool], (h, w): (usize, usize), channels: usize) -> Vec<f64> {
    // Level 0: values times weights, and weights.
    let mut levels: Vec<(Vec<f64>, Vec<f64>, usize, usize)> = Vec::new();
    let mut v = vec![0f64; channels * h * w];
    let mut m = vec![0f64; h * w];
    for i in 0..h * w {
        if keep[i] {
            m[i] = 1.0;
            for c in 0..channels {
                v[c * h * w + i] = img[c * h * w + i] as f64;
            }
        }
    }
    levels.push((v, m, h, w));
    while let Some((v, m, lh, lw)) = levels.last().filter(|l| l.2 > 1 || l.3 > 1) {
        let (nh, nw) = (lh.div_ceil(2), lw.div_ceil(2));
        let mut nv = vec![0f64; channels * nh * nw];
        let mut nm = vec![0f64; nh * nw];
        for y in 0..*lh {
            for x in 0..*lw {
                let (i, j) = (y * lw + x, (y / 2) * nw + x / 2);
                nm[j] += m[i];
                for c in 0..channels {
                    nv[c * nh * nw + j] += v[c * lh * lw + i];
                }
            }
        }
        levels.push((nv, nm, nh, nw));
    }
    // Pull: from the coarsest level down, a pixel without weight takes its parent's value.
    let mut above: Option<(Vec<f64>, usize, usize)> = None;
    for (v, m, lh, lw) in levels.into_iter().rev() {
        let mut mean = vec![0f64; channels * lh * lw];
        for i in 0..lh * lw {
            for c in 0..channels {
                mean[c * lh * lw + i] = if m[i] > 0.0 {
                    v[c * lh * lw + i] / m[i]
                } else if let Some((a, _, aw)) = &above {
                    let (y, x) = (i / lw, i % lw);
                    let ah = a.len() / channels / aw;
                    a[c * ah * aw + (y / 2) * aw + x / 2]
                } else {
                    0.0
                };
            }
        }
        above = Some((mean, lh, lw));
    }
    above.map(|(a, _, _)| a).unwrap_or_default()
}

/// Conjugate gradients stop when the residual is this small relative to the right-hand side.
const TOLERANCE: f64 = 1e-7;

/// A sparse matrix, row by row: row `k` has `weight[start[k]..start[k + 1]]` at columns
/// `col[..]`.
struct Csr {
    start: Vec<usize>,
    col: Vec<usize>,
    weight: Vec<f64>,
}

/// Conjugate gradients with a Jacobi preconditioner for `(D − L)·x = b`, where `D = diag` and
/// `L` holds the `links` (symmetric, weights between unknown neighbours), for `m` right-hand
/// sides at once (`b[k·m + c]`): one sweep over the matrix serves them all, each with its own
/// step sizes and stopping test.
fn solve(diag: &[f64], links: &Csr, b: &[f64], x0: Vec<f64>, m: usize) -> Vec<f64> {
    let n = diag.len();
    let apply = |v: &[f64], out: &mut [f64]| {
        for k in 0..n {
            let row = links.start[k]..links.start[k + 1];
            for c in 0..m {
                let mut acc = diag[k] * v[k * m + c];
                for (&j, &wt) in links.col[row.clone()]
                    .iter()
                    .zip(&links.weight[row.clone()])
                {
                    acc -= wt * v[j * m + c];
                }
                out[k * m + c] = acc;
            }
        }
    };
    // Per right-hand side c: Σ_k a[k·m + c]·b[k·m + c].
    let dots = |a: &[f64], b: &[f64]| -> Vec<f64> {
        let mut d = vec![0f64; m];
        for (a, b) in a.chunks(m).zip(b.chunks(m)) {
            for c in 0..m {
                d[c] += a[c] * b[c];
            }
        }
        d
    };
    let precondition = |r: &[f64], z: &mut [f64]| {
        for (k, (r, z)) in r.chunks(m).zip(z.chunks_mut(m)).enumerate() {
            let d = diag[k].max(1e-300);
            for c in 0..m {
                z[c] = r[c] / d;
            }
        }
    };
    // Start from x0: r = b − A·x0.
    let mut x = x0;
    let mut r = vec![0f64; n * m];
    apply(&x, &mut r);
    for (r, b) in r.iter_mut().zip(b) {
        *r = b - *r;
    }
    let mut zr = vec![0f64; n * m];
    precondition(&r, &mut zr);
    let mut p = zr.clone();
    let mut rz = dots(&r, &zr);
    let b_norm: Vec<f64> = dots(b, b).iter().map(|d| d.sqrt().max(1e-300)).collect();
    let mut active = vec![true; m];
    let mut ap = vec![0f64; n * m];
    for _ in 0..10 * n.max(10) {
        let rr = dots(&r, &r);
        for c in 0..m {
            if rr[c].sqrt() <= TOLERANCE * b_norm[c] {
                active[c] = false;
            }
        }
        if !active.contains(&true) {
            break;
        }
        apply(&p, &mut ap);
        let pap = dots(&p, &ap);
        let mut alpha = vec![0f64; m];
        for c in 0..m {
            if active[c] && pap[c] <= 0.0 {
                active[c] = false;
            }
            if active[c] {
                alpha[c] = rz[c] / pap[c];
            }
        }
        for k in 0..n {
            for c in 0..m {
                x[k * m + c] += alpha[c] * p[k * m + c];
                r[k * m + c] -= alpha[c] * ap[k * m + c];
            }
        }
        precondition(&r, &mut zr);
        let rz_new = dots(&r, &zr);
        for c in 0..m {
            let beta = if active[c] { rz_new[c] / rz[c] } else { 0.0 };
            rz[c] = rz_new[c];
            for k in 0..n {
                p[k * m + c] = zr[k * m + c] + beta * p[k * m + c];
            }
        }
    }
    x
}

/// Normal noise of standard deviation `sigma` from a fixed seed (a 64-bit LCG and
/// Box–Muller), so that `camscope metrics` gives the same ROAD numbers run to run.
pub fn seeded_noise(sigma: f32, seed: u64) -> impl FnMut() -> f32 {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    move || {
        if sigma == 0.0 {
            return 0.0;
        }
        let (u, v) = (next(), next());
        (sigma as f64 * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

/// ROAD's scores for one map: the probability change (after − before) per percentile, for
/// most relevant first and least relevant first, their means and the combined score.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Road {
    pub percentiles: Vec<f32>,
    pub morf: Vec<f32>,
    pub lerf: Vec<f32>,
    pub morf_mean: f32,
    pub lerf_mean: f32,
    /// `(lerf_mean − morf_mean) / 2`: higher is better.
    pub combined: f32,
}

/// ROAD of `map` (input resolution, values in [0, 1]) for `input` `(1, 3, H, W)` and `class`,
/// with imputation noise of standard deviation `noise` (0 for none) drawn from `seed`. The 18
/// imputations run in parallel.
pub fn road(
    model: &Model,
    input: &Tensor,
    map: &Map,
    class: usize,
    noise: f32,
    seed: u64,
) -> Result<Road> {
    use rayon::prelude::*;
    model.check_class(class)?;
    let (_, _, h, w) = input.dims4()?;
    check_map(map, (h, w))?;
    let x = input.flatten_all()?.to_vec1::<f32>()?;
    let inverted: Vec<f32> = map.data.iter().map(|v| 1.0 - v).collect();
    let jobs: Vec<(&Vec<f32>, f32)> = [&map.data, &inverted]
        .into_iter()
        .flat_map(|m| PERCENTILES.iter().map(move |&p| (m, p)))
        .collect();
    let imputed: Vec<Vec<f32>> = jobs
        .par_iter()
        .enumerate()
        .map(|(k, (m, p))| {
            let t = percentile(m, *p);
            let keep: Vec<bool> = m.iter().map(|&v| v < t).collect();
            impute(&x, &keep, (h, w), &mut seeded_noise(noise, seed + k as u64))
        })
        .collect();
    let mut images = x.clone();
    for im in imputed {
        images.extend(im);
    }
    let n = images.len() / (3 * h * w);
    let batch = Tensor::from_vec(images, (n, 3, h, w), model.device())?;
    let probs = probabilities(&model.logits_from(None, &batch)?, class)?;
    let k = PERCENTILES.len();
    let morf: Vec<f32> = probs[1..1 + k].iter().map(|p| p - probs[0]).collect();
    let lerf: Vec<f32> = probs[1 + k..1 + 2 * k]
        .iter()
        .map(|p| p - probs[0])
        .collect();
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let (morf_mean, lerf_mean) = (mean(&morf), mean(&lerf));
    Ok(Road {
        percentiles: PERCENTILES.to_vec(),
        combined: (lerf_mean - morf_mean) / 2.0,
        morf,
        lerf,
        morf_mean,
        lerf_mean,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_noise_is_normal_and_repeatable() {
        let draws: Vec<f32> = {
            let mut n = seeded_noise(0.5, 7);
            (0..20_000).map(|_| n()).collect()
        };
        let mean = draws.iter().sum::<f32>() / draws.len() as f32;
        let sd =
            (draws.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / draws.len() as f32).sqrt();
        assert!(
            mean.abs() < 0.02 && (sd - 0.5).abs() < 0.02,
            "mean {mean}, sd {sd}"
        );
        let mut again = seeded_noise(0.5, 7);
        assert_eq!(again(), draws[0]);
        assert_eq!(seeded_noise(0.0, 7)(), 0.0);
    }

    #[test]
    fn percentile_follows_numpy() {
        // np.percentile([1, 2, 3, 4], [0, 10, 50, 90, 100]) = [1, 1.3, 2.5, 3.7, 4].
        let v = [4.0, 1.0, 3.0, 2.0];
        for (p, want) in [
            (0.0, 1.0),
            (10.0, 1.3),
            (50.0, 2.5),
            (90.0, 3.7),
            (100.0, 4.0),
        ] {
            assert!((percentile(&v, p) - want).abs() < 1e-6, "{p}");
        }
    }

    #[test]
    fn imputation_of_a_linear_ramp_is_exact_inside() {
        // A plane x + 2y is harmonic for this symmetric stencil: a hole inside is refilled
        // exactly.
        let (h, w) = (7, 9);
        let img: Vec<f32> = (0..h * w)
            .map(|i| (i % w) as f32 + 2.0 * (i / w) as f32)
            .collect();
        let mut keep = vec![true; h * w];
        for y in 2..5 {
            for x in 3..7 {
                keep[y * w + x] = false;
            }
        }
        let out = impute(&img, &keep, (h, w), &mut || 0.0);
        for i in 0..h * w {
            assert!(
                (out[i] - img[i]).abs() < 1e-5,
                "pixel {i}: {} vs {}",
                out[i],
                img[i]
            );
        }
    }
}
