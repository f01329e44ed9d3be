//! Depthwise convolutions (one filter per channel, MobileNet-style blocks) on the CPU: forward
//! with the zero padding (symmetric, or TensorFlow "SAME"), bias and ReLU / ReLU6 in one pass,
//! and the input gradient.
//!
//! Each plane is copied once into a zero-padded scratch split into stride phases
//! ([`Phases`]); every kernel tap is then one long vectorized multiply-add over the whole
//! output plane, with no bounds checks and no short rows (the late 7×7 and 14×14 planes made
//! per-row loops crawl). candle runs a grouped convolution as one convolution per group, which
//! for EfficientNet's 1152-channel blocks costs far more than the arithmetic.

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use super::activation::clamp_in_place;
use super::cpu::{cpu_data, with_cpu_slice};
use super::geometry::Geometry;
pub use super::phases::Pads;
use super::phases::Phases;
use super::simd::{axpy, wide_fn};
use crate::engine::error::Result;

/// Multiply-adds a parallel task should at least hold.
const TASK_WORK: usize = 1 << 15;

/// Output planes per parallel task, so that a task holds at least [`TASK_WORK`].
fn planes_per_task(ph: &Phases) -> usize {
    (TASK_WORK / (ph.run() * ph.k * ph.k).max(1)).max(1)
}

wide_fn! {
    /// One plane of [`forward`]: `src` into the scratch `buf`, every tap's run into `acc`,
    /// the output columns of `acc` into `dst`.
    fn forward_plane(
        ph: &Phases,
        kernel: (&[f32], f32, Option<bool>),
        src: &[f32],
        scratch: (&mut [f32], &mut [f32]),
        dst: &mut [f32],
    ) {
        let ((taps, bias, act), (buf, acc)) = (kernel, scratch);
        let (k, ow) = (ph.k, ph.out.1);
        ph.scatter(src, buf, 0.0);
        acc.fill(bias);
        for (t, &wt) in taps.iter().enumerate() {
            let at = ph.tap(t / k, t % k);
            axpy(acc, &buf[at..at + ph.run()], wt);
        }
        for (d, a) in dst.chunks_exact_mut(ow).zip(acc.chunks_exact(ph.width)) {
            d.copy_from_slice(&a[..ow]);
        }
        if let Some(six) = act {
            clamp_in_place(dst, six);
        }
    }
}

wide_fn! {
    /// One plane of [`backward`]: the output gradient `src` into `acc` in the scratch's row
    /// width (zero past the output's columns), every tap's run added back into `buf`, its
    /// interior into `dst`.
    fn backward_plane(
        ph: &Phases,
        taps: &[f32],
        src: &[f32],
        scratch: (&mut [f32], &mut [f32]),
        dst: &mut [f32],
    ) {
        let (buf, acc) = scratch;
        let (k, ow) = (ph.k, ph.out.1);
        for (a, s) in acc.chunks_exact_mut(ph.width).zip(src.chunks_exact(ow)) {
            a[..ow].copy_from_slice(s);
            a[ow..].fill(0.0);
        }
        buf.fill(0.0);
        for (t, &wt) in taps.iter().enumerate() {
            let at = ph.tap(t / k, t % k);
            axpy(&mut buf[at..at + ph.run()], acc, wt);
        }
        ph.gather(buf, dst);
    }
}

/// `act(conv(pad(x)) + bias)` for an input `g.n × g.cin × g.h × g.w` (`g.pad` is not used:
/// `pads` is the padding), planes in parallel tasks on every core.
pub fn forward(
    x: &[f32],
    wv: &[f32],
    bias: Option<&[f32]>,
    g: &Geometry,
    pads: Pads,
    act: Option<bool>,
) -> Vec<f32> {
    let (c, h, w, k) = (g.cin, g.h, g.w, g.k);
    let ph = Phases::new((g.h, g.w), g.k, g.stride, pads);
    let (oh, ow) = ph.out;
    let mut out = vec![0f32; g.n * c * oh * ow];
    for_each_plane(&mut out, oh * ow, &ph, |plane, scratch, dst| {
        let ch = plane % c;
        let src = &x[plane * h * w..(plane + 1) * h * w];
        let bias = bias.map_or(0.0, |b| b[ch]);
        let taps = &wv[ch * k * k..(ch + 1) * k * k];
        forward_plane(&ph, (taps, bias, act), src, scratch, dst);
    });
    out
}

/// `f(plane, scratch, dst)` for each `len`-long plane of `out`, in parallel tasks of
/// [`planes_per_task`] planes, each task with its scratch for `ph`.
fn for_each_plane(
    out: &mut [f32],
    len: usize,
    ph: &Phases,
    f: impl Fn(usize, (&mut [f32], &mut [f32]), &mut [f32]) + Sync + Send,
) {
    out.par_chunks_mut(len.max(1))
        .enumerate()
        .with_min_len(planes_per_task(ph))
        .for_each_init(
            || (vec![0f32; ph.len()], vec![0f32; ph.run()]),
            |(buf, acc), (plane, dst)| f(plane, (buf, acc), dst),
        );
}

/// `dL/dx` for an input of spatial size `(h, wd)` padded by `pads`: the transpose of
/// [`forward`] — each tap's run multiply-added back into the scratch, whose interior is the
/// gradient.
pub fn backward(
    g: &Tensor,
    w: &Tensor,
    s: usize,
    pads: Pads,
    h: usize,
    wd: usize,
) -> Result<Tensor> {
    let (n, c, oh, ow) = g.dims4()?;
    let k = w.dims()[3];
    let wv = cpu_data(w)?;
    let ph = Phases::new((h, wd), k, s, pads);
    debug_assert_eq!(ph.out, (oh, ow));
    let mut out = vec![0f32; n * c * h * wd];
    with_cpu_slice(&g.to_device(&Device::Cpu)?, |gv| {
        for_each_plane(&mut out, h * wd, &ph, |plane, scratch, dst| {
            let ch = plane % c;
            let src = &gv[plane * oh * ow..(plane + 1) * oh * ow];
            let taps = &wv[ch * k * k..(ch + 1) * k * k];
            backward_plane(&ph, taps, src, scratch, dst);
        });
    })?;
    Ok(Tensor::from_vec(out, (n, c, h, wd), g.device())?)
}
