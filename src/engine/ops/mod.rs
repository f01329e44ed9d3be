//! The few operations our CNNs are made of, each with a hand-written input-gradient.
//!
//! Why not candle's autograd: it always computes weight gradients (we never need them), it runs
//! input gradients through a slow `conv_transpose2d`, its ReLU passes gradient at x = 0 where
//! PyTorch's does not, and it keeps no intermediate gradients. Here a forward pass can record a
//! [`Saved`] tape; a backward pass walks it in reverse and yields only the gradient with respect
//! to the op's input, with PyTorch's semantics (ReLU: `x > 0`; max-pool ties: first maximum in
//! row-major window order). Guided backprop is the same walk with [`Grad::Guided`].

mod act;
mod activation;
mod avg_pool;
mod channels;
mod conv;
mod cpu;
mod depthwise;
#[cfg(test)]
mod fd;
mod gate;
mod gemm_conv;
mod geometry;
mod im2col;
mod layernorm;
mod linear;
mod matmul;
mod norm;
mod phases;
mod pool;
mod rect_conv;
mod simd;
mod winograd;

use candle_core::Tensor;

use super::error::{Error, Result};
use activation::activation_backward;

pub use act::Act;
pub use avg_pool::{AdaptiveAvgPool, AvgPool, MinSizePool};
pub use conv::{Conv2d, same_padding};
pub use gate::SqueezeExcite;
pub use layernorm::LayerNorm2d;
pub use linear::Linear;
pub use norm::BatchNorm;
pub use pool::MaxPool;
pub use rect_conv::RectConv;

/// Multiply-adds ×2 in convolutions and linear layers, process-wide (the ops run on rayon's
/// threads).
static FLOPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Adds to the count of multiply-adds ×2 in convolutions and linear layers.
fn count_flops(n: u64) {
    FLOPS.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
}

/// The floating-point operations (2 per multiply-add, convolutions and linear layers) run while
/// `f` runs, with its result: for GFLOP/s in `camscope bench` (which runs one pass at a time).
pub fn counting_flops<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = FLOPS.load(std::sync::atomic::Ordering::Relaxed);
    let out = f();
    (
        out,
        FLOPS.load(std::sync::atomic::Ordering::Relaxed) - before,
    )
}

/// Runs `f` on a thread of rayon's pool (inline when already on one). Every op below is a
/// parallel loop; called from outside the pool, each would hand its work to the pool and put
/// the caller to sleep until it is done — two thread switches per op, ≈ 5–10 % of a ResNet-18
/// pass on 2 cores. From inside, the ops split their work with the other worker directly.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

/// Refuses a `(h, w)` map (padding included) smaller than the `k × k` window of the `what`
/// that reads it: its output size `(n − k) / s + 1` would be negative. PyTorch refuses it too.
fn check_window((h, w): (usize, usize), k: usize, what: &str) -> Result<()> {
    if h.min(w) < k {
        return Err(Error::BadInput(format!(
            "the map reaching a {k}×{k} {what} is only {h}×{w} (padding included): the input \
             is too small for this model"
        )));
    }
    Ok(())
}

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
    /// The op's input (activations); for ReLU / ReLU6, its input or its output.
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
    /// Each branch's tape, and how many channels it gave.
    Concat(Vec<Vec<Saved>>, Vec<usize>),
    Gate(gate::GateSaved),
    Residual {
        main: Vec<Saved>,
        shortcut: Vec<Saved>,
        /// The block's output: with a ReLU after the sum, its mask is the sum's.
        sum: Tensor,
    },
}

/// One step of a network. Composite steps ([`Op::Seq`], [`Op::Residual`]) nest.
pub enum Op {
    Conv(Conv2d),
    /// A stride-1 convolution with a non-square kernel (Inception-v3).
    RectConv(RectConv),
    BatchNorm(BatchNorm),
    /// TensorFlow's "SAME" zero padding for a `kernel`/`stride` convolution that follows:
    /// output `ceil(n / stride)`, the odd pixel going to the bottom / right.
    SamePad {
        kernel: usize,
        stride: usize,
    },
    /// `nn.ReLU`: guided in guided backprop.
    Relu,
    /// `nn.ReLU6`: never guided (pytorch-grad-cam replaces only `nn.ReLU` modules).
    Relu6,
    /// A ReLU a model's `forward` applies functionally (`F.relu`: DenseNet's last one,
    /// GoogLeNet's and Inception's `BasicConv2d`): never guided, for the same reason.
    ReluFn,
    /// SiLU, GELU, Hardswish, Hardsigmoid, sigmoid.
    Act(Act),
    LayerNorm2d(LayerNorm2d),
    /// Zero padding `[top, bottom, left, right]` (before a pool that counts the padding).
    Pad([usize; 4]),
    /// Channels `start .. start + len` (ShuffleNet's `x.chunk(2, dim=1)`).
    Narrow {
        start: usize,
        len: usize,
    },
    /// ShuffleNet's `channel_shuffle(x, groups)`: `(N, g, C/g, H, W)` transposed to
    /// `(N, C/g, g, H, W)`.
    ChannelShuffle(usize),
    MaxPool(MaxPool),
    AvgPool(AvgPool),
    AdaptiveAvgPool(AdaptiveAvgPool),
    MinSizePool(MinSizePool),
    SqueezeExcite(SqueezeExcite),
    /// Mean over the spatial dimensions, keeping them as `1 × 1`.
    GlobalAvgPool,
    /// `(N, C, H, W) -> (N, C·H·W)`.
    Flatten,
    Linear(Linear),
    /// Evaluation mode: the identity.
    Dropout,
    Seq(Vec<Op>),
    /// The branches' outputs concatenated along channels, in order; an empty branch is the
    /// identity (DenseNet's `cat([x, layer(x)])`, Inception's modules).
    Concat(Vec<Vec<Op>>),
    /// `post(main(x) + shortcut(x))`; an empty shortcut is the identity.
    Residual {
        main: Vec<Op>,
        shortcut: Vec<Op>,
        post_relu: bool,
    },
}

impl Op {
    /// For a ReLU-like op that a convolution can take as its epilogue: whether it is ReLU6.
    pub fn clamp_six(&self) -> Option<bool> {
        match self {
            Op::Relu | Op::ReluFn => Some(false),
            Op::Relu6 => Some(true),
            _ => None,
        }
    }
}

/// Runs `ops` in order; with `tape`, records what their backward passes need.
///
/// A convolution followed by ReLU / ReLU6 runs as one op on the CPU (the activation is the
/// GEMM's epilogue); the activation's tape then holds its output, which gives the same
/// gradient mask as its input (see [`activation::activation_backward`]).
pub fn forward_seq(ops: &[Op], x: &Tensor, tape: bool) -> Result<(Tensor, Vec<Saved>)> {
    let mut x = x.clone();
    let mut saved = Vec::with_capacity(if tape { ops.len() } else { 0 });
    let mut i = 0;
    while i < ops.len() {
        if let Some(used) = same_pad_depthwise(&ops[i..], &mut x, tape.then_some(&mut saved))? {
            i += used;
            continue;
        }
        if let (Op::Conv(c), Some(six)) = (&ops[i], ops.get(i + 1).and_then(Op::clamp_six)) {
            let (_, _, h, w) = x.dims4()?;
            if let Some(y) = c.forward_clamped(&x, six)? {
                if tape {
                    saved.push(Saved::Hw(h, w));
                    saved.push(Saved::Input(y.clone()));
                }
                x = y;
                i += 2;
                continue;
            }
        }
        let (y, s) = ops[i].forward(&x, tape)?;
        if tape {
            saved.push(s);
        }
        x = y;
        i += 1;
    }
    Ok((x, saved))
}

/// "SAME" padding, a depthwise convolution and its ReLU / ReLU6, if `ops` starts with them, as
/// one pass on the CPU ([`Conv2d::forward_depthwise_padded`]): replaces `x` with the result,
/// records on `saved` what the three ops' backward passes need, and returns how many ops it ran.
fn same_pad_depthwise(
    ops: &[Op],
    x: &mut Tensor,
    saved: Option<&mut Vec<Saved>>,
) -> Result<Option<usize>> {
    let [Op::SamePad { kernel, stride }, Op::Conv(c), rest @ ..] = ops else {
        return Ok(None);
    };
    let act = rest.first().and_then(Op::clamp_six);
    let (_, _, h, w) = x.dims4()?;
    let (t, b) = same_padding(h, *kernel, *stride);
    let (l, r) = same_padding(w, *kernel, *stride);
    let Some(y) = c.forward_depthwise_padded(x, [t, b, l, r], act)? else {
        return Ok(None);
    };
    if let Some(saved) = saved {
        saved.push(Saved::Pads([t, b, l, r]));
        saved.push(Saved::Hw(h + t + b, w + l + r));
        if act.is_some() {
            saved.push(Saved::Input(y.clone()));
        }
    }
    *x = y;
    Ok(Some(2 + usize::from(act.is_some())))
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
            Op::RectConv(c) => (c.forward(x)?, Saved::None),
            Op::SamePad { kernel, stride } => {
                let (_, _, h, w) = x.dims4()?;
                let (t, b) = same_padding(h, *kernel, *stride);
                let (l, r) = same_padding(w, *kernel, *stride);
                let y = x.pad_with_zeros(2, t, b)?.pad_with_zeros(3, l, r)?;
                (y, keep(Saved::Pads([t, b, l, r])))
            }
            Op::Relu => (
                activation::activation_forward(x, false)?,
                keep(Saved::Input(x.clone())),
            ),
            Op::Relu6 => (
                activation::activation_forward(x, true)?,
                keep(Saved::Input(x.clone())),
            ),
            Op::ReluFn => (
                activation::activation_forward(x, false)?,
                keep(Saved::Input(x.clone())),
            ),
            Op::Act(a) => (a.forward(x)?, keep(Saved::Input(x.clone()))),
            Op::Pad([t, b, l, r]) => {
                let y = x.pad_with_zeros(2, *t, *b)?.pad_with_zeros(3, *l, *r)?;
                (y, keep(Saved::Pads([*t, *b, *l, *r])))
            }
            Op::Narrow { start, len } => (
                x.narrow(1, *start, *len)?.contiguous()?,
                keep(Saved::Shape(x.dims().to_vec())),
            ),
            Op::ChannelShuffle(groups) => (channels::shuffle(x, *groups, false)?, Saved::None),
            Op::LayerNorm2d(n) => (n.forward(x)?, keep(Saved::Input(x.clone()))),
            Op::MaxPool(p) => {
                let (y, arg) = p.forward(x, tape)?;
                let saved = arg.map_or(Saved::None, |a| Saved::Argmax(a, x.dims().to_vec()));
                (y, saved)
            }
            Op::AvgPool(p) => {
                let (_, _, h, w) = x.dims4()?;
                (p.forward(x)?, keep(Saved::Hw(h, w)))
            }
            Op::AdaptiveAvgPool(p) => {
                let (_, _, h, w) = x.dims4()?;
                (p.forward(x)?, keep(Saved::Hw(h, w)))
            }
            Op::MinSizePool(p) => {
                let (_, _, h, w) = x.dims4()?;
                (p.forward(x)?, keep(Saved::Hw(h, w)))
            }
            Op::SqueezeExcite(se) => {
                let (y, s) = se.forward(x)?;
                (y, keep(Saved::Gate(s)))
            }
            Op::GlobalAvgPool => {
                let (_, _, h, w) = x.dims4()?;
                (avg_pool::global_avg_forward(x)?, keep(Saved::Hw(h, w)))
            }
            Op::Flatten => (x.flatten_from(1)?, keep(Saved::Shape(x.dims().to_vec()))),
            Op::Linear(l) => (l.forward(x)?, Saved::None),
            Op::Dropout => (x.clone(), Saved::None),
            Op::Seq(ops) => {
                let (y, s) = forward_seq(ops, x, tape)?;
                (y, keep(Saved::Seq(s)))
            }
            Op::Concat(branches) => {
                let mut ys = Vec::with_capacity(branches.len());
                let mut tapes = Vec::with_capacity(branches.len());
                for b in branches {
                    let (y, s) = forward_seq(b, x, tape)?;
                    ys.push(y);
                    tapes.push(s);
                }
                let channels = ys
                    .iter()
                    .map(|y| y.dim(1))
                    .collect::<candle_core::Result<_>>()?;
                (Tensor::cat(&ys, 1)?, keep(Saved::Concat(tapes, channels)))
            }
            Op::Residual {
                main,
                shortcut,
                post_relu,
            } => {
                let (a, sm) = forward_seq(main, x, tape)?;
                let (b, ss) = forward_seq(shortcut, x, tape)?;
                let y = activation::add_maybe_relu(&a, &b, *post_relu)?;
                (
                    y.clone(),
                    keep(Saved::Residual {
                        main: sm,
                        shortcut: ss,
                        sum: y,
                    }),
                )
            }
        })
    }

    pub fn backward(&self, saved: &Saved, g: &Tensor, mode: Grad) -> Result<Tensor> {
        Ok(match (self, saved) {
            (Op::Conv(c), Saved::Hw(h, w)) => c.backward(g, *h, *w)?,
            (Op::BatchNorm(bn), _) => bn.backward(g)?,
            (Op::RectConv(c), _) => c.backward(g)?,
            (Op::SamePad { .. } | Op::Pad(_), Saved::Pads([t, b, l, r])) => {
                let (_, _, h, w) = g.dims4()?;
                g.narrow(2, *t, h - t - b)?.narrow(3, *l, w - l - r)?
            }
            (Op::Relu, Saved::Input(x)) => activation_backward(x, g, false, mode)?,
            (Op::Relu6, Saved::Input(x)) => activation_backward(x, g, true, mode)?,
            (Op::ReluFn, Saved::Input(x)) => activation_backward(x, g, false, Grad::Plain)?,
            (Op::Act(a), Saved::Input(x)) => a.backward(x, g, mode)?,
            (Op::Narrow { start, len }, Saved::Shape(shape)) => {
                g.pad_with_zeros(1, *start, shape[1] - start - len)?
            }
            (Op::ChannelShuffle(groups), _) => channels::shuffle(g, *groups, true)?,
            (Op::LayerNorm2d(n), Saved::Input(x)) => n.backward(x, g)?,
            (Op::MaxPool(_), Saved::Argmax(arg, shape)) => MaxPool::backward(g, arg, shape)?,
            (Op::AvgPool(p), Saved::Hw(h, w)) => p.backward(g, *h, *w)?,
            (Op::AdaptiveAvgPool(p), Saved::Hw(h, w)) => p.backward(g, *h, *w)?,
            (Op::MinSizePool(p), Saved::Hw(h, w)) => p.backward(g, *h, *w)?,
            (Op::SqueezeExcite(se), Saved::Gate(s)) => se.backward(s, g, mode)?,
            (Op::GlobalAvgPool, Saved::Hw(h, w)) => avg_pool::global_avg_backward(g, *h, *w)?,
            (Op::Flatten, Saved::Shape(shape)) => g.reshape(shape.as_slice())?,
            (Op::Linear(l), _) => l.backward(g)?,
            (Op::Dropout, _) => g.clone(),
            (Op::Seq(ops), Saved::Seq(s)) => backward_seq(ops, s, g, mode)?,
            (Op::Concat(branches), Saved::Concat(tapes, channels)) => {
                let mut sum: Option<Tensor> = None;
                let mut at = 0;
                for ((b, s), &c) in branches.iter().zip(tapes).zip(channels) {
                    let gb = backward_seq(b, s, &g.narrow(1, at, c)?.contiguous()?, mode)?;
                    at += c;
                    sum = Some(match sum {
                        None => gb,
                        Some(acc) => activation::add_maybe_relu(&acc, &gb, false)?,
                    });
                }
                sum.ok_or(Error::NoTape)?
            }
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
                // One parallel pass on the CPU (candle's add runs on its own spinning
                // threads, which then compete with rayon's).
                activation::add_maybe_relu(&gm, &gs, false)?
            }
            _ => {
                return Err(Error::NoTape);
            }
        })
    }
}
