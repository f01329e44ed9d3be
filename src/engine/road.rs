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
//! every removed region touches a kept pixel), in float64, to a relative residual of 1e-10;
//! when no pixel is kept (a constant map) the removed pixels become the channel's mean of
//! nothing, 0. Then `noise · N(0, 1)` is added (0.01 in the library; its RNG is torch's, so
//! only `noise = 0` is comparable run to run: the parity test uses 0).

use candle_core::Tensor;

use super::error::Result;
use super::faithfulness::{check_map, probabilities};
use super::maps::Map;
use super::models::Model;

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
    // For each unknown pixel: its diagonal s_i and its unknown neighbours (index, weight).
    let n = unknown.len();
    let mut diag = vec![0f64; n];
    let mut links: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    let mut known: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    for (k, &i) in unknown.iter().enumerate() {
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
                links[k].push((index[j], wt));
            }
        }
    }
    let mut out = img.to_vec();
    let any_known = keep.iter().any(|&k| k);
    for c in 0..img.len() / plane {
        let src = &img[c * plane..(c + 1) * plane];
        let x = if any_known {
            let b: Vec<f64> = known
                .iter()
                .map(|ks| ks.iter().map(|&(j, wt)| wt * src[j] as f64).sum())
                .collect();
            solve(&diag, &links, &b)
        } else {
            vec![0.0; n]
        };
        for (k, &i) in unknown.iter().enumerate() {
            out[c * plane + i] = x[k] as f32 + noise();
        }
    }
    out
}

/// Conjugate gradients with a Jacobi preconditioner for `(D − L)·x = b`, where `D = diag` and
/// `L` holds the `links` (symmetric, weights between unknown neighbours).
fn solve(diag: &[f64], links: &[Vec<(usize, f64)>], b: &[f64]) -> Vec<f64> {
    let n = b.len();
    let apply = |v: &[f64], out: &mut [f64]| {
        for k in 0..n {
            out[k] = diag[k] * v[k] - links[k].iter().map(|&(j, wt)| wt * v[j]).sum::<f64>();
        }
    };
    let mut x = vec![0f64; n];
    let mut r = b.to_vec();
    let z =
        |r: &[f64]| -> Vec<f64> { r.iter().zip(diag).map(|(r, d)| r / d.max(1e-300)).collect() };
    let mut zr = z(&r);
    let mut p = zr.clone();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f64>();
    let mut rz = dot(&r, &zr);
    let b_norm = dot(b, b).sqrt().max(1e-300);
    let mut ap = vec![0f64; n];
    for _ in 0..10 * n.max(10) {
        if dot(&r, &r).sqrt() <= 1e-10 * b_norm {
            break;
        }
        apply(&p, &mut ap);
        let pap = dot(&p, &ap);
        if pap <= 0.0 {
            break;
        }
        let alpha = rz / pap;
        for k in 0..n {
            x[k] += alpha * p[k];
            r[k] -= alpha * ap[k];
        }
        zr = z(&r);
        let rz_new = dot(&r, &zr);
        let beta = rz_new / rz;
        rz = rz_new;
        for k in 0..n {
            p[k] = zr[k] + beta * p[k];
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
