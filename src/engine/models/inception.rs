//! Inception-v3 (Szegedy et al. 2016), torchvision's layout, at its 299×299 input.
//!
//! The stem `Conv2d_1a_3x3` (stride 2) → `Conv2d_2a_3x3` → `Conv2d_2b_3x3` → max-pool →
//! `Conv2d_3b_1x1` → `Conv2d_4a_3x3` → max-pool, then `Mixed_5b…5d` (InceptionA), `Mixed_6a`
//! (B), `Mixed_6b…6e` (C), `Mixed_7a` (D), `Mixed_7b/7c` (E), global average pool, `fc`. Every
//! `BasicConv2d` is convolution + BatchNorm (eps 1e-3) + a functional ReLU (never guided, as in
//! pytorch-grad-cam). Padding is not stored: "same" (per axis, for the 1×7 / 7×1 / 1×3 / 3×1
//! kernels) everywhere but the stride-2 convolutions and the stem's 3×3 ones without `b`
//! (`1a`, `2a`, `4a`), which have none. Branch pools: 3×3 stride-1 average with zero padding
//! counted (A, C, E), 3×3 stride-2 max (B, D).
//!
//! `transform_input` is applied as GoogLeNet's is (googlenet.rs); `AuxLogits` (training only)
//! is read and unused. Preprocessing: torchvision's 342 → 299, bilinear.

use super::blocks::{Groups, batch_norm, conv, gap_linear_head, linear};
use super::googlenet::transform_input;
use super::{Architecture, Built, Node, Vb, Weights};
use crate::engine::error::Result;
use crate::engine::io::preprocess::{Interpolation, Preprocess};
use crate::engine::ops::{AvgPool, MaxPool, Op, RectConv};

const EPS: f64 = 1e-3;

pub const ARCHITECTURE: Architecture = Architecture {
    name: "Inception-v3 (torchvision)",
    keys: "Conv2d_1a_3x3.conv.weight, Mixed_5b.branch1x1.conv.weight, fc.weight",
    detect,
    build,
};

fn detect(w: &Weights) -> bool {
    w.contains("Mixed_5b.branch1x1.conv.weight") && w.contains("Conv2d_1a_3x3.conv.weight")
}

/// A `BasicConv2d` `{vb}.{name}` over `cin` channels, with no padding when `valid` (else
/// "same"): its ops and output channels.
fn basic(vb: &Vb, name: &str, cin: usize, stride: usize, valid: bool) -> Result<(Vec<Op>, usize)> {
    let b = vb.pp(name);
    let dims = b.pp("conv").dims_n("weight", 4)?;
    let (kh, kw) = (dims[2], dims[3]);
    let op = if kh == kw {
        let c = conv(
            &b.pp("conv"),
            cin,
            stride,
            Some(if valid { 0 } else { kh / 2 }),
            Groups::One,
        )?;
        let bn = batch_norm(&b.pp("bn"), c.out_channels(), EPS)?;
        Op::Conv(c.fold_batch_norm(&bn)?)
    } else {
        let w = b.pp("conv").get("weight", &[dims[0], cin, kh, kw])?;
        let c = RectConv::new(w, None, (kh / 2, kw / 2))?;
        let bn = batch_norm(&b.pp("bn"), dims[0], EPS)?;
        Op::RectConv(c.fold_batch_norm(&bn)?)
    };
    Ok((vec![op, Op::ReluFn], dims[0]))
}

/// A chain of `BasicConv2d`s (`names`, "same" padding but the last when `last_stride` is 2).
fn chain(vb: &Vb, names: &[&str], cin: usize, last_stride: usize) -> Result<(Vec<Op>, usize)> {
    let mut ops = Vec::new();
    let mut c = cin;
    for (i, name) in names.iter().enumerate() {
        let stride = if i + 1 == names.len() { last_stride } else { 1 };
        let (more, out) = basic(vb, name, c, stride, stride == 2)?;
        ops.extend(more);
        c = out;
    }
    Ok((ops, c))
}

fn max_pool() -> Op {
    Op::MaxPool(MaxPool {
        kernel: 3,
        stride: 2,
        padding: 0,
        ceil: false,
    })
}

/// `F.avg_pool2d(x, 3, stride=1, padding=1)` (the padding counted) then a `BasicConv2d`.
fn avg_pool_branch(vb: &Vb, cin: usize) -> Result<(Vec<Op>, usize)> {
    let (conv, c) = basic(vb, "branch_pool", cin, 1, false)?;
    let mut ops = vec![
        Op::Pad([1; 4]),
        Op::AvgPool(AvgPool {
            kernel: 3,
            stride: 1,
            ceil: false,
        }),
    ];
    ops.extend(conv);
    Ok((ops, c))
}

/// Branches concatenated: the op and the channels.
fn concat(branches: Vec<(Vec<Op>, usize)>) -> (Op, usize) {
    let c = branches.iter().map(|(_, c)| c).sum();
    (
        Op::Concat(branches.into_iter().map(|(b, _)| b).collect()),
        c,
    )
}

/// `{first}` then `[{a}(x), {b}(x)]` concatenated (InceptionE's split 1×3 / 3×1 pairs).
fn split(vb: &Vb, first: &[&str], a: &str, b: &str, cin: usize) -> Result<(Vec<Op>, usize)> {
    let (mut ops, mid) = chain(vb, first, cin, 1)?;
    let (pair, c) = concat(vec![
        basic(vb, a, mid, 1, false)?,
        basic(vb, b, mid, 1, false)?,
    ]);
    ops.push(pair);
    Ok((ops, c))
}

fn mixed(vb: &Vb, kind: char, cin: usize) -> Result<(Op, usize)> {
    let branches = match kind {
        'A' => vec![
            chain(vb, &["branch1x1"], cin, 1)?,
            chain(vb, &["branch5x5_1", "branch5x5_2"], cin, 1)?,
            chain(
                vb,
                &["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"],
                cin,
                1,
            )?,
            avg_pool_branch(vb, cin)?,
        ],
        'B' => vec![
            chain(vb, &["branch3x3"], cin, 2)?,
            chain(
                vb,
                &["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"],
                cin,
                2,
            )?,
            (vec![max_pool()], cin),
        ],
        'C' => vec![
            chain(vb, &["branch1x1"], cin, 1)?,
            chain(vb, &["branch7x7_1", "branch7x7_2", "branch7x7_3"], cin, 1)?,
            chain(
                vb,
                &[
                    "branch7x7dbl_1",
                    "branch7x7dbl_2",
                    "branch7x7dbl_3",
                    "branch7x7dbl_4",
                    "branch7x7dbl_5",
                ],
                cin,
                1,
            )?,
            avg_pool_branch(vb, cin)?,
        ],
        'D' => vec![
            chain(vb, &["branch3x3_1", "branch3x3_2"], cin, 2)?,
            chain(
                vb,
                &[
                    "branch7x7x3_1",
                    "branch7x7x3_2",
                    "branch7x7x3_3",
                    "branch7x7x3_4",
                ],
                cin,
                2,
            )?,
            (vec![max_pool()], cin),
        ],
        _ => vec![
            chain(vb, &["branch1x1"], cin, 1)?,
            split(vb, &["branch3x3_1"], "branch3x3_2a", "branch3x3_2b", cin)?,
            split(
                vb,
                &["branch3x3dbl_1", "branch3x3dbl_2"],
                "branch3x3dbl_3a",
                "branch3x3dbl_3b",
                cin,
            )?,
            avg_pool_branch(vb, cin)?,
        ],
    };
    Ok(concat(branches))
}

fn build(vb: &Vb) -> Result<Built> {
    let mut nodes = vec![Node::new("transform_input", vec![transform_input(vb)?])];
    let mut c = 3;
    for (name, stride, valid) in [
        ("Conv2d_1a_3x3", 2, true),
        ("Conv2d_2a_3x3", 1, true),
        ("Conv2d_2b_3x3", 1, false),
        ("maxpool1", 0, false),
        ("Conv2d_3b_1x1", 1, true),
        ("Conv2d_4a_3x3", 1, true),
        ("maxpool2", 0, false),
    ] {
        if stride == 0 {
            nodes.push(Node::new(name, vec![max_pool()]));
            continue;
        }
        let (ops, out) = basic(vb, name, c, stride, valid)?;
        nodes.push(Node::new(name, ops));
        c = out;
    }
    for (name, kind) in [
        ("Mixed_5b", 'A'),
        ("Mixed_5c", 'A'),
        ("Mixed_5d", 'A'),
        ("Mixed_6a", 'B'),
        ("Mixed_6b", 'C'),
        ("Mixed_6c", 'C'),
        ("Mixed_6d", 'C'),
        ("Mixed_6e", 'C'),
        ("Mixed_7a", 'D'),
        ("Mixed_7b", 'E'),
        ("Mixed_7c", 'E'),
    ] {
        let (op, out) = mixed(&vb.pp(name), kind, c)?;
        nodes.push(Node::new(name, vec![op]));
        c = out;
    }
    let default_layer = nodes.len() - 1;
    vb.pp("AuxLogits").read_unused_part()?;
    let (fc, num_classes) = linear(&vb.pp("fc"), c)?;
    let cam = gap_linear_head(&mut nodes, fc, "avgpool", "fc");
    Ok(Built {
        architecture: "inception_v3".into(),
        nodes,
        aliases: Vec::new(),
        default_layer,
        cam: Ok(cam),
        num_classes,
        preprocess: Preprocess::torchvision(342, 299, Interpolation::Bilinear),
    })
}
