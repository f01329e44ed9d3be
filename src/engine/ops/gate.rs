//! Squeeze-and-excitation (Hu et al. 2018) in each family's form: every channel of `x` scaled
//! by a gate computed from the channel means, `y = x ⊙ gate(W₂ act(W₁ mean_hw(x) + b₁) + b₂)`.
//! timm's `SEModule` and RegNet's are ReLU + sigmoid, EfficientNet's SiLU + sigmoid,
//! MobileNet-V3's ReLU + Hardsigmoid.
//!
//! Backward: `∂y/∂x` has two paths — through the scaling (`g ⊙ s`) and through the gate (its
//! gradient `Σ_hw g ⊙ x`, back through the gate function, W₂, the activation (a ReLU is guided
//! like every `nn.ReLU` in guided backprop, as pytorch-grad-cam replaces them), W₁ and the
//! mean).

use candle_core::Tensor;
use rayon::prelude::*;

use super::Grad;
use super::act::Act;
use super::activation::on_cpu;
use super::cpu::{cpu_data, with_cpu_slice};
use super::simd::wide_fn;
use crate::engine::error::Result;

wide_fn! {
    /// The sum of `x` in sixteen running sums (which vectorize; a single one is a chain of
    /// dependent additions).
    fn plane_sum(x: &[f32]) -> f32 {
        let mut acc = [0f32; 16];
        let chunks = x.chunks_exact(16);
        let rest = chunks.remainder().iter().sum::<f32>();
        for ch in chunks {
            for (a, &v) in acc.iter_mut().zip(ch) {
                *a += v;
            }
        }
        acc.iter().sum::<f32>() + rest
    }
}

wide_fn! {
    /// `o = x · g`.
    fn scale_into(o: &mut [f32], x: &[f32], g: f32) {
        for (o, &x) in o.iter_mut().zip(x) {
            *o = x * g;
        }
    }
}

/// `(n, rows)` from `(n, cols)` inputs: `out = b + W · v` per image, `W` `(rows, cols)`.
fn affine(v: &[f32], w: &[f32], b: &[f32], cols: usize) -> Vec<f32> {
    let rows = b.len();
    v.chunks_exact(cols)
        .flat_map(|v| {
            (0..rows).map(move |j| {
                b[j] + w[j * cols..(j + 1) * cols]
                    .iter()
                    .zip(v)
                    .map(|(a, b)| a * b)
                    .sum::<f32>()
            })
        })
        .collect()
}

/// A squeeze-and-excitation module with its 1×1 convolutions stored as matrices.
pub struct SqueezeExcite {
    /// `(reduced, C)`.
    pub w1: Tensor,
    /// `(reduced,)`.
    pub b1: Tensor,
    /// `(C, reduced)`.
    pub w2: Tensor,
    /// `(C,)`.
    pub b2: Tensor,
    /// After the first layer.
    pub act: Act,
    /// Makes the gate from the second layer's output.
    pub gate: Act,
}

/// What the backward pass needs: the input, the first layer's output before its activation,
/// the second's before the gate function, and the gate.
pub struct GateSaved {
    x: Tensor,
    hidden: Tensor,
    z: Tensor,
    gate: Tensor,
}

impl SqueezeExcite {
    pub(super) fn forward(&self, x: &Tensor) -> Result<(Tensor, GateSaved)> {
        if on_cpu(x) && on_cpu(&self.w1) {
            return self.forward_cpu(x);
        }
        self.forward_candle(x)
    }

    /// [`Self::forward`] through candle's ops, on any device and dtype.
    fn forward_candle(&self, x: &Tensor) -> Result<(Tensor, GateSaved)> {
        let (n, c, _, _) = x.dims4()?;
        let squeezed = x.mean((2, 3))?;
        let hidden = squeezed.matmul(&self.w1.t()?)?.broadcast_add(&self.b1)?;
        let z = self
            .act
            .forward(&hidden)?
            .matmul(&self.w2.t()?)?
            .broadcast_add(&self.b2)?;
        let gate = self.gate.forward(&z)?;
        let y = x.broadcast_mul(&gate.reshape((n, c, 1, 1))?)?;
        Ok((
            y,
            GateSaved {
                x: x.clone(),
                hidden,
                z,
                gate,
            },
        ))
    }

    /// [`Self::forward`] on the CPU in one parallel pass over the planes for the means and
    /// one for the scaling, the two small layers in between as plain loops (candle's ops, on
    /// their own threads, cost more than the arithmetic here).
    fn forward_cpu(&self, x: &Tensor) -> Result<(Tensor, GateSaved)> {
        let (n, c, h, w) = x.dims4()?;
        let hw = h * w;
        let (w1, b1) = (cpu_data(&self.w1)?, cpu_data(&self.b1)?);
        let (w2, b2) = (cpu_data(&self.w2)?, cpu_data(&self.b2)?);
        let r = b1.len();
        let dev = x.device();
        let (y, hidden, z, gate) = with_cpu_slice(x, |xd| {
            let means: Vec<f32> = xd
                .par_chunks(hw)
                .map(|p| plane_sum(p) / hw as f32)
                .collect();
            let hidden = affine(&means, &w1, &b1, c);
            let a: Vec<f32> = hidden.iter().map(|&v| self.act.value(v)).collect();
            let z = affine(&a, &w2, &b2, r);
            let gate: Vec<f32> = z.iter().map(|&v| self.gate.value(v)).collect();
            let mut y = vec![0f32; xd.len()];
            y.par_chunks_mut(hw)
                .zip(xd.par_chunks(hw))
                .zip(gate.par_iter())
                .for_each(|((o, x), &g)| scale_into(o, x, g));
            (y, hidden, z, gate)
        })?;
        Ok((
            Tensor::from_vec(y, (n, c, h, w), dev)?,
            GateSaved {
                x: x.clone(),
                hidden: Tensor::from_vec(hidden, (n, r), dev)?,
                z: Tensor::from_vec(z, (n, c), dev)?,
                gate: Tensor::from_vec(gate, (n, c), dev)?,
            },
        ))
    }

    pub(super) fn backward(&self, s: &GateSaved, g: &Tensor, mode: Grad) -> Result<Tensor> {
        let (n, c, h, w) = s.x.dims4()?;
        let gate4 = s.gate.reshape((n, c, 1, 1))?;
        let through_scale = g.broadcast_mul(&gate4)?;
        let g_gate = g.mul(&s.x)?.sum((2, 3))?;
        let g_z = self.gate.backward(&s.z, &g_gate, mode)?;
        let g_a = g_z.matmul(&self.w2)?;
        let g_hidden = self.act.backward(&s.hidden, &g_a, mode)?;
        let g_mean = g_hidden.matmul(&self.w1)?;
        let through_gate = (g_mean.reshape((n, c, 1, 1))? / (h * w) as f64)?;
        Ok(through_scale.broadcast_add(&through_gate)?)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};

    use super::super::fd::assert_input_gradient;
    use super::*;

    /// The CPU pass against candle's ops, in float32: output and every saved tensor.
    #[test]
    fn cpu_pass_matches_candle_ops() -> Result<()> {
        let dev = Device::Cpu;
        let t = |shape: &[usize], seed: u64| -> Result<Tensor> {
            Ok(Tensor::randn(0f32, 1f32, shape, &dev)?.affine(1.0, seed as f64 * 0.01)?)
        };
        for (act, gate) in [(Act::Silu, Act::Sigmoid), (Act::Relu, Act::Hardsigmoid)] {
            let se = SqueezeExcite {
                w1: t(&[3, 8], 1)?,
                b1: t(&[3], 2)?,
                w2: t(&[8, 3], 3)?,
                b2: t(&[8], 4)?,
                act,
                gate,
            };
            let x = t(&[2, 8, 5, 7], 5)?;
            let (y, s) = se.forward_cpu(&x)?;
            let (want, ws) = se.forward_candle(&x)?;
            for (what, a, b) in [
                ("y", &y, &want),
                ("hidden", &s.hidden, &ws.hidden),
                ("z", &s.z, &ws.z),
                ("gate", &s.gate, &ws.gate),
            ] {
                let d = (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
                assert!(d < 1e-5, "{}/{} {what}: {d}", act.name(), gate.name());
            }
        }
        Ok(())
    }

    /// The analytic gradient against central differences of `Σ r ⊙ y` in float64.
    #[test]
    fn gradient_matches_finite_differences() -> Result<()> {
        let dev = Device::Cpu;
        let t = |shape: &[usize], seed: u64| -> Result<Tensor> {
            let n: usize = shape.iter().product();
            let v: Vec<f64> = (0..n)
                .map(|i| (((i as u64 + 1) * 2654435761 + seed * 97) % 1000) as f64 / 500.0 - 1.0)
                .collect();
            Ok(Tensor::from_vec(v, shape, &dev)?)
        };
        for (act, gate) in [
            (Act::Relu, Act::Sigmoid),
            (Act::Silu, Act::Sigmoid),
            (Act::Relu, Act::Hardsigmoid),
        ] {
            let se = SqueezeExcite {
                w1: t(&[2, 4], 1)?,
                b1: t(&[2], 2)?,
                w2: t(&[4, 2], 3)?,
                b2: t(&[4], 4)?,
                act,
                gate,
            };
            let x = t(&[1, 4, 3, 3], 5)?;
            let r = t(&[1, 4, 3, 3], 6)?;
            let (_, saved) = se.forward(&x)?;
            let got = se.backward(&saved, &r, Grad::Plain)?;
            let what = format!("{}/{}", act.name(), gate.name());
            let forward = |xi: &Tensor| Ok(se.forward(xi)?.0);
            assert_input_gradient(&x, &r, &got, forward, 1e-7, &what)?;
            assert_eq!(x.dtype(), DType::F64);
        }
        Ok(())
    }
}
