//! Fully connected layers. The backward pass computes the input gradient only (for VGG's
//! 25088 × 4096 fc6, a weight gradient would be 100 M numbers nobody asked for).

use candle_core::Tensor;

use crate::engine::error::Result;

/// A fully connected layer, `y = x Wᵀ + b`.
pub struct Linear {
    /// `(out, in)`.
    pub weight: Tensor,
    /// `(out,)`.
    pub bias: Tensor,
}

impl Linear {
    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        super::count_flops(2 * (x.elem_count() * self.weight.dim(0)?) as u64);
        Ok(x.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)?)
    }

    pub(super) fn backward(&self, g: &Tensor) -> Result<Tensor> {
        Ok(g.matmul(&self.weight)?)
    }
}
