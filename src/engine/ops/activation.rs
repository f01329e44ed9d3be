//! ReLU and ReLU6, and their backward passes, plain (PyTorch's: no gradient at x = 0) or
//! guided; on the CPU each is one parallel pass with one allocation (candle's ops make a tensor
//! per step: mask, cast, multiply).

use candle_core::{DType, Tensor};

use super::Grad;
use super::cpu::with_cpu_slice;
use super::simd::wide_fn;
use crate::engine::error::Result;

fn relu_mask(x: &Tensor, six: bool) -> Result<Tensor> {
    let m = x.gt(0f32)?.to_dtype(x.dtype())?;
    Ok(if six {
        m.mul(&x.lt(6f32)?.to_dtype(x.dtype())?)?
    } else {
        m
    })
}

/// Elements per parallel task of the element-wise passes below.
const CHUNK: usize = 1 << 14;

/// Whether `t` takes the CPU element-wise path.
pub(super) fn on_cpu(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32
}

/// `kernel(out, a, b)` over parallel chunks of `a` and `b`, as a tensor of `a`'s shape.
pub(super) fn zip_map(
    a: &Tensor,
    b: &Tensor,
    kernel: impl Fn(&mut [f32], &[f32], &[f32]) + Sync,
) -> Result<Tensor> {
    use rayon::prelude::*;
    let mut out = vec![0f32; a.elem_count()];
    with_cpu_slice(a, |a| {
        with_cpu_slice(b, |b| {
            out.par_chunks_mut(CHUNK)
                .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
                .for_each(|(o, (a, b))| kernel(o, a, b))
        })
    })??;
    Ok(Tensor::from_vec(out, a.dims(), a.device())?)
}

// Selects, not branches or `max` / `min`: NaN stays NaN, as in PyTorch, and the loops
// vectorize.

wide_fn! {
    /// `o = clamp(a, lo, hi)`.
    fn clamp_into(o: &mut [f32], a: &[f32], lo: f32, hi: f32) {
        for (o, &v) in o.iter_mut().zip(a) {
            let v = if v < lo { lo } else { v };
            *o = if v > hi { hi } else { v };
        }
    }
}

wide_fn! {
    /// `o = max(a + b, lo)`.
    fn add_floor(o: &mut [f32], a: &[f32], b: &[f32], lo: f32) {
        for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
            let s = a + b;
            *o = if s < lo { lo } else { s };
        }
    }
}

wide_fn! {
    /// `o = g` where `0 < x < hi` (and, `guided`, `g > 0`), else 0.
    fn gate_into(o: &mut [f32], x: &[f32], g: &[f32], hi: f32, guided: bool) {
        for ((o, &x), &g) in o.iter_mut().zip(x).zip(g) {
            // `&` / `|`, not `&&` / `||`: no branches.
            let pass = (x > 0.0) & (x < hi) & (!guided | (g > 0.0));
            *o = if pass { g } else { 0.0 };
        }
    }
}

wide_fn! {
    /// ReLU (or ReLU6) in place on the CPU: the epilogue of a convolution.
    pub(super) fn clamp_in_place(v: &mut [f32], six: bool) {
        let hi = if six { 6.0 } else { f32::INFINITY };
        for x in v {
            let t = *x;
            let t = if t < 0.0 { 0.0 } else { t };
            *x = if t > hi { hi } else { t };
        }
    }
}

/// ReLU / ReLU6 forward.
pub(super) fn activation_forward(x: &Tensor, six: bool) -> Result<Tensor> {
    if !on_cpu(x) {
        return Ok(if six { x.clamp(0f32, 6f32)? } else { x.relu()? });
    }
    let hi = if six { 6.0 } else { f32::INFINITY };
    zip_map(x, x, |o, x, _| clamp_into(o, x, 0.0, hi))
}

/// `post(a + b)` for a residual connection, ReLU when `relu`, in one pass on the CPU.
pub(super) fn add_maybe_relu(a: &Tensor, b: &Tensor, relu: bool) -> Result<Tensor> {
    if !on_cpu(a) || a.dims() != b.dims() {
        let s = a.add(b)?;
        return Ok(if relu { s.relu()? } else { s });
    }
    let lo = if relu { 0.0 } else { f32::NEG_INFINITY };
    zip_map(a, b, |o, a, b| add_floor(o, a, b, lo))
}

/// The gradient through ReLU / ReLU6 given `x`, its input — or its output: `y > 0` exactly
/// where `x > 0`, and `0 < y < 6` exactly where `0 < x < 6`, so either gives the same mask.
pub(super) fn activation_backward(x: &Tensor, g: &Tensor, six: bool, mode: Grad) -> Result<Tensor> {
    if on_cpu(x) && on_cpu(g) && x.dims() == g.dims() {
        let hi = if six { 6.0 } else { f32::INFINITY };
        // ReLU6 is not `nn.ReLU`: pytorch-grad-cam's guided backprop leaves it plain.
        let guided = mode == Grad::Guided && !six;
        return zip_map(x, g, |o, x, g| gate_into(o, x, g, hi, guided));
    }
    let g = match mode {
        Grad::Guided if !six => g.relu()?,
        _ => g.clone(),
    };
    Ok(g.mul(&relu_mask(x, six)?)?)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;

    #[test]
    fn relu_passes_no_gradient_at_zero() -> Result<()> {
        let x = Tensor::new(&[[[[-1f32, 0., 2.]]]], &Device::Cpu)?;
        let (_, s) = crate::engine::ops::Op::Relu.forward(&x, true)?;
        let g = Tensor::new(&[[[[1f32, 1., -3.]]]], &Device::Cpu)?;
        let plain = crate::engine::ops::Op::Relu.backward(&s, &g, Grad::Plain)?;
        assert_eq!(plain.flatten_all()?.to_vec1::<f32>()?, [0., 0., -3.]);
        let guided = crate::engine::ops::Op::Relu.backward(&s, &g, Grad::Guided)?;
        assert_eq!(guided.flatten_all()?.to_vec1::<f32>()?, [0., 0., 0.]);
        Ok(())
    }
}
