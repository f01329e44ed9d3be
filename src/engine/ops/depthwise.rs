//! Depthwise convolutions (one filter per channel, MobileNet-style blocks) on the CPU: forward
//! with the zero padding (symmetric, or TensorFlow "SAME"), bias and ReLU / ReLU6 in one pass,
//! and the input gradient.
//!
//! Each plane is copied once into a zero-padded scratch split into `s × s` stride phases
//! ([`Phases`]); there every kernel tap reads the whole output plane as one contiguous run, so a
//! tap is one long vectorized multiply-add, with no bounds checks and no short rows (the late
//! 7×7 and 14×14 planes made per-row loops crawl). Rows come out `width` wide; the columns past
//! the output's are scratch and dropped.

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use super::activation::clamp_in_place;
use super::gemm_conv::{Geometry, cpu_data, with_cpu_slice};
use super::simd::{axpy, wide};
use crate::engine::error::Result;

/// Zero padding `[top, bottom, left, right]`.
pub type Pads = [usize; 4];

/// Multiply-adds a parallel task should at least hold.
const TASK_WORK: usize = 1 << 15;

/// The zero-padded plane (`h + top + bottom` × `w + left + right`) as `s × s` phase planes:
/// phase `(p, q)` holds the padded rows `≡ p` and columns `≡ q` (mod `s`), `rows × width`
/// each, so padded `(r, c)` lies at `phase(r mod s, c mod s) + (r / s)·width + c / s`.
struct Phases {
    s: usize,
    rows: usize,
    width: usize,
    k: usize,
    pads: Pads,
    out: (usize, usize),
}

impl Phases {
    fn new(g: &Geometry, pads: Pads) -> Self {
        let (s, k) = (g.stride, g.k);
        let [t, b, l, r] = pads;
        let (ph, pw) = (g.h + t + b, g.w + l + r);
        Self {
            s,
            rows: ph.div_ceil(s),
            width: pw.div_ceil(s),
            k,
            pads,
            out: ((ph - k) / s + 1, (pw - k) / s + 1),
        }
    }

    /// Scratch length: the phases, plus the few elements the last tap's run reads past them
    /// (in columns that are dropped).
    fn len(&self) -> usize {
        self.s * self.s * self.rows * self.width + self.k
    }

    /// Length of one tap's run: every output row, `width` wide.
    fn run(&self) -> usize {
        self.out.0 * self.width
    }

    /// Where tap `(ky, kx)`'s run starts: output `(oy, ox)` reads padded
    /// `(oy·s + ky, ox·s + kx)`, i.e. this offset plus `oy·width + ox`.
    fn tap(&self, ky: usize, kx: usize) -> usize {
        let s = self.s;
        ((ky % s) * s + kx % s) * self.rows * self.width + (ky / s) * self.width + kx / s
    }

    /// Calls `f(phase_row, ix0)` for input row `iy` and each column phase: the phase row's
    /// slice start in the scratch, and the first input column `ix0` of that phase (then every
    /// `s`-th), whose place in the phase row is `(ix0 + left) / s`.
    fn for_row(&self, iy: usize, w: usize, mut f: impl FnMut(usize, usize)) {
        let s = self.s;
        let [t, _, l, _] = self.pads;
        let r = iy + t;
        for q in 0..s {
            let ix0 = (q + s - l % s) % s;
            if ix0 < w {
                let base = ((r % s) * s + q) * self.rows * self.width + (r / s) * self.width;
                f(base + (ix0 + l) / s, ix0);
            }
        }
    }

    /// Copies an input plane (`h × w`) into the zeroed scratch.
    #[inline(always)]
    fn scatter(&self, src: &[f32], h: usize, w: usize, buf: &mut [f32]) {
        buf.fill(0.0);
        for iy in 0..h {
            let row = &src[iy * w..(iy + 1) * w];
            self.for_row(iy, w, |at, ix0| {
                let n = (w - ix0).div_ceil(self.s);
                let dst = &mut buf[at..at + n];
                if self.s == 1 {
                    dst.copy_from_slice(row);
                } else {
                    for (d, &v) in dst.iter_mut().zip(row[ix0..].iter().step_by(self.s)) {
                        *d = v;
                    }
                }
            });
        }
    }

    /// Reads the interior of the scratch back into a plane (`h × w`): the transpose of
    /// [`Self::scatter`].
    #[inline(always)]
    fn gather(&self, buf: &[f32], h: usize, w: usize, dst: &mut [f32]) {
        for iy in 0..h {
            let row = &mut dst[iy * w..(iy + 1) * w];
            self.for_row(iy, w, |at, ix0| {
                let n = (w - ix0).div_ceil(self.s);
                let src = &buf[at..at + n];
                if self.s == 1 {
                    row.copy_from_slice(src);
                } else {
                    for (d, &v) in row[ix0..].iter_mut().step_by(self.s).zip(src) {
                        *d = v;
                    }
                }
            });
        }
    }
}

/// Output planes per parallel task, so that a task holds at least [`TASK_WORK`].
fn planes_per_task(ph: &Phases) -> usize {
    (TASK_WORK / (ph.run() * ph.k * ph.k).max(1)).max(1)
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
    let ph = Phases::new(g, pads);
    let (oh, ow) = ph.out;
    let mut out = vec![0f32; g.n * c * oh * ow];
    out.par_chunks_mut(oh * ow)
        .enumerate()
        .with_min_len(planes_per_task(&ph))
        .for_each_init(
            || (vec![0f32; ph.len()], vec![0f32; ph.run()]),
            |(buf, acc), (plane, dst)| {
                wide(|| {
                    let ch = plane % c;
                    ph.scatter(&x[plane * h * w..(plane + 1) * h * w], h, w, buf);
                    acc.fill(bias.map_or(0.0, |b| b[ch]));
                    for ky in 0..k {
                        for kx in 0..k {
                            let at = ph.tap(ky, kx);
                            axpy(acc, &buf[at..at + ph.run()], wv[(ch * k + ky) * k + kx]);
                        }
                    }
                    for (d, a) in dst.chunks_exact_mut(ow).zip(acc.chunks_exact(ph.width)) {
                        d.copy_from_slice(&a[..ow]);
                    }
                    if let Some(six) = act {
                        clamp_in_place(dst, six);
                    }
                })
            },
        );
    out
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
    let geom = Geometry {
        n,
        cin: c,
        h,
        w: wd,
        cout: c,
        k,
        stride: s,
        pad: 0,
        groups: c,
    };
    let ph = Phases::new(&geom, pads);
    debug_assert_eq!(ph.out, (oh, ow));
    let mut out = vec![0f32; n * c * h * wd];
    with_cpu_slice(&g.to_device(&Device::Cpu)?, |gv| {
        out.par_chunks_mut(h * wd)
            .enumerate()
            .with_min_len(planes_per_task(&ph))
            .for_each_init(
                || (vec![0f32; ph.len()], vec![0f32; ph.run()]),
                |(buf, acc), (plane, dst)| {
                    wide(|| {
                        let ch = plane % c;
                        // The output gradient in the scratch's row width, zero past `ow`.
                        let src = &gv[plane * oh * ow..(plane + 1) * oh * ow];
                        for (a, s) in acc.chunks_exact_mut(ph.width).zip(src.chunks_exact(ow)) {
                            a[..ow].copy_from_slice(s);
                            a[ow..].fill(0.0);
                        }
                        buf.fill(0.0);
                        for ky in 0..k {
                            for kx in 0..k {
                                let at = ph.tap(ky, kx);
                                let wt = wv[(ch * k + ky) * k + kx];
                                axpy(&mut buf[at..at + ph.run()], acc, wt);
                            }
                        }
                        ph.gather(buf, h, wd, dst);
                    })
                },
            );
    })?;
    Ok(Tensor::from_vec(out, (n, c, h, wd), g.device())?)
}
