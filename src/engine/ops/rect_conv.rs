//! A stride-1 convolution with a rectangular kernel (Inception-v3's 1×7, 7×1, 1×3, 3×1) and
//! per-axis zero padding, through candle's convolution on any device: forward on the padded
//! input, input gradient as the full correlation of the output gradient with the flipped,
//! channel-transposed kernel. (The GEMM paths of [`super::Conv2d`] take square kernels.)

use candle_core::Tensor;

use super::norm::BatchNorm;
use crate::engine::error::{Error, Result};

pub struct RectConv {
    /// `(C_out, C_in, kh, kw)`.
    weight: Tensor,
    /// `(1, C_out, 1, 1)`.
    bias: Option<Tensor>,
    /// `(rows, columns)` of zero padding on each side.
    pad: (usize, usize),
    /// `(C_in, C_out, kh, kw)`, flipped: the input gradient's kernel.
    back: Tensor,
}

impl RectConv {
    pub fn new(weight: Tensor, bias: Option<Tensor>, pad: (usize, usize)) -> Result<Self> {
        let c = weight.dim(0)?;
        let bias = bias.map(|b| b.reshape((1, c, 1, 1))).transpose()?;
        let back = weight
            .transpose(0, 1)?
            .contiguous()?
            .flip(&[2, 3])?
            .contiguous()?;
        Ok(Self {
            weight,
            bias,
            pad,
            back,
        })
    }

    /// With an eval-mode BatchNorm after it folded in.
    pub fn fold_batch_norm(self, bn: &BatchNorm) -> Result<Self> {
        let (w, bias) = bn.fold_into(&self.weight, self.bias.as_ref())?;
        Self::new(w, Some(bias), self.pad)
    }

    pub fn out_channels(&self) -> usize {
        self.weight.dims()[0]
    }

    fn kernel(&self) -> (usize, usize) {
        let d = self.weight.dims();
        (d[2], d[3])
    }

    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let ((kh, kw), (ph, pw)) = (self.kernel(), self.pad);
        if h + 2 * ph < kh || w + 2 * pw < kw {
            return Err(Error::BadInput(format!(
                "the map reaching a {kh}×{kw} convolution is only {}×{} (padding included): the \
                 input is too small for this model",
                h + 2 * ph,
                w + 2 * pw
            )));
        }
        let xp = x.pad_with_zeros(2, ph, ph)?.pad_with_zeros(3, pw, pw)?;
        let y = xp.conv2d(&self.weight, 0, 1, 1, 1)?;
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }

    pub(super) fn backward(&self, g: &Tensor) -> Result<Tensor> {
        let ((kh, kw), (ph, pw)) = (self.kernel(), self.pad);
        let (a, b) = (kh - 1 - ph, kw - 1 - pw);
        let gp = g.pad_with_zeros(2, a, a)?.pad_with_zeros(3, b, b)?;
        Ok(gp.conv2d(&self.back, 0, 1, 1, 1)?)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::super::fd::assert_input_gradient;
    use super::*;

    /// The input gradient against central differences of `Σ r ⊙ y` in float64, for a 1×3 and
    /// a 3×1 kernel with "same" padding.
    #[test]
    fn gradient_matches_finite_differences() -> Result<()> {
        let dev = Device::Cpu;
        for (kh, kw) in [(1, 3), (3, 1)] {
            let w = Tensor::randn(0f64, 1f64, (2, 3, kh, kw), &dev)?;
            let conv = RectConv::new(
                w,
                Some(Tensor::new(&[0.5f64, -1.0], &dev)?),
                (kh / 2, kw / 2),
            )?;
            let x = Tensor::randn(0f64, 1f64, (1, 3, 4, 5), &dev)?;
            let y = conv.forward(&x)?;
            assert_eq!(y.dims(), [1, 2, 4, 5]);
            let r = Tensor::randn(0f64, 1f64, y.dims(), &dev)?;
            let got = conv.backward(&r)?;
            let what = format!("{kh}×{kw}");
            assert_input_gradient(&x, &r, &got, |xi| conv.forward(xi), 1e-6, &what)?;
        }
        Ok(())
    }
}
