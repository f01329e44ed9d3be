//! Eval-mode BatchNorm, as a per-channel affine map (folded into the preceding convolution
//! where there is one).

use candle_core::Tensor;

use crate::engine::error::Result;

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

    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let c = self.scale.dim(0)?;
        Ok(x.broadcast_mul(&self.scale.reshape((1, c, 1, 1))?)?
            .broadcast_add(&self.shift.reshape((1, c, 1, 1))?)?)
    }

    pub(super) fn backward(&self, g: &Tensor) -> Result<Tensor> {
        let c = self.scale.dim(0)?;
        Ok(g.broadcast_mul(&self.scale.reshape((1, c, 1, 1))?)?)
    }
}
