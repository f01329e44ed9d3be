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

use super::Grad;
use super::act::Act;
use crate::engine::error::Result;

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
