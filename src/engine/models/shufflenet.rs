//! ShuffleNet-V2 (Ma et al. 2018) ×0.5 / ×1.0 / ×1.5 / ×2.0, torchvision's layout.
//!
//! `conv1` (3×3 stride 2, BatchNorm, ReLU) → 3×3 stride-2 max-pool → `stage2…4` of
//! `InvertedResidual` blocks → `conv5` (1×1, BatchNorm, ReLU) → spatial mean → `fc`. A block
//! of stride 1 splits its channels in two halves (`x.chunk(2)`), passes the first and runs
//! `branch2` on the second; a stride-2 block (each stage's first) runs `branch1` and `branch2`
//! on all of it; both concatenate and shuffle the channels in two groups.

use super::blocks::{Groups, conv_bn, gap_linear_head, linear, stem_max_pool};
use super::{Architecture, Built, Node, Vb, Weights};
use crate::engine::error::Result;
use crate::engine::io::preprocess::Preprocess;
use crate::engine::ops::{Conv2d, Op};

const EPS: f64 = 1e-5;

pub const ARCHITECTURE: Architecture = Architecture {
    name: "ShuffleNet-V2 (torchvision)",
    keys: "conv1.0.weight, stage2.0.branch1.0.weight, conv5.0.weight, fc.weight",
    detect,
    build,
};

fn detect(w: &Weights) -> bool {
    w.contains("stage2.0.branch1.0.weight") && w.contains("conv5.0.weight")
}

/// `{vb}.{i}` (a convolution) with the BatchNorm `{vb}.{i + 1}` folded in.
fn cbn(vb: &Vb, i: usize, cin: usize, stride: usize) -> Result<Conv2d> {
    conv_bn(
        &vb.pp(i),
        &vb.pp(i + 1),
        cin,
        stride,
        None,
        Groups::Infer,
        EPS,
    )
}

fn build(vb: &Vb) -> Result<Built> {
    let stem = cbn(&vb.pp("conv1"), 0, 3, 2)?;
    let mut c = stem.out_channels();
    let mut nodes = vec![
        Node::new("conv1", vec![Op::Conv(stem), Op::Relu]),
        Node::new("maxpool", vec![stem_max_pool()]),
    ];
    let mut aliases = Vec::new();
    let mut stage2 = 0;
    for s in 2..=4 {
        let stage = vb.pp(format!("stage{s}"));
        let n = stage.child_indices().len();
        if n == 0 {
            return Err(vb.layout_error(format!("no {}.0", stage.prefix())));
        }
        for j in 0..n {
            let b = stage.pp(j);
            let (op, cout) = block(&b, c, j == 0)?;
            nodes.push(Node::new(b.prefix(), vec![op]));
            c = cout;
        }
        if s == 2 {
            stage2 = c;
        }
        aliases.push((stage.prefix().to_owned(), nodes.len() - 1));
    }
    let last = cbn(&vb.pp("conv5"), 0, c, 1)?;
    c = last.out_channels();
    nodes.push(Node::new("conv5", vec![Op::Conv(last), Op::Relu]));
    let default_layer = nodes.len() - 1;
    let (fc, num_classes) = linear(&vb.pp("fc"), c)?;
    let cam = gap_linear_head(&mut nodes, fc, "mean", "fc");
    let size = match stage2 {
        48 => Some("x0_5"),
        116 => Some("x1_0"),
        176 => Some("x1_5"),
        244 => Some("x2_0"),
        _ => None,
    };
    Ok(Built {
        architecture: size.map_or_else(
            || format!("shufflenet_v2 (stage2 {stage2} wide)"),
            |s| format!("shufflenet_v2_{s}"),
        ),
        nodes,
        aliases,
        default_layer,
        cam: Ok(cam),
        num_classes,
        preprocess: Preprocess::imagenet(),
    })
}

/// One `InvertedResidual` over `cin` channels (stride 2 when `first`): the op, its output
/// channels.
fn block(vb: &Vb, cin: usize, first: bool) -> Result<(Op, usize)> {
    let stride = if first { 2 } else { 1 };
    let b2 = vb.pp("branch2");
    let half = cin / 2;
    let b2_in = if first { cin } else { half };
    let pw1 = cbn(&b2, 0, b2_in, 1)?;
    let w = pw1.out_channels();
    let dw = cbn(&b2, 3, w, stride)?;
    let pw2 = cbn(&b2, 5, w, 1)?;
    let mut out = pw2.out_channels();
    let mut branch2 = vec![
        Op::Conv(pw1),
        Op::Relu,
        Op::Conv(dw),
        Op::Conv(pw2),
        Op::Relu,
    ];
    let branches = if first {
        let b1 = vb.pp("branch1");
        let dw1 = cbn(&b1, 0, cin, 2)?;
        let pw = cbn(&b1, 2, cin, 1)?;
        out += pw.out_channels();
        vec![vec![Op::Conv(dw1), Op::Conv(pw), Op::Relu], branch2]
    } else {
        if vb.contains("branch1.0.weight") {
            return Err(vb.layout_error(format!(
                "{}: only a stage's first block has branch1",
                vb.prefix()
            )));
        }
        out += half;
        branch2.insert(
            0,
            Op::Narrow {
                start: half,
                len: half,
            },
        );
        vec![
            vec![Op::Narrow {
                start: 0,
                len: half,
            }],
            branch2,
        ]
    };
    Ok((
        Op::Seq(vec![Op::Concat(branches), Op::ChannelShuffle(2)]),
        out,
    ))
}
