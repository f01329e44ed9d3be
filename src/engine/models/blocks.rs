//! Loading the building blocks (convolution, BatchNorm, linear) from torchvision-style keys,
//! with shape checks that name the tensor.

use super::{CamHead, Node, Vb};
use crate::engine::error::Result;
use crate::engine::ops::{Act, BatchNorm, Conv2d, Linear, MaxPool, Op, SqueezeExcite};

/// How the input channels of a convolution relate to its kernel.
#[derive(Clone, Copy)]
pub enum Groups {
    /// An ordinary convolution: the kernel must be `[out, in, k, k]`.
    One,
    /// Inferred from the kernel: `in / kernel.shape[1]` (ResNeXt, depthwise).
    Infer,
}

/// `{vb}.weight` (and `{vb}.bias` if stored) as a convolution over `cin` channels, with
/// "same"-style padding `k / 2` unless `padding` is given.
pub fn conv(
    vb: &Vb,
    cin: usize,
    stride: usize,
    padding: Option<usize>,
    groups: Groups,
) -> Result<Conv2d> {
    let dims = vb.dims_n("weight", 4)?;
    let (cout, cin_g, kh, kw) = (dims[0], dims[1], dims[2], dims[3]);
    if kh != kw {
        return Err(vb.layout_error(format!(
            "{}: only square kernels are supported, found shape {dims:?}",
            vb.key("weight")
        )));
    }
    let groups = match groups {
        Groups::One => 1,
        Groups::Infer
            if cin_g > 0 && cin.is_multiple_of(cin_g) && cout.is_multiple_of(cin / cin_g) =>
        {
            cin / cin_g
        }
        Groups::Infer => 1,
    };
    let weight = vb.get("weight", &[cout, cin / groups, kh, kw])?;
    let bias = if vb.contains("bias") {
        Some(vb.get("bias", &[cout])?)
    } else {
        None
    };
    Conv2d::new(weight, bias, stride, padding.unwrap_or(kh / 2), groups)
}

/// An eval-mode BatchNorm over `c` channels.
pub fn batch_norm(vb: &Vb, c: usize, eps: f64) -> Result<BatchNorm> {
    BatchNorm::new(
        &vb.get("weight", &[c])?,
        &vb.get("bias", &[c])?,
        &vb.get("running_mean", &[c])?,
        &vb.get("running_var", &[c])?,
        eps,
    )
}

/// A convolution with the BatchNorm that follows it folded in.
pub fn conv_bn(
    conv_vb: &Vb,
    bn_vb: &Vb,
    cin: usize,
    stride: usize,
    padding: Option<usize>,
    groups: Groups,
    eps: f64,
) -> Result<Conv2d> {
    let c = conv(conv_vb, cin, stride, padding, groups)?;
    let bn = batch_norm(bn_vb, c.out_channels(), eps)?;
    c.fold_batch_norm(&bn)
}

/// A linear layer taking `fin` features; returns it with its output count.
pub fn linear(vb: &Vb, fin: usize) -> Result<(Linear, usize)> {
    let dims = vb.dims_n("weight", 2)?;
    let fout = dims[0];
    let weight = vb.get("weight", &[fout, fin])?;
    let bias = vb.get("bias", &[fout])?;
    Ok((Linear { weight, bias }, fout))
}

/// The number of consecutive `prefix.{i}` children that have `probe` (e.g. blocks of a stage).
pub fn count_children(vb: &Vb, probe: &str) -> usize {
    (0..).take_while(|i| vb.pp(i).contains(probe)).count()
}

/// Appends a global-average-pool + linear head to `nodes` (nodes `pool` and `fc`, the latter
/// flattening first) over the last node's output, and returns the CAM head it makes.
pub fn gap_linear_head(nodes: &mut Vec<Node>, fc: Linear, pool: &str, fc_name: &str) -> CamHead {
    let cam = CamHead {
        layer: nodes.len() - 1,
        weight: fc.weight.clone(),
        bias: fc.bias.clone(),
    };
    nodes.push(Node::new(pool, vec![Op::GlobalAvgPool]));
    nodes.push(Node::new(fc_name, vec![Op::Flatten, Op::Linear(fc)]));
    cam
}

/// The ResNet stem's 3×3 max-pool, stride 2, padding 1.
pub fn stem_max_pool() -> Op {
    Op::MaxPool(MaxPool {
        kernel: 3,
        stride: 2,
        padding: 1,
        ceil: false,
    })
}

/// Where a network's residual stages are: stage `s` (from `first` until one has no blocks) is
/// named `stage` with `{}` replaced by `s` (`layer{}`, `stages.{}`), its blocks are
/// `{stage}.{children}.{b}` (or `{stage}.{b}` when `children` is empty), and a block exists
/// when it has the tensor `probe`.
pub struct StageLayout<'a> {
    pub first: usize,
    pub stage: &'a str,
    pub children: &'a str,
    pub probe: &'a str,
}

/// Builds the residual stages of `layout` with `block(vb, stage, index)` (which tracks channels
/// itself): every block becomes a node named by its path, every stage an alias of its last
/// block. Returns the number of blocks per stage.
pub fn residual_stages(
    vb: &Vb,
    nodes: &mut Vec<Node>,
    aliases: &mut Vec<(String, usize)>,
    layout: &StageLayout<'_>,
    mut block: impl FnMut(&Vb, usize, usize) -> Result<Op>,
) -> Result<Vec<usize>> {
    let mut counts = Vec::new();
    for stage in layout.first.. {
        let name = layout.stage.replace("{}", &stage.to_string());
        let svb = if layout.children.is_empty() {
            vb.pp(&name)
        } else {
            vb.pp(&name).pp(layout.children)
        };
        let n = count_children(&svb, layout.probe);
        if n == 0 {
            break;
        }
        counts.push(n);
        for b in 0..n {
            let bvb = svb.pp(b);
            let op = block(&bvb, stage, b)?;
            nodes.push(Node::new(bvb.prefix(), vec![op]));
        }
        aliases.push((name, nodes.len() - 1));
    }
    Ok(counts)
}

/// [`conv_bn`] in its most common form: `{vb}.{conv}` then `{vb}.{bn}`, "same" padding,
/// BatchNorm eps 1e-5 (PyTorch's default).
pub fn conv_bn_at(
    vb: &Vb,
    conv: &str,
    bn: &str,
    cin: usize,
    stride: usize,
    groups: Groups,
) -> Result<Conv2d> {
    conv_bn(&vb.pp(conv), &vb.pp(bn), cin, stride, None, groups, 1e-5)
}

/// A squeeze-and-excitation module over `c` channels whose two 1×1 convolutions (with biases)
/// are `{vb}.{names[0]}` and `{vb}.{names[1]}`: `act` between them, `gate` after.
pub fn squeeze_excite(vb: &Vb, c: usize, names: [&str; 2], act: Act, gate: Act) -> Result<Op> {
    let (fc1, fc2) = (vb.pp(names[0]), vb.pp(names[1]));
    let r = fc1.dims_n("weight", 4)?[0];
    let matrix = |v: &Vb, rows: usize, cols: usize| -> Result<_> {
        Ok(v.get("weight", &[rows, cols, 1, 1])?
            .reshape((rows, cols))?)
    };
    Ok(Op::SqueezeExcite(SqueezeExcite {
        w1: matrix(&fc1, r, c)?,
        b1: fc1.get("bias", &[r])?,
        w2: matrix(&fc2, c, r)?,
        b2: fc2.get("bias", &[c])?,
        act,
        gate,
    }))
}

/// torchvision's `Conv2dNormActivation` at `vb` (`{vb}.0` the convolution, `{vb}.1` its
/// BatchNorm), folded into one convolution; the activation is the caller's.
pub fn conv_norm(vb: &Vb, cin: usize, stride: usize, groups: Groups, eps: f64) -> Result<Conv2d> {
    conv_bn(&vb.pp(0), &vb.pp(1), cin, stride, None, groups, eps)
}

/// An inverted-residual block's ops over `cin` → `cout` channels (MobileNet, EfficientNet): it
/// adds its input when the stride is 1 and the width is kept.
pub fn inverted_residual(main: Vec<Op>, cin: usize, cout: usize, stride: usize) -> Op {
    if stride == 1 && cin == cout {
        Op::Residual {
            main,
            shortcut: Vec::new(),
            post_relu: false,
        }
    } else {
        Op::Seq(main)
    }
}
