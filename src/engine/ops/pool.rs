//! Max-pooling with PyTorch's tie rule (average pooling is in `avg_pool`).

use candle_core::{DType, Device, Tensor};

use super::cpu::with_cpu_slice;
use super::phases::Phases;
use super::simd::wide_fn;
use crate::engine::error::Result;

/// `best = max(best, run)` element-wise, a NaN winning and ties keeping the earlier value;
/// with `tap`, the winner's tap number. Selects without branches, so it vectorizes in
/// [`wide`].
#[inline(always)]
fn max_taps(best: &mut [f32], tap: Option<(&mut [u32], u32)>, run: &[f32]) {
    match tap {
        Some((tap, t)) => {
            for ((b, i), &v) in best.iter_mut().zip(tap.iter_mut()).zip(run) {
                let take = (v > *b) | v.is_nan();
                *b = if take { v } else { *b };
                *i = if take { t } else { *i };
            }
        }
        None => {
            for (b, &v) in best.iter_mut().zip(run) {
                *b = if (v > *b) | v.is_nan() { v } else { *b };
            }
        }
    }
}

/// The tap that won, per output; NONE: no value beat -inf, PyTorch then names the window's
/// first position inside the plane.
const NONE: u32 = u32::MAX;

wide_fn! {
/// One plane of [`MaxPool::forward`].
fn pool_plane(
    ph: &Phases,
    argmax: bool,
    io: (&[f32], &mut [f32], &mut [u32]),
    scratch: &mut Scratch,
) {
    let (src, out, arg) = io;
    let (k, s, w, ow) = (ph.k, ph.s, ph.w, ph.out.1);
    let (buf, best, tap) = scratch;
    ph.scatter(src, buf, f32::NEG_INFINITY);
    best.fill(f32::NEG_INFINITY);
    tap.fill(NONE);
    for t in 0..k * k {
        let at = ph.tap(t / k, t % k);
        let run = &buf[at..at + ph.run()];
        if argmax {
            max_taps(best, Some((tap, t as u32)), run);
        } else {
            max_taps(best, None, run);
        }
    }
    for (o, b) in out.chunks_exact_mut(ow).zip(best.chunks_exact(ph.width)) {
        o.copy_from_slice(&b[..ow]);
    }
    if argmax {
        // A winning tap is inside the plane (the -inf padding never wins).
        let [pt, _, pl, _] = ph.pads;
        let base = |oy: usize, ox: usize| (oy * s * w + ox * s).wrapping_sub(pt * w + pl);
        let offset: Vec<usize> = (0..k * k).map(|t| (t / k) * w + t % k).collect();
        for (oy, (a, t)) in arg
            .chunks_exact_mut(ow)
            .zip(tap.chunks(ph.width))
            .enumerate()
        {
            for (ox, (a, &t)) in a.iter_mut().zip(t).enumerate() {
                let i = if t == NONE {
                    (0..k * k)
                        .find_map(|t| ph.input_at((oy, ox), (t / k, t % k)))
                        .unwrap_or(0)
                } else {
                    base(oy, ox).wrapping_add(offset[t as usize])
                };
                *a = i as u32;
            }
        }
    }
}
}

/// A max-pool task's scratch: the phase-split plane, the running maxima and their taps.
type Scratch = (Vec<f32>, Vec<f32>, Vec<u32>);

/// Max-pooling with implicit -inf padding, PyTorch's `MaxPool2d(k, stride, padding,
/// ceil_mode)`: with `ceil` (GoogLeNet, SqueezeNet) a last window that hangs over the bottom /
/// right edge is kept, unless it would start in the padding.
pub struct MaxPool {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub ceil: bool,
}

impl MaxPool {
    fn out_size(&self, n: usize) -> usize {
        let (k, s, p) = (self.kernel, self.stride, self.padding);
        if !self.ceil {
            return (n + 2 * p - k) / s + 1;
        }
        let mut out = (n + 2 * p - k).div_ceil(s) + 1;
        if (out - 1) * s >= n + p {
            out -= 1;
        }
        out
    }

    /// `[top, bottom, left, right]` -inf padding for an `h × w` plane: the bottom and right
    /// grow in ceil mode to hold the last window.
    fn pads(&self, h: usize, w: usize) -> [usize; 4] {
        let (k, s, p) = (self.kernel, self.stride, self.padding);
        let far = |n: usize| {
            ((self.out_size(n) - 1) * s + k)
                .saturating_sub(n + p)
                .max(p)
        };
        [p, far(h), p, far(w)]
    }

    /// Output, and with `argmax` the flat argmax per output element (index into the input's
    /// `h * w` plane). Runs on the CPU, planes in parallel tasks; other devices copy through
    /// it. The plane goes into a -inf-padded, stride-phase-split scratch ([`Phases`]), where
    /// each window tap is one vectorized compare-and-select over the whole output plane; taps
    /// in row-major window order with a strict `>` keep the first maximum, and a NaN wins, as
    /// in PyTorch.
    pub(super) fn forward(&self, x: &Tensor, argmax: bool) -> Result<(Tensor, Option<Tensor>)> {
        use rayon::prelude::*;
        let (n, c, h, w) = x.dims4()?;
        let (k, st, p) = (self.kernel, self.stride, self.padding);
        super::check_window((h + 2 * p, w + 2 * p), k, "max-pool")?;
        let (oh, ow) = (self.out_size(h), self.out_size(w));
        let ph = Phases::new((h, w), k, st, self.pads(h, w));
        debug_assert_eq!(ph.out, (oh, ow));
        let mut out = vec![0f32; n * c * oh * ow];
        let mut arg = vec![0u32; if argmax { n * c * oh * ow } else { 0 }];
        let x_cpu = x.to_device(&Device::Cpu)?;
        let per_task = (1 << 15) / (ph.run() * k * k).max(1);
        super::cpu::with_cpu_slice(&x_cpu, |data| {
            let init = || -> Scratch {
                (
                    vec![0f32; ph.len()],
                    vec![0f32; ph.run()],
                    vec![0u32; ph.run()],
                )
            };
            let planes = |(plane, (out, arg)): (usize, (&mut [f32], &mut [u32])),
                          s: &mut Scratch| {
                let src = &data[plane * h * w..(plane + 1) * h * w];
                pool_plane(&ph, argmax, (src, out, arg), s)
            };
            if argmax {
                out.par_chunks_mut(oh * ow)
                    .zip(arg.par_chunks_mut(oh * ow))
                    .enumerate()
                    .with_min_len(per_task.max(1))
                    .for_each_init(init, |s, item| planes(item, s));
            } else {
                out.par_chunks_mut(oh * ow)
                    .enumerate()
                    .with_min_len(per_task.max(1))
                    .for_each_init(init, |s, (plane, out)| planes((plane, (out, &mut [])), s));
            }
        })?;
        let dev = x.device();
        let out = Tensor::from_vec(out, (n, c, oh, ow), dev)?;
        let arg = if argmax {
            Some(Tensor::from_vec(arg, (n * c, oh * ow), dev)?)
        } else {
            None
        };
        Ok((out, arg))
    }

    pub(super) fn backward(g: &Tensor, arg: &Tensor, in_shape: &[usize]) -> Result<Tensor> {
        use rayon::prelude::*;
        let (n, c, h, w) = (in_shape[0], in_shape[1], in_shape[2], in_shape[3]);
        if !g.device().is_cpu() || g.dtype() != DType::F32 {
            let g = g.flatten_from(2)?.reshape((n * c, ()))?.contiguous()?;
            let z = Tensor::zeros((n * c, h * w), g.dtype(), g.device())?;
            return Ok(z.scatter_add(arg, &g, 1)?.reshape((n, c, h, w))?);
        }
        // Each output's gradient added at its argmax, one plane per task.
        let per = g.elem_count() / (n * c).max(1);
        let args = arg.flatten_all()?.to_vec1::<u32>()?;
        let mut dx = vec![0f32; n * c * h * w];
        with_cpu_slice(g, |g| {
            dx.par_chunks_mut((h * w).max(1))
                .zip(g.par_chunks(per.max(1)).zip(args.par_chunks(per.max(1))))
                .for_each(|(dx, (g, a))| {
                    for (&v, &i) in g.iter().zip(a) {
                        dx[i as usize] += v;
                    }
                });
        })?;
        Ok(Tensor::from_vec(dx, (n, c, h, w), &Device::Cpu)?)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};

    use super::*;

    #[test]
    fn max_pool_routes_gradient_to_first_maximum_like_pytorch() -> Result<()> {
        // A 4x4 plane of zeros (e.g. after ReLU): every 2x2 window ties.
        let x = Tensor::zeros((1, 1, 4, 4), DType::F32, &Device::Cpu)?;
        let op = crate::engine::ops::Op::MaxPool(MaxPool {
            kernel: 2,
            stride: 2,
            padding: 0,
            ceil: false,
        });
        let (y, s) = op.forward(&x, true)?;
        let g = Tensor::ones(y.dims(), DType::F32, &Device::Cpu)?;
        let gx = op.backward(&s, &g, crate::engine::ops::Grad::Plain)?;
        let gx = gx.flatten_all()?.to_vec1::<f32>()?;
        let want = [
            1., 0., 1., 0., 0., 0., 0., 0., 1., 0., 1., 0., 0., 0., 0., 0.,
        ];
        assert_eq!(gx, want);
        Ok(())
    }

    /// PyTorch's CPU max-pool rule, written out window by window: the first position inside
    /// the plane, then every later value that is larger or NaN.
    fn max_pool_reference(
        x: &[f32],
        (h, w): (usize, usize),
        k: usize,
        s: usize,
        p: usize,
    ) -> (Vec<f32>, Vec<u32>) {
        let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
        let (mut out, mut arg) = (Vec::new(), Vec::new());
        for oy in 0..oh {
            for ox in 0..ow {
                let (ya, yb) = ((oy * s).saturating_sub(p), (oy * s + k - p).min(h));
                let (xa, xb) = ((ox * s).saturating_sub(p), (ox * s + k - p).min(w));
                let (mut best, mut at) = (f32::NEG_INFINITY, ya * w + xa);
                for yy in ya..yb {
                    for xx in xa..xb {
                        let v = x[yy * w + xx];
                        if v > best || v.is_nan() {
                            (best, at) = (v, yy * w + xx);
                        }
                    }
                }
                out.push(best);
                arg.push(at as u32);
            }
        }
        (out, arg)
    }

    /// The vectorized max-pool against the reference on planes with ties (small integers),
    /// -inf and NaN, for VGG's 2×2 / 2 and ResNet's 3×3 / 2 padded pools, odd sizes, a batch.
    #[test]
    fn max_pool_matches_pytorch_rule() -> Result<()> {
        for &(k, s, p, h, w) in &[
            (2, 2, 0, 8, 8),
            (3, 2, 1, 9, 12),
            (2, 2, 0, 7, 5),
            (3, 1, 1, 5, 6),
            (3, 3, 1, 10, 8),
        ] {
            let n = 2 * 3 * h * w;
            let mut v: Vec<f32> = (0..n).map(|i| ((i * 7919) % 5) as f32 - 2.0).collect();
            v[3] = f32::NEG_INFINITY;
            v[w + 1] = f32::NAN;
            v[h * w..2 * h * w].fill(f32::NEG_INFINITY);
            let x = Tensor::from_vec(v.clone(), (2, 3, h, w), &Device::Cpu)?;
            let pool = MaxPool {
                kernel: k,
                stride: s,
                padding: p,
                ceil: false,
            };
            let (y, arg) = pool.forward(&x, true)?;
            let (y2, none) = pool.forward(&x, false)?;
            assert!(none.is_none());
            let (y, y2) = (
                y.flatten_all()?.to_vec1::<f32>()?,
                y2.flatten_all()?.to_vec1::<f32>()?,
            );
            let arg = arg.expect("argmax").flatten_all()?.to_vec1::<u32>()?;
            let plane = y.len() / 6;
            for c in 0..6 {
                let (want, want_arg) =
                    max_pool_reference(&v[c * h * w..(c + 1) * h * w], (h, w), k, s, p);
                let got = &y[c * plane..(c + 1) * plane];
                let same = |a: &[f32], b: &[f32]| {
                    a.iter()
                        .zip(b)
                        .all(|(a, b)| a == b || a.is_nan() && b.is_nan())
                };
                assert!(
                    same(got, &want),
                    "k{k} s{s} p{p} plane {c}: {got:?} vs {want:?}"
                );
                assert!(
                    same(&y2[c * plane..(c + 1) * plane], &want),
                    "k{k} s{s} p{p} plane {c}, no argmax"
                );
                assert_eq!(
                    &arg[c * plane..(c + 1) * plane],
                    &want_arg[..],
                    "k{k} s{s} p{p} plane {c}"
                );
            }
        }
        Ok(())
    }

    /// PyTorch: `MaxPool2d(3, 2, ceil_mode=True)` on a 6×6 ramp keeps a third, partial
    /// window per side (3×3 out; 2×2 without ceil mode).
    #[test]
    fn max_pool_ceil_mode_keeps_the_partial_last_window() -> Result<()> {
        let x = Tensor::arange(0f32, 36., &Device::Cpu)?.reshape((1, 1, 6, 6))?;
        let pool = MaxPool {
            kernel: 3,
            stride: 2,
            padding: 0,
            ceil: true,
        };
        let (y, arg) = pool.forward(&x, true)?;
        assert_eq!(
            y.flatten_all()?.to_vec1::<f32>()?,
            [14., 16., 17., 26., 28., 29., 32., 34., 35.]
        );
        let g = MaxPool::backward(&y.ones_like()?, &arg.unwrap(), &[1, 1, 6, 6])?;
        assert_eq!(g.sum_all()?.to_scalar::<f32>()?, 9.0);
        let floor = MaxPool {
            ceil: false,
            ..pool
        };
        assert_eq!(floor.forward(&x, false)?.0.dims(), [1, 1, 2, 2]);
        Ok(())
    }
}
