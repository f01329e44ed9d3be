//! The few operations our CNNs are made of, each with a hand-written input-gradient.
//!
//! Why not candle's autograd: it always computes weight gradients (we never need them), it runs
//! input gradients through a slow `conv_transpose2d`, its ReLU passes gradient at x = 0 where
//! PyTorch's does not, and it keeps no intermediate gradients. Here a forward pass can record a
//! [`Saved`] tape; a backward pass walks it in reverse and yields only the gradient with respect
//! to the op's input, with PyTorch's semantics (ReLU: `x > 0`; max-pool ties: first maximum in
//! row-major window order). Guided backprop is the same walk with [`Grad::Guided`].

use std::sync::OnceLock;

use candle_core::{DType, Device, Tensor};

use super::error::Result;

/// How ReLU-like activations pass gradients back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Grad {
    /// The true gradient, as PyTorch's autograd computes it.
    Plain,
    /// Guided backprop (Springenberg et al.): a ReLU passes gradient only where both its input
    /// and the incoming gradient are positive.
    Guided,
}

/// What a forward pass keeps for the backward pass of one op.
pub enum Saved {
    None,
    /// The op's input (activations).
    Input(Tensor),
    /// The spatial size of the op's input.
    Hw(usize, usize),
    /// The full shape of the op's input.
    Shape(Vec<usize>),
    /// Padding `(top, bottom, left, right)` that was added.
    Pads([usize; 4]),
    /// Max-pool: flat argmax positions per output, and the input's shape.
    Argmax(Tensor, Vec<usize>),
    Seq(Vec<Saved>),
    Residual {
        main: Vec<Saved>,
        shortcut: Vec<Saved>,
        sum: Tensor,
    },
}

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
        })
    }

    /// Folds an eval-mode BatchNorm `y = (x - mean) / sqrt(var + eps) * gamma + beta` into the
    /// convolution that feeds it.
    pub fn fold_batch_norm(self, bn: &BatchNorm) -> Result<Self> {
        let c = self.weight.dim(0)?;
        let w = self
            .weight
            .broadcast_mul(&bn.scale.reshape((c, 1, 1, 1))?)?;
        let shift = bn.shift.reshape((1, c, 1, 1))?;
        let bias = match &self.bias {
            Some(b) => b
                .broadcast_mul(&bn.scale.reshape((1, c, 1, 1))?)?
                .add(&shift)?,
            None => shift,
        };
        Self::new(w, Some(bias), self.stride, self.padding, self.groups)
    }

    pub fn move_to(&mut self, device: &Device) -> Result<()> {
        self.weight = self.weight.to_device(device)?;
        self.bias = match &self.bias {
            Some(b) => Some(b.to_device(device)?),
            None => None,
        };
        self.backward_weight = OnceLock::new();
        Ok(())
    }

    pub fn out_channels(&self) -> usize {
        self.weight.dims()[0]
    }

    fn kernel(&self) -> usize {
        self.weight.dims()[3]
    }

    /// One filter per channel (groups = in = out channels), as in MobileNet-style blocks.
    fn is_depthwise(&self, x: &Tensor) -> bool {
        let c = self.weight.dims()[0];
        self.groups == c
            && self.weight.dims()[1] == 1
            && x.device().is_cpu()
            && x.dims().get(1) == Some(&c)
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = if self.is_depthwise(x) {
            depthwise::forward(x, &self.weight, self.stride, self.padding)?
        } else {
            x.conv2d(&self.weight, self.padding, self.stride, 1, self.groups)?
        };
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }

    /// `dL/dx` for an input of spatial size `(h, w)`: a stride-1 convolution of the
    /// zero-dilated gradient with the flipped, channel-transposed kernel.
    pub fn backward(&self, g: &Tensor, h: usize, w: usize) -> Result<Tensor> {
        let (k, s, p) = (self.kernel(), self.stride, self.padding);
        if self.is_depthwise(g) {
            return depthwise::backward(g, &self.weight, s, p, h, w);
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

/// Depthwise convolution on the CPU by direct loops. candle runs a grouped convolution as one
/// convolution per group, which for EfficientNet's 1152-channel blocks costs far more than the
/// arithmetic.
///
/// The forward and backward loops mirror each other on purpose: folding them into one visitor
/// taking a closure per tap was measured twice as slow (the row slices here vectorize).
mod depthwise {
    use candle_core::Tensor;

    use crate::engine::error::Result;

    fn data(t: &Tensor) -> Result<Vec<f32>> {
        Ok(t.flatten_all()?.to_vec1::<f32>()?)
    }

    fn out_size(n: usize, k: usize, s: usize, p: usize) -> usize {
        (n + 2 * p - k) / s + 1
    }

    pub fn forward(x: &Tensor, w: &Tensor, s: usize, p: usize) -> Result<Tensor> {
        let (n, c, h, wd) = x.dims4()?;
        let k = w.dims()[3];
        let (oh, ow) = (out_size(h, k, s, p), out_size(wd, k, s, p));
        let (xv, wv) = (data(x)?, data(w)?);
        let mut out = vec![0f32; n * c * oh * ow];
        for plane in 0..n * c {
            let ch = plane % c;
            let src = &xv[plane * h * wd..(plane + 1) * h * wd];
            let dst = &mut out[plane * oh * ow..(plane + 1) * oh * ow];
            for ky in 0..k {
                for kx in 0..k {
                    let wt = wv[(ch * k + ky) * k + kx];
                    for oy in 0..oh {
                        let iy = (oy * s + ky) as isize - p as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        let row = &src[iy as usize * wd..(iy as usize + 1) * wd];
                        let drow = &mut dst[oy * ow..(oy + 1) * ow];
                        for (ox, d) in drow.iter_mut().enumerate() {
                            let ix = (ox * s + kx) as isize - p as isize;
                            if ix >= 0 && ix < wd as isize {
                                *d += row[ix as usize] * wt;
                            }
                        }
                    }
                }
            }
        }
        Ok(Tensor::from_vec(out, (n, c, oh, ow), x.device())?)
    }

    /// `dL/dx` for an input of spatial size `(h, wd)`.
    pub fn backward(
        g: &Tensor,
        w: &Tensor,
        s: usize,
        p: usize,
        h: usize,
        wd: usize,
    ) -> Result<Tensor> {
        let (n, c, oh, ow) = g.dims4()?;
        let k = w.dims()[3];
        let (gv, wv) = (data(g)?, data(w)?);
        let mut out = vec![0f32; n * c * h * wd];
        for plane in 0..n * c {
            let ch = plane % c;
            let src = &gv[plane * oh * ow..(plane + 1) * oh * ow];
            let dst = &mut out[plane * h * wd..(plane + 1) * h * wd];
            for ky in 0..k {
                for kx in 0..k {
                    let wt = wv[(ch * k + ky) * k + kx];
                    for oy in 0..oh {
                        let iy = (oy * s + ky) as isize - p as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        let drow = &mut dst[iy as usize * wd..(iy as usize + 1) * wd];
                        for (ox, &gval) in src[oy * ow..(oy + 1) * ow].iter().enumerate() {
                            let ix = (ox * s + kx) as isize - p as isize;
                            if ix >= 0 && ix < wd as isize {
                                drow[ix as usize] += gval * wt;
                            }
                        }
                    }
                }
            }
        }
        Ok(Tensor::from_vec(out, (n, c, h, wd), g.device())?)
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

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let c = self.scale.dim(0)?;
        Ok(x.broadcast_mul(&self.scale.reshape((1, c, 1, 1))?)?
            .broadcast_add(&self.shift.reshape((1, c, 1, 1))?)?)
    }

    fn backward(&self, g: &Tensor) -> Result<Tensor> {
        let c = self.scale.dim(0)?;
        Ok(g.broadcast_mul(&self.scale.reshape((1, c, 1, 1))?)?)
    }
}

/// Max-pooling with implicit -inf padding, PyTorch's `MaxPool2d(k, stride, padding)`.
pub struct MaxPool {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl MaxPool {
    fn out_size(&self, n: usize) -> usize {
        (n + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Output and flat argmax per output element (index into the input's `h * w` plane). Runs
    /// on the CPU; other devices copy through it.
    fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let (n, c, h, w) = x.dims4()?;
        let (oh, ow) = (self.out_size(h), self.out_size(w));
        let data = x.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?;
        let mut out = vec![0f32; n * c * oh * ow];
        let mut arg = vec![0u32; n * c * oh * ow];
        let (k, s, p) = (
            self.kernel as isize,
            self.stride as isize,
            self.padding as isize,
        );
        for plane in 0..n * c {
            let src = &data[plane * h * w..(plane + 1) * h * w];
            for oy in 0..oh {
                let y0 = oy as isize * s - p;
                let (ya, yb) = (y0.max(0) as usize, ((y0 + k) as usize).min(h));
                for ox in 0..ow {
                    let x0 = ox as isize * s - p;
                    let (xa, xb) = (x0.max(0) as usize, ((x0 + k) as usize).min(w));
                    let mut best = f32::NEG_INFINITY;
                    let mut best_i = ya * w + xa;
                    for yy in ya..yb {
                        for xx in xa..xb {
                            let v = src[yy * w + xx];
                            if v > best || v.is_nan() {
                                best = v;
                                best_i = yy * w + xx;
                            }
                        }
                    }
                    let o = plane * oh * ow + oy * ow + ox;
                    out[o] = best;
                    arg[o] = best_i as u32;
                }
            }
        }
        let dev = x.device();
        let out = Tensor::from_vec(out, (n, c, oh, ow), dev)?;
        let arg = Tensor::from_vec(arg, (n * c, oh * ow), dev)?;
        Ok((out, arg))
    }

    fn backward(g: &Tensor, arg: &Tensor, in_shape: &[usize]) -> Result<Tensor> {
        let (n, c, h, w) = (in_shape[0], in_shape[1], in_shape[2], in_shape[3]);
        let g = g.flatten_from(2)?.reshape((n * c, ()))?.contiguous()?;
        let z = Tensor::zeros((n * c, h * w), g.dtype(), g.device())?;
        Ok(z.scatter_add(arg, &g, 1)?.reshape((n, c, h, w))?)
    }
}

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
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
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

    fn backward(&self, g: &Tensor, h: usize, w: usize) -> Result<Tensor> {
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

/// A fully connected layer, `y = x Wᵀ + b`.
pub struct Linear {
    /// `(out, in)`.
    pub weight: Tensor,
    /// `(out,)`.
    pub bias: Tensor,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)?)
    }

    fn backward(&self, g: &Tensor) -> Result<Tensor> {
        Ok(g.matmul(&self.weight)?)
    }
}

/// One step of a network. Composite steps ([`Op::Seq`], [`Op::Residual`]) nest.
pub enum Op {
    Conv(Conv2d),
    BatchNorm(BatchNorm),
    /// TensorFlow's "SAME" zero padding for a `kernel`/`stride` convolution that follows:
    /// output `ceil(n / stride)`, the odd pixel going to the bottom / right.
    SamePad {
        kernel: usize,
        stride: usize,
    },
    Relu,
    Relu6,
    MaxPool(MaxPool),
    AdaptiveAvgPool(AdaptiveAvgPool),
    /// Mean over the spatial dimensions, keeping them as `1 × 1`.
    GlobalAvgPool,
    /// `(N, C, H, W) -> (N, C·H·W)`.
    Flatten,
    Linear(Linear),
    /// Evaluation mode: the identity.
    Dropout,
    Seq(Vec<Op>),
    /// `post(main(x) + shortcut(x))`; an empty shortcut is the identity.
    Residual {
        main: Vec<Op>,
        shortcut: Vec<Op>,
        post_relu: bool,
    },
}

/// `(before, after)` padding of TensorFlow's "SAME" along a side of length `n`.
pub fn same_padding(n: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = n.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(n);
    (total / 2, total - total / 2)
}

fn relu_mask(x: &Tensor, six: bool) -> Result<Tensor> {
    let m = x.gt(0f32)?.to_dtype(DType::F32)?;
    Ok(if six {
        m.mul(&x.lt(6f32)?.to_dtype(DType::F32)?)?
    } else {
        m
    })
}

fn activation_backward(x: &Tensor, g: &Tensor, six: bool, mode: Grad) -> Result<Tensor> {
    let g = match mode {
        Grad::Plain => g.clone(),
        Grad::Guided => g.relu()?,
    };
    Ok(g.mul(&relu_mask(x, six)?)?)
}

/// Runs `ops` in order; with `tape`, records what their backward passes need.
pub fn forward_seq(ops: &[Op], x: &Tensor, tape: bool) -> Result<(Tensor, Vec<Saved>)> {
    let mut x = x.clone();
    let mut saved = Vec::with_capacity(if tape { ops.len() } else { 0 });
    for op in ops {
        let (y, s) = op.forward(&x, tape)?;
        if tape {
            saved.push(s);
        }
        x = y;
    }
    Ok((x, saved))
}

/// The gradient with respect to the input of `ops`, given the gradient of their output.
pub fn backward_seq(ops: &[Op], saved: &[Saved], g: &Tensor, mode: Grad) -> Result<Tensor> {
    let mut g = g.clone();
    for (op, s) in ops.iter().zip(saved).rev() {
        g = op.backward(s, &g, mode)?;
    }
    Ok(g)
}

impl Op {
    pub fn forward(&self, x: &Tensor, tape: bool) -> Result<(Tensor, Saved)> {
        let keep = |s: Saved| if tape { s } else { Saved::None };
        Ok(match self {
            Op::Conv(c) => {
                let (_, _, h, w) = x.dims4()?;
                (c.forward(x)?, keep(Saved::Hw(h, w)))
            }
            Op::BatchNorm(bn) => (bn.forward(x)?, Saved::None),
            Op::SamePad { kernel, stride } => {
                let (_, _, h, w) = x.dims4()?;
                let (t, b) = same_padding(h, *kernel, *stride);
                let (l, r) = same_padding(w, *kernel, *stride);
                let y = x.pad_with_zeros(2, t, b)?.pad_with_zeros(3, l, r)?;
                (y, keep(Saved::Pads([t, b, l, r])))
            }
            Op::Relu => (x.relu()?, keep(Saved::Input(x.clone()))),
            Op::Relu6 => (x.clamp(0f32, 6f32)?, keep(Saved::Input(x.clone()))),
            Op::MaxPool(p) => {
                let (y, arg) = p.forward(x)?;
                (y, keep(Saved::Argmax(arg, x.dims().to_vec())))
            }
            Op::AdaptiveAvgPool(p) => {
                let (_, _, h, w) = x.dims4()?;
                (p.forward(x)?, keep(Saved::Hw(h, w)))
            }
            Op::GlobalAvgPool => {
                let (_, _, h, w) = x.dims4()?;
                (x.mean_keepdim((2, 3))?, keep(Saved::Hw(h, w)))
            }
            Op::Flatten => (x.flatten_from(1)?, keep(Saved::Shape(x.dims().to_vec()))),
            Op::Linear(l) => (l.forward(x)?, Saved::None),
            Op::Dropout => (x.clone(), Saved::None),
            Op::Seq(ops) => {
                let (y, s) = forward_seq(ops, x, tape)?;
                (y, keep(Saved::Seq(s)))
            }
            Op::Residual {
                main,
                shortcut,
                post_relu,
            } => {
                let (a, sm) = forward_seq(main, x, tape)?;
                let (b, ss) = forward_seq(shortcut, x, tape)?;
                let sum = a.add(&b)?;
                let y = if *post_relu { sum.relu()? } else { sum.clone() };
                (
                    y,
                    keep(Saved::Residual {
                        main: sm,
                        shortcut: ss,
                        sum,
                    }),
                )
            }
        })
    }

    pub fn backward(&self, saved: &Saved, g: &Tensor, mode: Grad) -> Result<Tensor> {
        Ok(match (self, saved) {
            (Op::Conv(c), Saved::Hw(h, w)) => c.backward(g, *h, *w)?,
            (Op::BatchNorm(bn), _) => bn.backward(g)?,
            (Op::SamePad { .. }, Saved::Pads([t, b, l, r])) => {
                let (_, _, h, w) = g.dims4()?;
                g.narrow(2, *t, h - t - b)?.narrow(3, *l, w - l - r)?
            }
            (Op::Relu, Saved::Input(x)) => activation_backward(x, g, false, mode)?,
            (Op::Relu6, Saved::Input(x)) => activation_backward(x, g, true, mode)?,
            (Op::MaxPool(_), Saved::Argmax(arg, shape)) => MaxPool::backward(g, arg, shape)?,
            (Op::AdaptiveAvgPool(p), Saved::Hw(h, w)) => p.backward(g, *h, *w)?,
            (Op::GlobalAvgPool, Saved::Hw(h, w)) => {
                let (n, c, _, _) = g.dims4()?;
                (g.broadcast_as((n, c, *h, *w))? / (*h * *w) as f64)?
            }
            (Op::Flatten, Saved::Shape(shape)) => g.reshape(shape.as_slice())?,
            (Op::Linear(l), _) => l.backward(g)?,
            (Op::Dropout, _) => g.clone(),
            (Op::Seq(ops), Saved::Seq(s)) => backward_seq(ops, s, g, mode)?,
            (
                Op::Residual {
                    main,
                    shortcut,
                    post_relu,
                },
                Saved::Residual {
                    main: sm,
                    shortcut: ss,
                    sum,
                },
            ) => {
                let g = if *post_relu {
                    activation_backward(sum, g, false, mode)?
                } else {
                    g.clone()
                };
                let gm = backward_seq(main, sm, &g, mode)?;
                let gs = backward_seq(shortcut, ss, &g, mode)?;
                gm.add(&gs)?
            }
            _ => {
                return Err(super::error::Error::BadInput(
                    "backward pass without a recorded forward pass".into(),
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
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
            let d = (fast - slow)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(d < 1e-4, "c{c} k{k} s{s} p{p}: {d}");
        }
        Ok(())
    }

    #[test]
    fn max_pool_routes_gradient_to_first_maximum_like_pytorch() -> Result<()> {
        // A 4x4 plane of zeros (e.g. after ReLU): every 2x2 window ties.
        let x = Tensor::zeros((1, 1, 4, 4), DType::F32, &Device::Cpu)?;
        let op = Op::MaxPool(MaxPool {
            kernel: 2,
            stride: 2,
            padding: 0,
        });
        let (y, s) = op.forward(&x, true)?;
        let g = Tensor::ones(y.dims(), DType::F32, &Device::Cpu)?;
        let gx = op.backward(&s, &g, Grad::Plain)?;
        let gx = gx.flatten_all()?.to_vec1::<f32>()?;
        let want = [
            1., 0., 1., 0., 0., 0., 0., 0., 1., 0., 1., 0., 0., 0., 0., 0.,
        ];
        assert_eq!(gx, want);
        Ok(())
    }

    #[test]
    fn relu_passes_no_gradient_at_zero() -> Result<()> {
        let x = Tensor::new(&[[[[-1f32, 0., 2.]]]], &Device::Cpu)?;
        let (_, s) = Op::Relu.forward(&x, true)?;
        let g = Tensor::new(&[[[[1f32, 1., -3.]]]], &Device::Cpu)?;
        let plain = Op::Relu.backward(&s, &g, Grad::Plain)?;
        assert_eq!(plain.flatten_all()?.to_vec1::<f32>()?, [0., 0., -3.]);
        let guided = Op::Relu.backward(&s, &g, Grad::Guided)?;
        assert_eq!(guided.flatten_all()?.to_vec1::<f32>()?, [0., 0., 0.]);
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
