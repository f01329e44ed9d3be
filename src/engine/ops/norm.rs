//! Eval-mode BatchNorm, as a per-channel affine map (folded into the preceding convolution
//! where there is one).

use candle_core::{DType, Tensor};

use super::cpu::{cpu_data, with_cpu_slice};
use super::simd::wide_fn;
use crate::engine::error::Result;

wide_fn! {
    /// `o = x · a + b`.
    fn scale_shift(o: &mut [f32], x: &[f32], a: f32, b: f32) {
        for (o, &x) in o.iter_mut().zip(x) {
            *o = x * a + b;
        }
    }
}

/// Eval-mode BatchNorm as a per-channel affine map.
pub struct BatchNorm {
    /// `gamma / sqrt(var + eps)`, shape `(C,)`.
    pub scale: Tensor,
    /// `beta - mean * scale`, shape `(C,)`.
    pub shift: Tensor,
}

impl BatchNorm {
    pub fn new(
        gamma: &Tensor,
        beta: &Tensor,
        mean: &Tensor,
        var: &Tensor,
        eps: f64,
    ) -> Result<Self> {
        let scale = gamma.div(&(var + eps)?.sqrt()?)?;
        let shift = beta.sub(&mean.mul(&scale)?)?;
        Ok(Self { scale, shift })
    }

    /// The `(C, …, kh, kw)` weight and the `(1, C, 1, 1)` bias of a convolution with weight
    /// `weight` and bias `bias` (`(1, C, 1, 1)`) followed by this BatchNorm.
    pub(super) fn fold_into(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let c = weight.dim(0)?;
        let w = weight.broadcast_mul(&self.scale.reshape((c, 1, 1, 1))?)?;
        let shift = self.shift.reshape((1, c, 1, 1))?;
        let bias = match bias {
            Some(b) => b
                .broadcast_mul(&self.scale.reshape((1, c, 1, 1))?)?
                .add(&shift)?,
            None => shift,
        };
        Ok((w, bias))
    }

    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if let Some(y) = self.affine_cpu(x, true)? {
            return Ok(y);
        }
        let c = self.scale.dim(0)?;
        Ok(x.broadcast_mul(&self.scale.reshape((1, c, 1, 1))?)?
            .broadcast_add(&self.shift.reshape((1, c, 1, 1))?)?)
    }

    pub(super) fn backward(&self, g: &Tensor) -> Result<Tensor> {
        if let Some(y) = self.affine_cpu(g, false)? {
            return Ok(y);
        }
        let c = self.scale.dim(0)?;
        Ok(g.broadcast_mul(&self.scale.reshape((1, c, 1, 1))?)?)
    }

    /// `x · scale (+ shift)` per channel in one parallel pass on the CPU (candle's broadcasts
    /// take two passes and two tensors); `None` elsewhere.
    fn affine_cpu(&self, x: &Tensor, shift: bool) -> Result<Option<Tensor>> {
        use rayon::prelude::*;
        let Ok((n, c, h, w)) = x.dims4() else {
            return Ok(None);
        };
        if !x.device().is_cpu() || x.dtype() != DType::F32 || self.scale.dims() != [c] {
            return Ok(None);
        }
        let scale = cpu_data(&self.scale)?;
        let add = if shift {
            cpu_data(&self.shift)?
        } else {
            vec![0.0; c]
        };
        let plane = h * w;
        let mut y = vec![0f32; n * c * plane];
        with_cpu_slice(x, |x| {
            y.par_chunks_mut(plane.max(1))
                .zip(x.par_chunks(plane.max(1)))
                .enumerate()
                .with_min_len((1 << 14) / plane.max(1))
                .for_each(|(i, (o, x))| scale_shift(o, x, scale[i % c], add[i % c]));
        })?;
        Ok(Some(Tensor::from_vec(y, (n, c, h, w), x.device())?))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;

    /// The one-pass CPU affine map gives candle's broadcast result bit for bit (the same two
    /// roundings), forward and backward.
    #[test]
    fn cpu_affine_matches_candle_broadcasts() -> Result<()> {
        let dev = Device::Cpu;
        let c = 3;
        let bn = BatchNorm {
            scale: Tensor::randn(0f32, 1f32, c, &dev)?,
            shift: Tensor::randn(0f32, 1f32, c, &dev)?,
        };
        let x = Tensor::randn(0f32, 1f32, (2, c, 5, 7), &dev)?;
        let (s, b) = (
            bn.scale.reshape((1, c, 1, 1))?,
            bn.shift.reshape((1, c, 1, 1))?,
        );
        let want = x.broadcast_mul(&s)?.broadcast_add(&b)?;
        let got = bn.forward(&x)?;
        assert_eq!(
            got.flatten_all()?.to_vec1::<f32>()?,
            want.flatten_all()?.to_vec1::<f32>()?
        );
        let want = x.broadcast_mul(&s)?;
        let got = bn.backward(&x)?;
        assert_eq!(
            got.flatten_all()?.to_vec1::<f32>()?,
            want.flatten_all()?.to_vec1::<f32>()?
        );
        Ok(())
    }
}
