//! GoogLeNet (Szegedy et al. 2015; the CAM paper's GoogLeNet-GAP is this network's head),
//! torchvision's layout.
//!
//! `conv1` (7×7 stride 2) → max-pool → `conv2` (1×1) → `conv3` (3×3) → max-pool →
//! `inception3a/b` → max-pool → `inception4a…e` → 2×2 max-pool → `inception5a/b` → global
//! average pool → `fc`. Every `BasicConv2d` is convolution + BatchNorm (eps 1e-3) + a ReLU
//! applied functionally, so guided backprop leaves them plain, as pytorch-grad-cam does. An
//! Inception module concatenates `branch1` (1×1), `branch2` (1×1 → 3×3), `branch3` (1×1 → 3×3:
//! torchvision's, not the paper's 5×5) and `branch4` (3×3 stride-1 max-pool → 1×1). The
//! max-pools are in ceil mode.
//!
//! `transform_input`: the pretrained builder sets it, re-normalizing an ImageNet-normalized
//! input to torchvision's original `(x − 0.5) / 0.5`; it is not stored in the checkpoint, so
//! camscope applies it always (a fine-tuned GoogLeNet starts from those weights) as the node
//! `transform_input` (docs/models.md). The auxiliary classifiers `aux1` / `aux2` only run in
//! training; when present they are read (shapes checked) and unused, as in PyTorch's eval.

use candle_core::Tensor;

use super::blocks::{Groups, conv_bn, gap_linear_head, linear};
use super::{Architecture, Built, Node, Vb, Weights};
use crate::engine::error::Result;
use crate::engine::io::preprocess::Preprocess;
use crate::engine::ops::{BatchNorm, MaxPool, Op};

const EPS: f64 = 1e-3;

pub const ARCHITECTURE: Architecture = Architecture {
    name: "GoogLeNet (torchvision)",
    keys: "conv1.conv.weight, inception3a.branch1.conv.weight, fc.weight",
    detect,
    build,
};

fn detect(w: &Weights) -> bool {
    w.contains("inception3a.branch1.conv.weight") && w.contains("inception5b.branch4.1.conv.weight")
}

/// A `BasicConv2d` at `vb` over `cin` channels: its convolution (BatchNorm folded) and
/// functional ReLU; with its output channels.
fn basic(vb: &Vb, cin: usize, stride: usize) -> Result<(Vec<Op>, usize)> {
    let c = conv_bn(
        &vb.pp("conv"),
        &vb.pp("bn"),
        cin,
        stride,
        None,
        Groups::One,
        EPS,
    )?;
    let out = c.out_channels();
    Ok((vec![Op::Conv(c), Op::ReluFn], out))
}

fn pool(kernel: usize, stride: usize, padding: usize) -> Op {
    Op::MaxPool(MaxPool {
        kernel,
        stride,
        padding,
        ceil: true,
    })
}

/// torchvision's `transform_input` as a per-channel affine map:
/// `x · std / 0.5 + (mean − 0.5) / 0.5`.
pub(super) fn transform_input(vb: &Vb) -> Result<Op> {
    let imagenet = Preprocess::imagenet();
    let scale: Vec<f32> = imagenet.std.iter().map(|s| s / 0.5).collect();
    let shift: Vec<f32> = imagenet.mean.iter().map(|m| (m - 0.5) / 0.5).collect();
    Ok(Op::BatchNorm(BatchNorm {
        scale: Tensor::new(scale.as_slice(), vb.device())?,
        shift: Tensor::new(shift.as_slice(), vb.device())?,
    }))
}

fn build(vb: &Vb) -> Result<Built> {
    let mut nodes = vec![Node::new("transform_input", vec![transform_input(vb)?])];
    let (ops, mut c) = basic(&vb.pp("conv1"), 3, 2)?;
    nodes.push(Node::new("conv1", ops));
    nodes.push(Node::new("maxpool1", vec![pool(3, 2, 0)]));
    for name in ["conv2", "conv3"] {
        let (ops, out) = basic(&vb.pp(name), c, 1)?;
        nodes.push(Node::new(name, ops));
        c = out;
    }
    nodes.push(Node::new("maxpool2", vec![pool(3, 2, 0)]));
    for name in [
        "inception3a",
        "inception3b",
        "maxpool3",
        "inception4a",
        "inception4b",
        "inception4c",
        "inception4d",
        "inception4e",
        "maxpool4",
        "inception5a",
        "inception5b",
    ] {
        let op = match name {
            "maxpool3" => pool(3, 2, 0),
            "maxpool4" => pool(2, 2, 0),
            _ => {
                let (op, out) = inception(&vb.pp(name), c)?;
                c = out;
                op
            }
        };
        nodes.push(Node::new(name, vec![op]));
    }
    let default_layer = nodes.len() - 1;
    for aux in ["aux1", "aux2"] {
        vb.pp(aux).read_unused_part()?;
    }
    let (fc, num_classes) = linear(&vb.pp("fc"), c)?;
    let cam = gap_linear_head(&mut nodes, fc, "avgpool", "fc");
    Ok(Built {
        architecture: "googlenet".into(),
        nodes,
        aliases: Vec::new(),
        default_layer,
        cam: Ok(cam),
        num_classes,
        preprocess: Preprocess::imagenet(),
    })
}

/// One Inception module over `cin` channels: the op and its output channels.
fn inception(vb: &Vb, cin: usize) -> Result<(Op, usize)> {
    let (b1, c1) = basic(&vb.pp("branch1"), cin, 1)?;
    let mut branches = vec![b1];
    let mut out = c1;
    for b in ["branch2", "branch3"] {
        let (mut ops, mid) = basic(&vb.pp(b).pp(0), cin, 1)?;
        let (more, c) = basic(&vb.pp(b).pp(1), mid, 1)?;
        ops.extend(more);
        branches.push(ops);
        out += c;
    }
    let (proj, c4) = basic(&vb.pp("branch4").pp(1), cin, 1)?;
    let mut b4 = vec![pool(3, 1, 1)];
    b4.extend(proj);
    branches.push(b4);
    out += c4;
    Ok((Op::Concat(branches), out))
}
