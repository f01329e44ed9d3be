//! Convolutions as matrix products on the CPU (f32, NCHW), with the `gemm` crate (what candle's
//! matmul uses; it approaches this CPU's peak with AVX-512 and runs on every core). candle's own
//! CPU convolution is a direct loop at a few percent of peak.
//!
//! Forward, per image and group: `Y (C_out × OH·OW) = W (C_out × C_in·k·k) · cols`, where
//! `cols` is the im2col matrix of the input; a 1×1 stride-1 convolution needs no im2col — the
//! input already is `C_in × H·W`. The bias is the initial value of `Y` (fused into the product).
//!
//! Input gradient: `cols = Wᵀ · dY`, then col2im adds each column back where it was read from.
//! Unlike the zero-dilated transposed convolution, a strided convolution wastes nothing.

use candle_core::{Device, Tensor};
use gemm::{Parallelism, gemm};

use crate::engine::error::Result;

/// The shape of one convolution.
#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    pub n: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub groups: usize,
}

impl Geometry {
    pub fn out_hw(&self) -> (usize, usize) {
        (
            (self.h + 2 * self.pad - self.k) / self.stride + 1,
            (self.w + 2 * self.pad - self.k) / self.stride + 1,
        )
    }

    fn cin_g(&self) -> usize {
        self.cin / self.groups
    }

    fn cout_g(&self) -> usize {
        self.cout / self.groups
    }

    /// Rows of the im2col matrix of one group.
    fn patch(&self) -> usize {
        self.cin_g() * self.k * self.k
    }

    /// A 1×1, stride-1, unpadded convolution reads its input as it is.
    fn is_pointwise(&self) -> bool {
        self.k == 1 && self.stride == 1 && self.pad == 0
    }
}

fn parallelism() -> Parallelism {
    Parallelism::Rayon(0)
}

/// `c (m × n, row-major) (+)= a · b`, `a` of `m × k` and `b` of `k × n` with the given row and
/// column strides.
#[allow(clippy::too_many_arguments)]
fn matmul(
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    (a_rs, a_cs): (usize, usize),
    b: &[f32],
    (b_rs, b_cs): (usize, usize),
    c: &mut [f32],
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    let last =
        |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs + 1;
    assert!(
        k == 0 || (a.len() >= last(m, k, a_rs, a_cs) && b.len() >= last(k, n, b_rs, b_cs)),
        "matmul operands too small"
    );
    assert!(c.len() >= m * n, "matmul destination too small");
    // SAFETY: the asserts above keep every index gemm touches inside the three slices, `c`
    // does not alias `a` or `b` (it is borrowed mutably), and f32 is one of gemm's types.
    unsafe {
        gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism(),
        );
    }
}

/// The im2col matrix (`cin_g·k·k × oh·ow`) of channels `c0..c0 + cin_g` of one image.
fn im2col(x: &[f32], g: &Geometry, c0: usize, cols: &mut [f32]) {
    let (oh, ow) = g.out_hw();
    let (k, s, p) = (g.k, g.stride, g.pad);
    for c in 0..g.cin_g() {
        let plane = &x[(c0 + c) * g.h * g.w..(c0 + c + 1) * g.h * g.w];
        for ky in 0..k {
            for kx in 0..k {
                let row = ((c * k + ky) * k + kx) * oh * ow;
                let dst = &mut cols[row..row + oh * ow];
                for oy in 0..oh {
                    let iy = (oy * s + ky) as isize - p as isize;
                    let line = &mut dst[oy * ow..(oy + 1) * ow];
                    if iy < 0 || iy >= g.h as isize {
                        line.fill(0.0);
                        continue;
                    }
                    let src = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    for (ox, d) in line.iter_mut().enumerate() {
                        let ix = (ox * s + kx) as isize - p as isize;
                        *d = if ix >= 0 && ix < g.w as isize {
                            src[ix as usize]
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
}

/// Adds the columns of `cols` back into channels `c0..` of `dx` (the transpose of im2col).
fn col2im(cols: &[f32], g: &Geometry, c0: usize, dx: &mut [f32]) {
    let (oh, ow) = g.out_hw();
    let (k, s, p) = (g.k, g.stride, g.pad);
    for c in 0..g.cin_g() {
        let plane = &mut dx[(c0 + c) * g.h * g.w..(c0 + c + 1) * g.h * g.w];
        for ky in 0..k {
            for kx in 0..k {
                let row = ((c * k + ky) * k + kx) * oh * ow;
                let src = &cols[row..row + oh * ow];
                for oy in 0..oh {
                    let iy = (oy * s + ky) as isize - p as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let line = &mut plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    for (ox, &v) in src[oy * ow..(oy + 1) * ow].iter().enumerate() {
                        let ix = (ox * s + kx) as isize - p as isize;
                        if ix >= 0 && ix < g.w as isize {
                            line[ix as usize] += v;
                        }
                    }
                }
            }
        }
    }
}

/// `conv(x) + bias` for `x` of `(n, cin, h, w)` and `weight` of `(cout, cin/groups, k, k)`,
/// row-major; returns `(n, cout, oh, ow)`.
pub fn forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &Geometry) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let (cin_g, cout_g, patch) = (g.cin_g(), g.cout_g(), g.patch());
    let plane_out = oh * ow;
    let mut y = vec![0f32; g.n * g.cout * plane_out];
    if let Some(b) = bias {
        for img in y.chunks_mut(g.cout * plane_out) {
            for (c, ch) in img.chunks_mut(plane_out).enumerate() {
                ch.fill(b[c]);
            }
        }
    }
    let mut cols = if g.is_pointwise() {
        Vec::new()
    } else {
        vec![0f32; patch * plane_out]
    };
    for b in 0..g.n {
        let xb = &x[b * g.cin * g.h * g.w..(b + 1) * g.cin * g.h * g.w];
        for grp in 0..g.groups {
            let w = &weight[grp * cout_g * patch..(grp + 1) * cout_g * patch];
            let start = (b * g.cout + grp * cout_g) * plane_out;
            let yg = &mut y[start..start + cout_g * plane_out];
            let rhs: &[f32] = if g.is_pointwise() {
                &xb[grp * cin_g * plane_out..(grp + 1) * cin_g * plane_out]
            } else {
                im2col(xb, g, grp * cin_g, &mut cols);
                &cols
            };
            matmul(
                (cout_g, plane_out, patch),
                w,
                (patch, 1),
                rhs,
                (plane_out, 1),
                yg,
                bias.is_some(),
            );
        }
    }
    y
}

/// `∂L/∂x` from `∂L/∂y` (`(n, cout, oh, ow)`), for the geometry of the forward pass.
pub fn backward(dy: &[f32], weight: &[f32], g: &Geometry) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let (cin_g, cout_g, patch) = (g.cin_g(), g.cout_g(), g.patch());
    let plane_out = oh * ow;
    let plane_in = g.h * g.w;
    let mut dx = vec![0f32; g.n * g.cin * plane_in];
    let mut cols = if g.is_pointwise() {
        Vec::new()
    } else {
        vec![0f32; patch * plane_out]
    };
    for b in 0..g.n {
        for grp in 0..g.groups {
            let w = &weight[grp * cout_g * patch..(grp + 1) * cout_g * patch];
            let start = (b * g.cout + grp * cout_g) * plane_out;
            let dyg = &dy[start..start + cout_g * plane_out];
            let dxb = &mut dx[b * g.cin * plane_in..(b + 1) * g.cin * plane_in];
            // Wᵀ (patch × cout_g): element (i, j) is w[j·patch + i].
            if g.is_pointwise() {
                let dst = &mut dxb[grp * cin_g * plane_in..(grp + 1) * cin_g * plane_in];
                matmul(
                    (patch, plane_out, cout_g),
                    w,
                    (1, patch),
                    dyg,
                    (plane_out, 1),
                    dst,
                    false,
                );
            } else {
                matmul(
                    (patch, plane_out, cout_g),
                    w,
                    (1, patch),
                    dyg,
                    (plane_out, 1),
                    &mut cols,
                    false,
                );
                col2im(&cols, g, grp * cin_g, dxb);
            }
        }
    }
    dx
}

/// The f32 data of a CPU tensor, made contiguous first if it is not.
pub fn cpu_data(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

/// Runs `f` on the f32 data of a contiguous CPU tensor without copying it.
pub fn with_cpu_slice<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match (&*storage, layout.contiguous_offsets()) {
        (candle_core::Storage::Cpu(cpu), Some((start, end))) => {
            Ok(f(&cpu.as_slice::<f32>()?[start..end]))
        }
        _ => {
            drop(storage);
            Ok(f(&cpu_data(&t)?))
        }
    }
}

/// A `(n, c, h, w)` CPU tensor from its data.
pub fn tensor(data: Vec<f32>, shape: (usize, usize, usize, usize)) -> Result<Tensor> {
    Ok(Tensor::from_vec(data, shape, &Device::Cpu)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against candle's direct convolution, for the shapes our models use (strided, padded,
    /// grouped, pointwise, a batch of two).
    #[test]
    fn forward_matches_candle() -> Result<()> {
        let dev = Device::Cpu;
        for &(n, cin, cout, k, s, p, groups, h) in &[
            (1, 3, 8, 7, 2, 3, 1, 23),
            (2, 8, 16, 3, 1, 1, 1, 9),
            (1, 8, 8, 3, 2, 1, 4, 10),
            (2, 16, 32, 1, 1, 0, 1, 7),
            (1, 16, 24, 1, 2, 0, 1, 8),
            (1, 4, 6, 5, 2, 0, 2, 11),
        ] {
            let x = Tensor::randn(0f32, 1f32, (n, cin, h, h + 1), &dev)?;
            let w = Tensor::randn(0f32, 1f32, (cout, cin / groups, k, k), &dev)?;
            let bias = Tensor::randn(0f32, 1f32, cout, &dev)?;
            let want = x
                .conv2d(&w, p, s, 1, groups)?
                .broadcast_add(&bias.reshape((1, cout, 1, 1))?)?;
            let g = Geometry {
                n,
                cin,
                h,
                w: h + 1,
                cout,
                k,
                stride: s,
                pad: p,
                groups,
            };
            let got = forward(
                &cpu_data(&x)?,
                &cpu_data(&w)?,
                Some(&bias.to_vec1::<f32>()?),
                &g,
            );
            let want = cpu_data(&want)?;
            assert_eq!(got.len(), want.len());
            let err = got
                .iter()
                .zip(&want)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(err < 1e-4, "{g:?}: {err}");
        }
        Ok(())
    }
}
