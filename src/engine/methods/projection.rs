//! The first principal component of per-channel maps: pytorch-grad-cam's `get_2d_projection`
//! (Eigen-CAM, and `eigen_smooth` for every layer-map method).
//!
//! With `M` the `(h·w) × K` matrix of the maps, its columns centred, the library takes the SVD
//! `M = U S Vᵀ` and returns `M v₁`. That equals `s₁ u₁`, so it is enough to find the top
//! eigenvector of the smaller of the two Gram matrices `M Mᵀ` and `Mᵀ M` — computed here in
//! f64 by power iteration started from the uncentred channel sum, with a Rayleigh-quotient
//! stopping rule.
//!
//! A singular vector's sign is arbitrary (LAPACK's choice decides the library's). Ours is fixed:
//! the projection correlates positively with `Σ_k` of the uncentred maps, so that for
//! activations it points where they are large.

use candle_core::Tensor;

use crate::engine::error::Result;
use crate::engine::maps::Map;

/// Power iterations at most; each costs one product with an `n × n` Gram matrix.
const MAX_ITERATIONS: usize = 20_000;

/// The projection of `maps` `(K, h, w)` on their first principal component, as an `h × w` map.
pub fn first_component(maps: &Tensor) -> Result<Map> {
    let (k, h, w) = maps.dims3()?;
    let n = h * w;
    let data = maps.flatten_all()?.to_vec1::<f32>()?;
    // NaN becomes 0, as the library does.
    let at = |c: usize, i: usize| {
        let v = data[c * n + i] as f64;
        if v.is_nan() { 0.0 } else { v }
    };
    // Centred, row-major (n × k).
    let mut m = vec![0f64; n * k];
    for c in 0..k {
        let mean = (0..n).map(|i| at(c, i)).sum::<f64>() / n as f64;
        for i in 0..n {
            m[i * k + c] = at(c, i) - mean;
        }
    }
    let sum: Vec<f64> = (0..n).map(|i| (0..k).map(|c| at(c, i)).sum()).collect();
    let projection = if n <= k {
        // Gram matrix G = M Mᵀ (n × n); its top eigenvector u with eigenvalue s²; M v = s u.
        let g = gram(&m, n, k, true);
        let (u, lambda) = top_eigenvector(&g, n, &sum);
        let s = lambda.max(0.0).sqrt();
        u.iter().map(|v| v * s).collect::<Vec<f64>>()
    } else {
        // C = Mᵀ M (k × k); its top eigenvector v; the projection is M v.
        let c = gram(&m, n, k, false);
        let start: Vec<f64> = (0..k)
            .map(|j| (0..n).map(|i| m[i * k + j] * sum[i]).sum())
            .collect();
        let (v, _) = top_eigenvector(&c, k, &start);
        (0..n)
            .map(|i| (0..k).map(|j| m[i * k + j] * v[j]).sum())
            .collect()
    };
    // The sign convention: positive correlation with the channel sum.
    let dot: f64 = projection.iter().zip(&sum).map(|(p, s)| p * s).sum();
    let sign = if dot < 0.0 { -1.0 } else { 1.0 };
    Ok(Map::new(
        w,
        h,
        projection.iter().map(|v| (sign * v) as f32).collect(),
    ))
}

/// `M Mᵀ` (`rows` = true, n × n) or `Mᵀ M` (k × k) of a row-major n × k matrix.
fn gram(m: &[f64], n: usize, k: usize, rows: bool) -> Vec<f64> {
    if rows {
        let mut g = vec![0f64; n * n];
        for a in 0..n {
            for b in a..n {
                let v: f64 = (0..k).map(|j| m[a * k + j] * m[b * k + j]).sum();
                g[a * n + b] = v;
                g[b * n + a] = v;
            }
        }
        g
    } else {
        let mut g = vec![0f64; k * k];
        for i in 0..n {
            let row = &m[i * k..(i + 1) * k];
            for a in 0..k {
                let ra = row[a];
                if ra == 0.0 {
                    continue;
                }
                for b in a..k {
                    g[a * k + b] += ra * row[b];
                }
            }
        }
        for a in 0..k {
            for b in 0..a {
                g[a * k + b] = g[b * k + a];
            }
        }
        g
    }
}

/// The unit eigenvector of the largest eigenvalue of the symmetric positive semi-definite
/// `n × n` matrix `g`, and that eigenvalue.
fn top_eigenvector(g: &[f64], n: usize, start: &[f64]) -> (Vec<f64>, f64) {
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let mut v: Vec<f64> = start.to_vec();
    if norm(&v) == 0.0 || !norm(&v).is_finite() {
        v = vec![1.0; n];
    }
    let s = norm(&v);
    v.iter_mut().for_each(|x| *x /= s);
    let mut lambda = 0.0;
    for _ in 0..MAX_ITERATIONS {
        let mut next = vec![0f64; n];
        for (a, out) in next.iter_mut().enumerate() {
            *out = g[a * n..(a + 1) * n]
                .iter()
                .zip(&v)
                .map(|(x, y)| x * y)
                .sum();
        }
        let l = norm(&next);
        if l == 0.0 {
            return (v, 0.0);
        }
        next.iter_mut().for_each(|x| *x /= l);
        let change: f64 = next
            .iter()
            .zip(&v)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        v = next;
        let done = (l - lambda).abs() <= 1e-13 * l && change <= 1e-10;
        lambda = l;
        if done {
            break;
        }
    }
    (v, lambda)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    /// Two channels that are exact multiples of one pattern: the first component is that
    /// pattern (centred), scaled by the channels' norm, with the sign of their sum.
    #[test]
    fn rank_one_maps_project_onto_their_pattern() -> Result<()> {
        let p = [1f32, 2., 4., 9.];
        let data: Vec<f32> = p
            .iter()
            .map(|v| 3.0 * v)
            .chain(p.iter().map(|v| 4.0 * v))
            .collect();
        let maps = Tensor::from_vec(data, (2, 2, 2), &Device::Cpu)?;
        let m = first_component(&maps)?;
        let mean = p.iter().sum::<f32>() / 4.0;
        for (got, v) in m.data.iter().zip(p) {
            let want = 5.0 * (v - mean);
            assert!((got - want).abs() < 1e-4, "{:?}", m.data);
        }
        Ok(())
    }

    /// Both Gram matrices give the same projection (n < K and n > K).
    #[test]
    fn both_gram_sides_agree() -> Result<()> {
        let maps = Tensor::randn(0f32, 1f32, (6, 3, 3), &Device::Cpu)?;
        let wide = first_component(&maps)?;
        let maps2 = Tensor::randn(0f32, 1f32, (12, 2, 2), &Device::Cpu)?;
        let tall = first_component(&maps2)?;
        for m in [wide, tall] {
            assert!(m.data.iter().all(|v| v.is_finite()));
        }
        // The same maps through the other side: transpose roles by padding channels.
        let data = maps.flatten_all()?.to_vec1::<f32>()?;
        let mut padded = data.clone();
        padded.extend(std::iter::repeat_n(0f32, 6 * 9));
        let padded = Tensor::from_vec(padded, (12, 3, 3), &Device::Cpu)?;
        let a = first_component(&maps)?;
        let b = first_component(&padded)?;
        for (x, y) in a.data.iter().zip(&b.data) {
            assert!((x - y).abs() < 1e-4, "{:?} vs {:?}", a.data, b.data);
        }
        Ok(())
    }
}
