//! Average pooling: adaptive (as two averaging matrices), fixed windows with and without ceil
//! mode, timm VGG's minimum-size guard, and global average pooling.

use candle_core::{Device, Tensor};

use crate::engine::error::Result;

/// `AdaptiveAvgPool2d((oh, ow))` as two averaging matrices: `P_h · X · P_wᵀ`.
pub struct AdaptiveAvgPool {
    pub out_h: usize,
    pub out_w: usize,
}

/// The `(out, n)` matrix that averages PyTorch's adaptive-pool bins
/// `[floor(i·n/out), ceil((i+1)·n/out))`.
fn adaptive_matrix(out: usize, n: usize, dev: &Device) -> Result<Tensor> {
    let mut m = vec![0f32; out * n];
    for i in 0..out {
        let a = i * n / out;
        let b = ((i + 1) * n).div_ceil(out);
        for j in a..b {
            m[i * n + j] = 1.0 / (b - a) as f32;
        }
    }
    Ok(Tensor::from_vec(m, (out, n), dev)?)
}

impl AdaptiveAvgPool {
    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        if (h, w) == (self.out_h, self.out_w) {
            return Ok(x.clone());
        }
        let ph = adaptive_matrix(self.out_h, h, x.device())?;
        let pw = adaptive_matrix(self.out_w, w, x.device())?;
        Ok(ph
            .broadcast_matmul(&x.contiguous()?)?
            .broadcast_matmul(&pw.t()?)?)
    }

    pub(super) fn backward(&self, g: &Tensor, h: usize, w: usize) -> Result<Tensor> {
        if (h, w) == (self.out_h, self.out_w) {
            return Ok(g.clone());
        }
        let ph = adaptive_matrix(self.out_h, h, g.device())?;
        let pw = adaptive_matrix(self.out_w, w, g.device())?;
        Ok(ph
            .t()?
            .broadcast_matmul(&g.contiguous()?)?
            .broadcast_matmul(&pw)?)
    }
}

/// PyTorch's `AvgPool2d(kernel, stride, padding=0, ceil_mode, count_include_pad=False)`:
/// with `ceil`, timm's average-pool shortcut ("ResNet-D"), where a window that hangs over the
/// edge averages only the pixels it covers; without, DenseNet's transitions (`AvgPool2d(2, 2)`,
/// whole windows only).
pub struct AvgPool {
    pub kernel: usize,
    pub stride: usize,
    pub ceil: bool,
}

impl AvgPool {
    /// `ceil((n − k) / s) + 1`, less one if the last window would start past the input; or
    /// `floor((n − k) / s) + 1` without ceil mode.
    fn out_size(&self, n: usize) -> usize {
        let (k, s) = (self.kernel, self.stride);
        if !self.ceil {
            return (n - k) / s + 1;
        }
        let mut out = n.saturating_sub(k).div_ceil(s) + 1;
        if (out - 1) * s >= n {
            out -= 1;
        }
        out
    }

    /// The `[start, end)` input rows (or columns) of output `o`.
    fn window(&self, o: usize, n: usize) -> (usize, usize) {
        let a = o * self.stride;
        (a, (a + self.kernel).min(n))
    }

    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        if !self.ceil {
            super::check_window((h, w), self.kernel, "average pool")?;
        }
        let (oh, ow) = (self.out_size(h), self.out_size(w));
        let data = x.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?;
        let mut out = vec![0f32; n * c * oh * ow];
        for plane in 0..n * c {
            let src = &data[plane * h * w..(plane + 1) * h * w];
            for oy in 0..oh {
                let (ya, yb) = self.window(oy, h);
                for ox in 0..ow {
                    let (xa, xb) = self.window(ox, w);
                    let mut sum = 0f32;
                    for row in src[ya * w..yb * w].chunks_exact(w) {
                        sum += row[xa..xb].iter().sum::<f32>();
                    }
                    out[(plane * oh + oy) * ow + ox] = sum / ((yb - ya) * (xb - xa)) as f32;
                }
            }
        }
        Ok(Tensor::from_vec(out, (n, c, oh, ow), x.device())?)
    }

    pub(super) fn backward(&self, g: &Tensor, h: usize, w: usize) -> Result<Tensor> {
        let (n, c, oh, ow) = g.dims4()?;
        let gd = g.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?;
        let mut out = vec![0f32; n * c * h * w];
        for plane in 0..n * c {
            let dst = &mut out[plane * h * w..(plane + 1) * h * w];
            for oy in 0..oh {
                let (ya, yb) = self.window(oy, h);
                for ox in 0..ow {
                    let (xa, xb) = self.window(ox, w);
                    let share = gd[(plane * oh + oy) * ow + ox] / ((yb - ya) * (xb - xa)) as f32;
                    for row in dst[ya * w..yb * w].chunks_exact_mut(w) {
                        row[xa..xb].iter_mut().for_each(|v| *v += share);
                    }
                }
            }
        }
        Ok(Tensor::from_vec(out, (n, c, h, w), g.device())?)
    }
}

/// timm VGG's `ConvMlp` guard: a map smaller than `size` on a side is average-pooled
/// (adaptively) up to `size`, so that the 7×7 `pre_logits.fc1` convolution always fits.
pub struct MinSizePool {
    pub size: usize,
}

impl MinSizePool {
    fn pool(&self, h: usize, w: usize) -> AdaptiveAvgPool {
        AdaptiveAvgPool {
            out_h: h.max(self.size),
            out_w: w.max(self.size),
        }
    }

    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        if h >= self.size && w >= self.size {
            return Ok(x.clone());
        }
        self.pool(h, w).forward(x)
    }

    pub(super) fn backward(&self, g: &Tensor, h: usize, w: usize) -> Result<Tensor> {
        if h >= self.size && w >= self.size {
            return Ok(g.clone());
        }
        self.pool(h, w).backward(g, h, w)
    }
}

/// Mean over the spatial dimensions, keeping them as `1 × 1`.
pub(super) fn global_avg_forward(x: &Tensor) -> Result<Tensor> {
    Ok(x.mean_keepdim((2, 3))?)
}

/// The gradient of [`global_avg_forward`] for an input of spatial size `(h, w)`.
pub(super) fn global_avg_backward(g: &Tensor, h: usize, w: usize) -> Result<Tensor> {
    let (n, c, _, _) = g.dims4()?;
    Ok((g.broadcast_as((n, c, h, w))? / (h * w) as f64)?)
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};

    use super::*;

    #[test]
    fn avg_pool_ceil_mode_averages_only_covered_pixels() -> Result<()> {
        // PyTorch: AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) on a 1×1×3×3 ramp
        // gives [[3, 4.5], [7.5, 9]] for the values 1..=9.
        let x = Tensor::arange(1f32, 10., &Device::Cpu)?.reshape((1, 1, 3, 3))?;
        let p = AvgPool {
            kernel: 2,
            stride: 2,
            ceil: true,
        };
        let y = p.forward(&x)?.flatten_all()?.to_vec1::<f32>()?;
        assert_eq!(y, [3., 4.5, 7.5, 9.]);
        // Without ceil mode (DenseNet's transitions) the partial windows are dropped.
        let floor = AvgPool { ceil: false, ..p };
        assert_eq!(floor.forward(&x)?.flatten_all()?.to_vec1::<f32>()?, [3.]);
        let g = p.backward(&Tensor::ones((1, 1, 2, 2), DType::F32, &Device::Cpu)?, 3, 3)?;
        let g = g.flatten_all()?.to_vec1::<f32>()?;
        assert_eq!(g, [0.25, 0.25, 0.5, 0.25, 0.25, 0.5, 0.5, 0.5, 1.]);
        Ok(())
    }

    #[test]
    fn adaptive_pool_bins_follow_pytorch() -> Result<()> {
        // PyTorch: AdaptiveAvgPool2d(3) on 1..=5 along one axis -> bins [0,2),[1,4),[3,5).
        let m = adaptive_matrix(3, 5, &Device::Cpu)?.to_vec2::<f32>()?;
        assert_eq!(m[0], [0.5, 0.5, 0., 0., 0.]);
        assert_eq!(m[1], [0., 1. / 3., 1. / 3., 1. / 3., 0.]);
        assert_eq!(m[2], [0., 0., 0., 0.5, 0.5]);
        Ok(())
    }
}
