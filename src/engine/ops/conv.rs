//! Convolution: on the CPU as matrix products ([`super::gemm_conv`]), depthwise by direct
//! loops; on other devices through candle, with the input gradient as a convolution of the
//! zero-dilated output gradient. TensorFlow "SAME" padding.

use std::sync::OnceLock;

use candle_core::{DType, Tensor};

use super::depthwise;
use super::geometry::Geometry;
use super::norm::BatchNorm;
use super::winograd;
use super::{cpu, gemm_conv};
use crate::engine::error::Result;

/// A 2-D convolution (square kernel), with BatchNorm optionally folded in at load.
pub struct Conv2d {
    weight: Tensor,
    /// Shape `(1, C_out, 1, 1)`.
    bias: Option<Tensor>,
    stride: usize,
    padding: usize,
    groups: usize,
    /// The kernel rearranged for the input-gradient convolution, made on first use.
    backward_weight: OnceLock<Tensor>,
    /// The kernel and bias as f32 host data for the CPU path, made on first use.
    host: OnceLock<(Vec<f32>, Option<Vec<f32>>)>,
    /// The Winograd-transformed kernel (stride-1 3×3 convolutions), made on first use.
    winograd: OnceLock<Vec<f32>>,
    /// The same for the input gradient (flipped, channel-transposed kernel).
    winograd_back: OnceLock<Vec<f32>>,
    /// Each group's kernel transposed (`C_in/groups·k·k × C_out/groups`, row-major) for the
    /// input gradient's `Wᵀ · dY`: the GEMM reads a row-major operand up to 2.7× faster.
    transposed: OnceLock<Vec<f32>>,
}

impl Conv2d {
    pub fn new(
        weight: Tensor,
        bias: Option<Tensor>,
        stride: usize,
        padding: usize,
        groups: usize,
    ) -> Result<Self> {
        let bias = match bias {
            Some(b) => {
                let n = b.elem_count();
                Some(b.reshape((1, n, 1, 1))?)
            }
            None => None,
        };
        Ok(Self {
            weight,
            bias,
            stride,
            padding,
            groups,
            backward_weight: OnceLock::new(),
            host: OnceLock::new(),
            winograd: OnceLock::new(),
            winograd_back: OnceLock::new(),
            transposed: OnceLock::new(),
        })
    }

    /// Folds an eval-mode BatchNorm `y = (x - mean) / sqrt(var + eps) * gamma + beta` into the
    /// convolution that feeds it.
    pub fn fold_batch_norm(self, bn: &BatchNorm) -> Result<Self> {
        let (w, bias) = bn.fold_into(&self.weight, self.bias.as_ref())?;
        Self::new(w, Some(bias), self.stride, self.padding, self.groups)
    }

    pub fn out_channels(&self) -> usize {
        self.weight.dims()[0]
    }

    /// The kernel's side.
    pub fn kernel_size(&self) -> usize {
        self.kernel()
    }

    fn kernel(&self) -> usize {
        self.weight.dims()[3]
    }

    /// Refuses an input smaller than the kernel even with its padding (`pads`: all the zero
    /// padding around it, `[top, bottom, left, right]`).
    fn check_fits(&self, x: &Tensor, pads: depthwise::Pads) -> Result<()> {
        let (_, _, h, w) = x.dims4()?;
        let [t, b, l, r] = pads;
        super::check_window((h + t + b, w + l + r), self.kernel(), "convolution")
    }

    /// One filter per channel (groups = in = out channels), as in MobileNet-style blocks.
    fn is_depthwise(&self, x: &Tensor) -> bool {
        let c = self.weight.dims()[0];
        self.groups == c
            && self.weight.dims()[1] == 1
            && x.device().is_cpu()
            && x.dims().get(1) == Some(&c)
    }

    /// Whether `x` takes the CPU matrix-product path.
    fn on_cpu(x: &Tensor) -> bool {
        x.device().is_cpu() && x.dtype() == DType::F32 && x.rank() == 4
    }

    fn host(&self) -> Result<&(Vec<f32>, Option<Vec<f32>>)> {
        if let Some(h) = self.host.get() {
            return Ok(h);
        }
        let w = cpu::cpu_data(&self.weight)?;
        let b = match &self.bias {
            Some(b) => Some(cpu::cpu_data(b)?),
            None => None,
        };
        Ok(self.host.get_or_init(|| (w, b)))
    }

    fn geometry(&self, n: usize, cin: usize, h: usize, w: usize) -> Geometry {
        Geometry {
            n,
            cin,
            h,
            w,
            cout: self.out_channels(),
            k: self.kernel(),
            stride: self.stride,
            pad: self.padding,
            groups: self.groups,
        }
    }

    fn count_flops(&self, x: &Tensor) {
        if let Ok((n, _, h, w)) = x.dims4() {
            let k = self.kernel();
            let (oh, ow) = (
                (h + 2 * self.padding - k) / self.stride + 1,
                (w + 2 * self.padding - k) / self.stride + 1,
            );
            let per_output = self.weight.dims()[1] * k * k;
            super::count_flops(2 * (n * self.out_channels() * oh * ow * per_output) as u64);
        }
    }

    /// The CPU path (matrix products; depthwise by direct loops) with an optional ReLU
    /// (`Some(false)`) / ReLU6 (`Some(true)`) epilogue; `None` on other devices.
    fn forward_gemm(&self, x: &Tensor, act: Option<bool>) -> Result<Option<Tensor>> {
        if !Self::on_cpu(x) {
            return Ok(None);
        }
        self.count_flops(x);
        let (n, cin, h, w) = x.dims4()?;
        let g = self.geometry(n, cin, h, w);
        let (weight, bias) = self.host()?;
        let y = if self.is_depthwise(x) {
            cpu::with_cpu_slice(x, |x| {
                depthwise::forward(x, weight, bias.as_deref(), &g, [g.pad; 4], act)
            })?
        } else if winograd::applies(&g) {
            let u = self
                .winograd
                .get_or_init(|| winograd::transform_kernel(weight, g.cout, g.cin));
            cpu::with_cpu_slice(x, |x| winograd::forward(x, u, bias.as_deref(), &g, act))?
        } else {
            cpu::with_cpu_slice(x, |x| {
                gemm_conv::forward(x, weight, bias.as_deref(), &g, act)
            })?
        };
        let (oh, ow) = g.out_hw();
        Ok(Some(cpu::tensor(y, (n, g.cout, oh, ow))?))
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.check_fits(x, [self.padding; 4])?;
        if let Some(y) = self.forward_gemm(x, None)? {
            return Ok(y);
        }
        self.count_flops(x);
        self.forward_candle(x)
    }

    /// `ReLU(conv(x))` (ReLU6 when `six`) in one pass where the CPU path applies.
    pub fn forward_clamped(&self, x: &Tensor, six: bool) -> Result<Option<Tensor>> {
        self.check_fits(x, [self.padding; 4])?;
        self.forward_gemm(x, Some(six))
    }

    /// `act(conv(pad(x)))` in one pass for a depthwise convolution on the CPU, `pads` the
    /// zero padding before it (TensorFlow "SAME": `[top, bottom, left, right]`, added to the
    /// convolution's own); `None` where that path does not apply.
    pub fn forward_depthwise_padded(
        &self,
        x: &Tensor,
        pads: depthwise::Pads,
        act: Option<bool>,
    ) -> Result<Option<Tensor>> {
        if !Self::on_cpu(x) || !self.is_depthwise(x) {
            return Ok(None);
        }
        let (n, c, h, w) = x.dims4()?;
        let g = self.geometry(n, c, h, w);
        let pads = pads.map(|p| p + self.padding);
        self.check_fits(x, pads)?;
        let (oh, ow) = (
            (h + pads[0] + pads[1] - g.k) / g.stride + 1,
            (w + pads[2] + pads[3] - g.k) / g.stride + 1,
        );
        super::count_flops(2 * (n * c * oh * ow * g.k * g.k) as u64);
        let (weight, bias) = self.host()?;
        let y = cpu::with_cpu_slice(x, |x| {
            depthwise::forward(x, weight, bias.as_deref(), &g, pads, act)
        })?;
        Ok(Some(cpu::tensor(y, (n, c, oh, ow))?))
    }

    /// The forward pass through candle's convolution (other devices, and the reference).
    pub fn forward_candle(&self, x: &Tensor) -> Result<Tensor> {
        let y = if self.is_depthwise(x) {
            let (n, cin, h, w) = x.dims4()?;
            let g = self.geometry(n, cin, h, w);
            let wv = cpu::cpu_data(&self.weight)?;
            let y = cpu::with_cpu_slice(x, |x| {
                depthwise::forward(x, &wv, None, &g, [g.pad; 4], None)
            })?;
            let (oh, ow) = g.out_hw();
            cpu::tensor(y, (n, g.cout, oh, ow))?.to_device(x.device())?
        } else {
            x.conv2d(&self.weight, self.padding, self.stride, 1, self.groups)?
        };
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }

    /// `dL/dx` for an input of spatial size `(h, w)`.
    pub fn backward(&self, g: &Tensor, h: usize, w: usize) -> Result<Tensor> {
        if Self::on_cpu(g) && !self.is_depthwise(g) {
            let (n, cout, _, _) = g.dims4()?;
            let cin = self.weight.dims()[1] * self.groups;
            let geom = self.geometry(n, cin, h, w);
            debug_assert_eq!(cout, geom.cout);
            let (weight, _) = self.host()?;
            // A stride-1 3×3 convolution's input gradient is the full correlation of the
            // output gradient with the flipped, channel-transposed kernel: Winograd again.
            let (oh, ow) = geom.out_hw();
            let back = Geometry {
                cin: geom.cout,
                cout: geom.cin,
                h: oh,
                w: ow,
                pad: 2usize.wrapping_sub(geom.pad),
                ..geom
            };
            if winograd::applies(&geom) && winograd::applies(&back) && back.out_hw() == (h, w) {
                let u = self.winograd_back.get_or_init(|| {
                    winograd::transform_kernel(&winograd::flipped(weight, cout, cin), cin, cout)
                });
                let dx = cpu::with_cpu_slice(g, |dy| winograd::forward(dy, u, None, &back, None))?;
                return cpu::tensor(dx, (n, cin, h, w));
            }
            let wt = self
                .transposed
                .get_or_init(|| gemm_conv::transposed(weight, &geom));
            let dx = cpu::with_cpu_slice(g, |dy| gemm_conv::backward(dy, wt, &geom))?;
            return cpu::tensor(dx, (n, cin, h, w));
        }
        self.backward_candle(g, h, w)
    }

    /// `dL/dx` through candle: a stride-1 convolution of the zero-dilated gradient with the
    /// flipped, channel-transposed kernel (other devices, and the reference).
    pub fn backward_candle(&self, g: &Tensor, h: usize, w: usize) -> Result<Tensor> {
        let (k, s, p) = (self.kernel(), self.stride, self.padding);
        if self.is_depthwise(g) {
            return depthwise::backward(g, &self.weight, s, [p; 4], h, w);
        }
        let kb = self.backward_weight()?;
        let g = dilate(g, s)?;
        let (_, _, gh, gw) = g.dims4()?;
        // Input rows/columns the forward pass never reached with its last window.
        let extra_h = h + 2 * p - k + 1 - gh;
        let extra_w = w + 2 * p - k + 1 - gw;
        let g = g
            .pad_with_zeros(2, 0, extra_h)?
            .pad_with_zeros(3, 0, extra_w)?;
        Ok(g.conv2d(kb, k - 1 - p, 1, 1, self.groups)?)
    }

    fn backward_weight(&self) -> Result<&Tensor> {
        if let Some(w) = self.backward_weight.get() {
            return Ok(w);
        }
        let (co, ci_g, k, _) = self.weight.dims4()?;
        let g = self.groups;
        let w = self
            .weight
            .reshape((g, co / g, ci_g, k, k))?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((g * ci_g, co / g, k, k))?
            .flip(&[2, 3])?
            .contiguous()?;
        Ok(self.backward_weight.get_or_init(|| w))
    }
}

/// Inserts `s - 1` zeros between gradient rows and columns (the transpose of striding).
fn dilate(g: &Tensor, s: usize) -> Result<Tensor> {
    if s == 1 {
        return Ok(g.clone());
    }
    let (n, c, h, w) = g.dims4()?;
    let z = Tensor::zeros((n, c, h, s - 1, w), g.dtype(), g.device())?;
    let g = Tensor::cat(&[&g.unsqueeze(3)?, &z], 3)?
        .reshape((n, c, h * s, w))?
        .narrow(2, 0, (h - 1) * s + 1)?;
    let h2 = (h - 1) * s + 1;
    let z = Tensor::zeros((n, c, h2, w, s - 1), g.dtype(), g.device())?;
    Ok(Tensor::cat(&[&g.unsqueeze(4)?, &z], 4)?
        .reshape((n, c, h2, w * s))?
        .narrow(3, 0, (w - 1) * s + 1)?)
}

/// `(before, after)` padding of TensorFlow's "SAME" along a side of length `n`.
pub fn same_padding(n: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = n.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(n);
    (total / 2, total - total / 2)
}

#[cfg(test)]
mod tests {
    /// The CPU matrix-product path against candle's convolution and the dilated-gradient
    /// backward pass, with BatchNorm folded, on shapes of ResNet, VGG and EfficientNet.
    #[test]
    fn gemm_path_matches_candle_path() -> Result<()> {
        let dev = Device::Cpu;
        for &(n, cin, cout, k, s, p, groups, h) in &[
            (1, 3, 8, 7, 2, 3, 1, 21),
            (2, 8, 8, 3, 1, 1, 1, 9),
            (1, 8, 16, 1, 2, 0, 1, 9),
            (3, 8, 8, 3, 2, 1, 2, 12),
            // Several blocks of output rows, run as parallel tasks (ops::gemm_conv).
            (1, 64, 16, 3, 1, 1, 1, 70),
            (4, 16, 8, 3, 2, 1, 1, 20),
            (5, 8, 16, 1, 1, 0, 1, 9),
            // Large enough for Winograd, forward and input gradient (ops::winograd).
            (1, 16, 16, 3, 1, 1, 1, 112),
        ] {
            let x = Tensor::randn(0f32, 1f32, (n, cin, h, h + 2), &dev)?;
            let w = Tensor::randn(0f32, 1f32, (cout, cin / groups, k, k), &dev)?;
            let bias = Tensor::randn(0f32, 1f32, cout, &dev)?;
            let conv = Conv2d::new(w, Some(bias), s, p, groups)?;
            let fast = conv.forward(&x)?;
            let slow = conv.forward_candle(&x)?;
            let d = (&fast - &slow)?.abs()?.max_all()?.to_scalar::<f32>()?;
            // Sums of up to 576 products of N(0, 1) values: relative to their size.
            let scale = slow.abs()?.max_all()?.to_scalar::<f32>()?.max(1.0);
            assert!(d < 1e-5 * scale, "forward k{k} s{s} g{groups}: {d}");
            let dy = Tensor::randn(0f32, 1f32, fast.dims(), &dev)?;
            let fast = conv.backward(&dy, h, h + 2)?;
            let slow = conv.backward_candle(&dy, h, h + 2)?;
            let d = (&fast - &slow)?.abs()?.max_all()?.to_scalar::<f32>()?;
            let scale = slow.abs()?.max_all()?.to_scalar::<f32>()?.max(1.0);
            assert!(d < 1e-5 * scale, "backward k{k} s{s} g{groups}: {d}");
        }
        Ok(())
    }

    use candle_core::{Device, Tensor};

    use super::*;

    /// Finite-difference check of the hand-written convolution input-gradient, for the
    /// stride / padding / group combinations our models use.
    #[test]
    fn conv_backward_matches_finite_differences() -> Result<()> {
        let dev = Device::Cpu;
        for &(cin, cout, k, s, p, groups, h) in &[
            (3, 4, 3, 1, 1, 1, 7),
            (4, 6, 3, 2, 1, 2, 8),
            (4, 4, 3, 2, 1, 4, 9),
            (2, 3, 7, 2, 3, 1, 11),
            (4, 8, 1, 2, 0, 1, 7),
            (3, 3, 5, 2, 0, 3, 10),
            (5, 5, 3, 1, 1, 5, 8),
        ] {
            let x = Tensor::randn(0f32, 1f32, (1, cin, h, h + 1), &dev)?;
            let w = Tensor::randn(0f32, 1f32, (cout, cin / groups, k, k), &dev)?;
            let conv = Conv2d::new(w, None, s, p, groups)?;
            let y = conv.forward(&x)?;
            let r = Tensor::randn(0f32, 1f32, y.dims(), &dev)?;
            let g = conv.backward(&r, h, h + 1)?;
            assert_eq!(g.dims(), x.dims());
            // Loss = sum(r ⊙ conv(x)) is linear in x, so its gradient is exact: compare with
            // the loss differences along unit vectors.
            let base = (y.mul(&r)?).sum_all()?.to_scalar::<f32>()?;
            let xv = x.flatten_all()?.to_vec1::<f32>()?;
            let gv = g.flatten_all()?.to_vec1::<f32>()?;
            for i in (0..xv.len()).step_by(7) {
                let mut xp = xv.clone();
                xp[i] += 1.0;
                let xp = Tensor::from_vec(xp, x.dims(), &dev)?;
                let lp = conv.forward(&xp)?.mul(&r)?.sum_all()?.to_scalar::<f32>()?;
                let fd = lp - base;
                assert!(
                    (fd - gv[i]).abs() < 1e-3 * (1.0 + gv[i].abs()),
                    "k{k} s{s} p{p} g{groups}: at {i}: {fd} vs {}",
                    gv[i]
                );
            }
        }
        Ok(())
    }

    #[test]
    fn depthwise_fast_path_matches_candle_grouped_conv() -> Result<()> {
        let dev = Device::Cpu;
        for &(c, k, s, p, h) in &[(6, 3, 1, 1, 9), (5, 5, 2, 2, 12), (4, 3, 2, 0, 10)] {
            let x = Tensor::randn(0f32, 1f32, (1, c, h, h + 3), &dev)?;
            let w = Tensor::randn(0f32, 1f32, (c, 1, k, k), &dev)?;
            let fast = Conv2d::new(w.clone(), None, s, p, c)?.forward(&x)?;
            let slow = x.conv2d(&w, p, s, 1, c)?;
            let d = (fast - &slow)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(d < 1e-4, "c{c} k{k} s{s} p{p}: {d}");
            // With a bias and ReLU6 as the epilogue (the built-in model's blocks).
            let bias = Tensor::randn(0f32, 3f32, c, &dev)?;
            let conv = Conv2d::new(w.clone(), Some(bias.clone()), s, p, c)?;
            let fast = conv.forward_clamped(&x, true)?.expect("the CPU path");
            let slow = slow
                .broadcast_add(&bias.reshape((1, c, 1, 1))?)?
                .clamp(0f32, 6f32)?;
            let d = (fast - slow)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(d < 1e-4, "c{c} k{k} s{s} p{p} with bias, ReLU6: {d}");
        }
        Ok(())
    }

    /// TensorFlow "SAME" (asymmetric) padding fused into the depthwise pass, against padding
    /// then candle's grouped convolution; its input gradient by the adjoint identity
    /// `⟨conv(x), r⟩ = ⟨x, convᵀ(r)⟩` (exact for a linear map, up to rounding).
    #[test]
    fn depthwise_same_padding_and_gradient() -> Result<()> {
        let dev = Device::Cpu;
        for &(n, c, k, s, h, w) in &[
            (2, 3, 3, 1, 7, 9),
            (1, 4, 5, 2, 11, 8),
            (2, 2, 3, 2, 12, 13),
            (1, 3, 5, 1, 6, 5),
            (1, 2, 3, 3, 10, 7),
            (1, 2, 5, 2, 3, 4),
        ] {
            let x = Tensor::randn(0f32, 1f32, (n, c, h, w), &dev)?;
            let wt = Tensor::randn(0f32, 1f32, (c, 1, k, k), &dev)?;
            let (t, b) = same_padding(h, k, s);
            let (l, r) = same_padding(w, k, s);
            let conv = Conv2d::new(wt.clone(), None, s, 0, c)?;
            let fast = conv
                .forward_depthwise_padded(&x, [t, b, l, r], None)?
                .expect("the CPU path");
            let padded = x.pad_with_zeros(2, t, b)?.pad_with_zeros(3, l, r)?;
            let slow = padded.conv2d(&wt, 0, s, 1, c)?;
            assert_eq!(fast.dims(), slow.dims(), "n{n} c{c} k{k} s{s} {h}×{w}");
            let d = (&fast - &slow)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(d < 1e-4, "n{n} c{c} k{k} s{s} {h}×{w}: {d}");
            let rv = Tensor::randn(0f32, 1f32, fast.dims(), &dev)?;
            let gx = depthwise::backward(&rv, &wt, s, [t, b, l, r], h, w)?;
            assert_eq!(gx.dims(), x.dims());
            let lhs = fast.mul(&rv)?.sum_all()?.to_scalar::<f32>()?;
            let rhs = x.mul(&gx)?.sum_all()?.to_scalar::<f32>()?;
            assert!(
                (lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()),
                "adjoint n{n} c{c} k{k} s{s} {h}×{w}: {lhs} vs {rhs}"
            );
            // The unpadded backward equals the padded one cut to the interior.
            let gp = depthwise::backward(&rv, &wt, s, [0; 4], h + t + b, w + l + r)?;
            let cut = gp.narrow(2, t, h)?.narrow(3, l, w)?;
            let d = (cut - &gx)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(d < 1e-5, "interior n{n} c{c} k{k} s{s} {h}×{w}: {d}");
        }
        Ok(())
    }
}
