//! The smooth activations of the newer CNNs — SiLU (EfficientNet), GELU (ConvNeXt), Hardswish
//! and Hardsigmoid (MobileNet-V3), the sigmoid of squeeze-and-excitation gates — with their
//! input gradients, PyTorch's formulas at every boundary.
//!
//! Guided backprop follows pytorch-grad-cam, which replaces only `nn.ReLU` modules: these pass
//! the plain gradient in both modes. [`Act::Relu`] (the ReLU inside a gate) is the exception.

use candle_core::Tensor;

use super::Grad;
use super::activation::{activation_backward, activation_forward, on_cpu, zip_map};
use super::simd::wide_fn;
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
    1.0 / (1.0 + exp(-x))
}

/// `e^x` in plain float and integer arithmetic that vectorizes (libm's `expf` is a call per
/// element, which made SiLU 40 % of an EfficientNet-B0 pass): Cephes' `expf` — `x = n·ln 2 + r`
/// with `ln 2` split in two, a degree-7 polynomial for `e^r` on `|r| ≤ ln 2 / 2`, `2^n` built
/// in the exponent bits. Within 2 ulp of `expf` on `[−87.3, 88.3]` (the test below); clamped
/// there, so it gives neither infinity nor 0 (`σ` and SiLU are then 0 or 1 to f32's
/// precision anyway); NaN stays NaN.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // 1.5 · 2^23: adding it rounds to an integer, which then sits in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = if x < -87.3 { -87.3 } else { x };
    let x = if x > 88.3 { 88.3 } else { x };
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_2e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    // Cephes writes 5.0000001e-1, which is 0.5 in f32.
    let p = p * r + 0.5;
    let p = p * r * r + r + 1.0;
    // t's bits are 0x4B40_0000 + n for |n| < 2^22; 2^n has the biased exponent n + 127.
    let scale = f32::from_bits((t.to_bits().wrapping_sub(0x4B40_0000).wrapping_add(127)) << 23);
    p * scale
}

/// `1 + erf(x / √2)` (twice the normal CDF, GELU's factor) from Numerical Recipes' `erfcc`,
/// `erfc(a) = t·e^(−a² + P(t))`, `t = 1 / (1 + a/2)`, whose relative error is below 1.2e-7 for
/// every `a ≥ 0`: below zero the factor is that erfc itself (no cancellation in the tail),
/// above it `2 − erfc`. Plain arithmetic with [`exp`], so it vectorizes (libm's `erff` is a
/// call per element).
#[inline(always)]
fn one_plus_erf(x: f32) -> f32 {
    let a = x * std::f32::consts::FRAC_1_SQRT_2;
    let a_abs = if a < 0.0 { -a } else { a };
    let t = 1.0 / (1.0 + 0.5 * a_abs);
    let p = 0.170_872_77;
    let p = p * t - 0.822_152_23;
    let p = p * t + 1.488_515_9;
    let p = p * t - 1.135_204;
    let p = p * t + 0.278_868_07;
    let p = p * t - 0.186_288_06;
    let p = p * t + 0.096_784_18;
    let p = p * t + 0.374_091_96;
    let p = p * t + 1.000_023_7;
    let p = p * t - 1.265_512_2;
    let erfc = t * exp(p - a_abs * a_abs);
    if a < 0.0 { erfc } else { 2.0 - erfc }
}

wide_fn! {
    /// `o = act(x)`, one loop per activation (the match is outside the loop, so each
    /// vectorizes; GELU's `erff` stays a call).
    fn values_into(o: &mut [f32], x: &[f32], act: Act) {
        match act {
            Act::Silu => o.iter_mut().zip(x).for_each(|(o, &x)| *o = x * sigmoid(x)),
            Act::Sigmoid => o.iter_mut().zip(x).for_each(|(o, &x)| *o = sigmoid(x)),
            Act::Gelu => o.iter_mut().zip(x).for_each(|(o, &x)| *o = Act::Gelu.value(x)),
            _ => o.iter_mut().zip(x).for_each(|(o, &x)| *o = act.value(x)),
        }
    }
}

wide_fn! {
    /// `o = g · act'(x)`.
    fn slopes_into(o: &mut [f32], x: &[f32], g: &[f32], act: Act) {
        let it = o.iter_mut().zip(x).zip(g);
        match act {
            Act::Silu => it.for_each(|((o, &x), &g)| *o = g * Act::Silu.slope(x)),
            Act::Sigmoid => it.for_each(|((o, &x), &g)| *o = g * Act::Sigmoid.slope(x)),
            Act::Gelu => it.for_each(|((o, &x), &g)| *o = g * Act::Gelu.slope(x)),
            _ => it.for_each(|((o, &x), &g)| *o = g * act.slope(x)),
        }
    }
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
    pub(super) fn value(self, x: f32) -> f32 {
        match self {
            Act::Relu => x.max(0.0),
            Act::Silu => x * sigmoid(x),
            Act::Gelu => 0.5 * x * one_plus_erf(x),
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
                let cdf = 0.5 * one_plus_erf(x);
                let pdf = exp(-0.5 * x * x)
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
            return zip_map(x, x, |o, x, _| values_into(o, x, self));
        }
        self.elementwise_off_cpu(x, false)
    }

    /// The gradient with respect to the input `x` given the output's `g`.
    pub(super) fn backward(self, x: &Tensor, g: &Tensor, mode: Grad) -> Result<Tensor> {
        if self == Act::Relu {
            return activation_backward(x, g, false, mode);
        }
        if on_cpu(x) && on_cpu(g) && x.dims() == g.dims() {
            return zip_map(x, g, |o, x, g| slopes_into(o, x, g, self));
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

    /// The vectorizing `exp` against the standard library's, in ulps, over its whole range.
    #[test]
    fn exp_is_within_two_ulp() {
        let mut worst = 0u32;
        for i in 0..=200_000 {
            let x = -87.3 + i as f32 * (88.3 + 87.3) / 200_000.0;
            let (got, want) = (exp(x), x.exp());
            worst = worst.max(got.to_bits().abs_diff(want.to_bits()));
        }
        assert!(worst <= 2, "{worst} ulp");
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(-1e4) > 0.0 && exp(1e4).is_finite());
    }

    /// GELU's `1 + erf(x/√2)` against libm: within 5e-7 absolute everywhere (4 ulp at 2), and within 1e-5
    /// relative below zero, where the factor is small (the reference there is the
    /// complementary form, `erfcf`, as `1 + erff` itself cancels).
    #[test]
    fn one_plus_erf_is_accurate() {
        for i in 0..=40_000 {
            let x = -12.0 + i as f32 * 24.0 / 40_000.0;
            let a = x * std::f32::consts::FRAC_1_SQRT_2;
            let got = one_plus_erf(x);
            let want = if a < 0.0 {
                libm::erfcf(-a)
            } else {
                1.0 + libm::erff(a)
            };
            assert!((got - want).abs() < 5e-7, "{x}: {got} vs {want}");
            if want > 1e-30 && a < 0.0 {
                assert!((got - want).abs() / want < 1e-5, "{x}: {got} vs {want}");
            }
        }
    }

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
