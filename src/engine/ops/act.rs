//! The smooth activations of the newer CNNs — SiLU (EfficientNet), GELU (ConvNeXt), Hardswish
//! and Hardsigmoid (MobileNet-V3), the sigmoid of squeeze-and-excitation gates — with their
//! input gradients, PyTorch's formulas at every boundary.
//!
//! Guided backprop follows pytorch-grad-cam, which replaces only `nn.ReLU` modules: these pass
//! the plain gradient in both modes. [`Act::Relu`] (the ReLU inside a gate) is the exception.

use candle_core::Tensor;

use super::Grad;
use super::activation::{activation_backward, activation_forward, on_cpu, zip_map};
use crate::engine::error::Result;

/// An element-wise activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// `nn.ReLU`: guided in guided backprop.
    Relu,
    /// `x · σ(x)`.
    Silu,
    /// `x · Φ(x)`, the exact (erf) form, PyTorch's default.
    Gelu,
    /// `x · clamp(x + 3, 0, 6) / 6`.
    Hardswish,
    /// `clamp(x + 3, 0, 6) / 6`.
    Hardsigmoid,
    /// `1 / (1 + e^−x)`.
    Sigmoid,
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl Act {
    pub fn name(self) -> &'static str {
        match self {
            Act::Relu => "ReLU",
            Act::Silu => "SiLU",
            Act::Gelu => "GELU",
            Act::Hardswish => "Hardswish",
            Act::Hardsigmoid => "Hardsigmoid",
            Act::Sigmoid => "sigmoid",
        }
    }

    #[inline(always)]
    fn value(self, x: f32) -> f32 {
        match self {
            Act::Relu => x.max(0.0),
            Act::Silu => x * sigmoid(x),
            Act::Gelu => 0.5 * x * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2)),
            Act::Hardswish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
            Act::Hardsigmoid => (x + 3.0).clamp(0.0, 6.0) / 6.0,
            Act::Sigmoid => sigmoid(x),
        }
    }

    /// `∂value/∂x`, with PyTorch's choices at the kinks (`hardswish_backward`,
    /// `hardsigmoid_backward`).
    #[inline(always)]
    fn slope(self, x: f32) -> f32 {
        match self {
            Act::Relu => f32::from(u8::from(x > 0.0)),
            Act::Silu => {
                let s = sigmoid(x);
                s * (1.0 + x * (1.0 - s))
            }
            Act::Gelu => {
                let cdf = 0.5 * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2));
                let pdf = (-0.5 * x * x).exp()
                    * (0.5 * std::f32::consts::FRAC_2_SQRT_PI)
                    * std::f32::consts::FRAC_1_SQRT_2;
                cdf + x * pdf
            }
            Act::Hardswish if x < -3.0 => 0.0,
            Act::Hardswish if x <= 3.0 => x / 3.0 + 0.5,
            Act::Hardswish => 1.0,
            Act::Hardsigmoid if x > -3.0 && x < 3.0 => 1.0 / 6.0,
            Act::Hardsigmoid => 0.0,
            Act::Sigmoid => {
                let s = sigmoid(x);
                s * (1.0 - s)
            }
        }
    }

    pub(super) fn forward(self, x: &Tensor) -> Result<Tensor> {
        if self == Act::Relu {
            return activation_forward(x, false);
        }
        if on_cpu(x) {
            return zip_map(x, x, |o, x, _| {
                for (o, &x) in o.iter_mut().zip(x) {
                    *o = self.value(x);
                }
            });
        }
        self.elementwise_off_cpu(x, false)
    }

    /// The gradient with respect to the input `x` given the output's `g`.
    pub(super) fn backward(self, x: &Tensor, g: &Tensor, mode: Grad) -> Result<Tensor> {
        if self == Act::Relu {
            return activation_backward(x, g, false, mode);
        }
        if on_cpu(x) && on_cpu(g) && x.dims() == g.dims() {
            return zip_map(x, g, |o, x, g| {
                for ((o, &x), &g) in o.iter_mut().zip(x).zip(g) {
                    *o = g * self.slope(x);
                }
            });
        }
        Ok(self.elementwise_off_cpu(x, true)?.mul(g)?)
    }

    /// The value (or, with `slope`, the derivative) through candle's ops, on any device and
    /// dtype.
    fn elementwise_off_cpu(self, x: &Tensor, slope: bool) -> Result<Tensor> {
        let sig = |x: &Tensor| -> Result<Tensor> { Ok((x.neg()?.exp()? + 1.0)?.recip()?) };
        let between = |x: &Tensor, lo: f64, hi: f64| -> Result<Tensor> {
            Ok(x.ge(lo)?
                .to_dtype(x.dtype())?
                .mul(&x.le(hi)?.to_dtype(x.dtype())?)?)
        };
        Ok(match (self, slope) {
            (Act::Relu, false) => x.relu()?,
            (Act::Relu, true) => x.gt(0.0)?.to_dtype(x.dtype())?,
            (Act::Silu, false) => x.silu()?,
            (Act::Silu, true) => {
                let s = sig(x)?;
                s.mul(&((x.mul(&(1.0 - &s)?)? + 1.0)?))?
            }
            (Act::Gelu, false) => x.gelu_erf()?,
            (Act::Gelu, true) => {
                let cdf = (((x * std::f64::consts::FRAC_1_SQRT_2)?.erf()? + 1.0)? * 0.5)?;
                let pdf = ((x.sqr()? * -0.5)?.exp()? * (0.5 / std::f64::consts::PI).sqrt())?;
                (cdf + x.mul(&pdf)?)?
            }
            (Act::Hardswish, false) => x.mul(&(((x + 3.0)?.clamp(0.0, 6.0)? / 6.0)?))?,
            (Act::Hardswish, true) => {
                // 0 below −3, x/3 + 1/2 on [−3, 3], 1 above.
                let mid = between(x, -3.0, 3.0)?;
                let above = x.gt(3.0)?.to_dtype(x.dtype())?;
                ((x / 3.0)? + 0.5)?.mul(&mid)?.add(&above)?
            }
            (Act::Hardsigmoid, false) => ((x + 3.0)?.clamp(0.0, 6.0)? / 6.0)?,
            (Act::Hardsigmoid, true) => {
                let open = x
                    .gt(-3.0)?
                    .to_dtype(x.dtype())?
                    .mul(&x.lt(3.0)?.to_dtype(x.dtype())?)?;
                (open / 6.0)?
            }
            (Act::Sigmoid, false) => sig(x)?,
            (Act::Sigmoid, true) => {
                let s = sig(x)?;
                s.mul(&(1.0 - &s)?)?
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;

    const ALL: [Act; 6] = [
        Act::Relu,
        Act::Silu,
        Act::Gelu,
        Act::Hardswish,
        Act::Hardsigmoid,
        Act::Sigmoid,
    ];

    /// Points away from the kinks (±3 for the hard ones, 0 for ReLU).
    fn points() -> Vec<f32> {
        (0..64).map(|i| -5.3 + i as f32 * 0.1687).collect()
    }

    /// The CPU derivative against central differences of the CPU value (f64 arithmetic on the
    /// f32 values), and the CPU path against the candle-ops path (what other devices run).
    #[test]
    fn gradients_match_finite_differences_and_the_device_path() -> Result<()> {
        let dev = Device::Cpu;
        let xs = points();
        let x = Tensor::new(xs.as_slice(), &dev)?;
        let ones = Tensor::ones(xs.len(), candle_core::DType::F32, &dev)?;
        for act in ALL {
            let g = act.backward(&x, &ones, Grad::Plain)?.to_vec1::<f32>()?;
            for (i, &x0) in xs.iter().enumerate() {
                let h = 1e-3f64;
                let f = |d: f64| {
                    let v = x0 as f64 + d;
                    act.value(v as f32) as f64
                };
                let fd = (f(h) - f(-h)) / (2.0 * h);
                assert!(
                    (g[i] as f64 - fd).abs() < 2e-3,
                    "{} at {x0}: {} vs finite difference {fd}",
                    act.name(),
                    g[i]
                );
            }
            let y = act.forward(&x)?.to_vec1::<f32>()?;
            let y_dev = act.elementwise_off_cpu(&x, false)?.to_vec1::<f32>()?;
            let g_dev = act.elementwise_off_cpu(&x, true)?.to_vec1::<f32>()?;
            for i in 0..xs.len() {
                assert!(
                    (y[i] - y_dev[i]).abs() < 1e-6,
                    "{} value at {}",
                    act.name(),
                    xs[i]
                );
                assert!(
                    (g[i] - g_dev[i]).abs() < 1e-6,
                    "{} slope at {}",
                    act.name(),
                    xs[i]
                );
            }
        }
        Ok(())
    }

    /// Only ReLU is guided (pytorch-grad-cam replaces `nn.ReLU` modules and nothing else).
    #[test]
    fn only_relu_is_guided() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::new(&[1f32, 2.0], &dev)?;
        let g = Tensor::new(&[-1f32, 1.0], &dev)?;
        for act in ALL {
            let plain = act.backward(&x, &g, Grad::Plain)?.to_vec1::<f32>()?;
            let guided = act.backward(&x, &g, Grad::Guided)?.to_vec1::<f32>()?;
            if act == Act::Relu {
                assert_eq!(guided, [0.0, 1.0]);
            } else {
                assert_eq!(plain, guided, "{}", act.name());
            }
        }
        Ok(())
    }
}
