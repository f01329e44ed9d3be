//! MobileNet-V2 (Sandler et al. 2018) and MobileNet-V3 small / large (Howard et al. 2019),
//! torchvision's layouts.
//!
//! Both: `features.0` (3×3 stride-2 convolution, BatchNorm, activation), inverted residual
//! blocks `features.1…`, a last 1×1 convolution, global average pool, `classifier`. A block
//! expands (1×1), filters depthwise (k×k), optionally squeezes and excites, and projects (1×1,
//! no activation); it adds its input when the stride is 1 and the width is kept.
//!
//! Strides and activations are not in the checkpoint: they are torchvision's fixed tables,
//! indexed by block (width multipliers change channels, never the block list).
//! - V2: ReLU6 everywhere, stride 2 at blocks 2, 4, 7 and 14 of 17; BatchNorm eps 1e-5.
//! - V3: Hardswish or ReLU per block, squeeze-and-excitation with ReLU + Hardsigmoid where the
//!   table says (found from the keys), BatchNorm eps 1e-3; the head is
//!   `classifier.0` (linear) → Hardswish → `classifier.3`, so V3 has no CAM.

use super::blocks::{
    Groups, conv_bn, conv_norm, gap_linear_head, inverted_residual, linear, squeeze_excite,
};
use super::{Architecture, Built, Node, Vb, Weights};
use crate::engine::error::Result;
use crate::engine::io::preprocess::Preprocess;
use crate::engine::ops::{Act, Op};

pub const V2: Architecture = Architecture {
    name: "MobileNet-V2 (torchvision)",
    keys: "features.0.0.weight, features.1.conv.0.0.weight, classifier.1.weight",
    detect: |w| w.contains("features.1.conv.0.0.weight"),
    build: build_v2,
};

pub const V3: Architecture = Architecture {
    name: "MobileNet-V3 (torchvision)",
    keys: "features.0.0.weight, features.1.block.0.0.weight, classifier.3.weight",
    detect: detect_v3,
    build: build_v3,
};

fn detect_v3(w: &Weights) -> bool {
    w.contains("features.1.block.0.0.weight") && w.contains("classifier.3.weight")
}

/// An activation as an op.
fn act_op(act: Act) -> Op {
    match act {
        Act::Relu => Op::Relu,
        a => Op::Act(a),
    }
}

/// The stem, `features.0`: a 3×3 stride-2 convolution with its BatchNorm and `act`.
fn stem(f: &Vb, eps: f64, act: Op) -> Result<(Node, usize)> {
    let c = conv_norm(&f.pp(0), 3, 2, Groups::One, eps)?;
    let out = c.out_channels();
    Ok((Node::new(f.pp(0).prefix(), vec![Op::Conv(c), act]), out))
}

/// The last 1×1 convolution `features.{i}` over `c` channels with `act`: its node and width.
fn last_conv(f: &Vb, i: usize, c: usize, eps: f64, act: Op) -> Result<(Node, usize)> {
    let last = conv_norm(&f.pp(i), c, 1, Groups::One, eps)?;
    let out = last.out_channels();
    Ok((Node::new(f.pp(i).prefix(), vec![Op::Conv(last), act]), out))
}

fn build_v2(vb: &Vb) -> Result<Built> {
    const EPS: f64 = 1e-5;
    let f = vb.pp("features");
    let (node, mut c) = stem(&f, EPS, Op::Relu6)?;
    let mut nodes = vec![node];
    let n = (1..)
        .take_while(|i| f.pp(i).contains("conv.0.0.weight"))
        .count();
    if n != 17 {
        return Err(vb.layout_error(format!(
            "MobileNet-V2 has 17 inverted residual blocks (features.1–17), this checkpoint {n}"
        )));
    }
    for i in 1..=n {
        let b = f.pp(i).pp("conv");
        let stride = if [2, 4, 7, 14].contains(&i) { 2 } else { 1 };
        let mut ops = Vec::new();
        let mut at = 0;
        let mut width = c;
        if b.contains("3.weight") {
            let e = conv_norm(&b.pp(0), c, 1, Groups::One, EPS)?;
            width = e.out_channels();
            ops.extend([Op::Conv(e), Op::Relu6]);
            at = 1;
        }
        let dw = conv_norm(&b.pp(at), width, stride, Groups::Infer, EPS)?;
        ops.extend([Op::Conv(dw), Op::Relu6]);
        let p = conv_bn(
            &b.pp(at + 1),
            &b.pp(at + 2),
            width,
            1,
            None,
            Groups::One,
            EPS,
        )?;
        let cout = p.out_channels();
        ops.push(Op::Conv(p));
        nodes.push(Node::new(
            f.pp(i).prefix(),
            vec![inverted_residual(ops, c, cout, stride)],
        ));
        c = cout;
    }
    let (node, out) = last_conv(&f, n + 1, c, EPS, Op::Relu6)?;
    nodes.push(node);
    c = out;
    let default_layer = nodes.len() - 1;
    let (fc, num_classes) = linear(&vb.pp("classifier").pp(1), c)?;
    let cam = gap_linear_head(&mut nodes, fc, "avgpool", "classifier");
    Ok(Built {
        architecture: "mobilenet_v2".into(),
        nodes,
        aliases: vec![("features".into(), default_layer)],
        default_layer,
        cam: Ok(cam),
        num_classes,
        preprocess: Preprocess::imagenet(),
    })
}

/// torchvision's MobileNet-V3 tables: per block, whether it uses Hardswish and its stride.
const V3_LARGE: [(bool, usize); 15] = [
    (false, 1),
    (false, 2),
    (false, 1),
    (false, 2),
    (false, 1),
    (false, 1),
    (true, 2),
    (true, 1),
    (true, 1),
    (true, 1),
    (true, 1),
    (true, 1),
    (true, 2),
    (true, 1),
    (true, 1),
];
const V3_SMALL: [(bool, usize); 11] = [
    (false, 2),
    (false, 2),
    (false, 1),
    (true, 2),
    (true, 1),
    (true, 1),
    (true, 1),
    (true, 1),
    (true, 2),
    (true, 1),
    (true, 1),
];

fn build_v3(vb: &Vb) -> Result<Built> {
    const EPS: f64 = 1e-3;
    let f = vb.pp("features");
    let (node, mut c) = stem(&f, EPS, Op::Act(Act::Hardswish))?;
    let mut nodes = vec![node];
    let n = (1..)
        .take_while(|i| f.pp(i).contains("block.0.0.weight"))
        .count();
    let (table, variant): (&[(bool, usize)], _) = match n {
        15 => (&V3_LARGE, "mobilenet_v3_large"),
        11 => (&V3_SMALL, "mobilenet_v3_small"),
        _ => {
            return Err(vb.layout_error(format!(
                "MobileNet-V3 has 15 (large) or 11 (small) blocks after features.0, this \
                 checkpoint {n}"
            )));
        }
    };
    for (i, &(hardswish, stride)) in (1..=n).zip(table) {
        let b = f.pp(i).pp("block");
        let act = if hardswish { Act::Hardswish } else { Act::Relu };
        let parts = b.child_indices().len();
        let mut ops = Vec::new();
        let mut width = c;
        let mut j = 0;
        // An expansion exists when the first convolution is not the depthwise one.
        let first = b.pp(0).pp(0).dims_n("weight", 4)?;
        if first[1] != 1 || first[2] == 1 {
            let e = conv_norm(&b.pp(0), c, 1, Groups::One, EPS)?;
            width = e.out_channels();
            ops.extend([Op::Conv(e), act_op(act)]);
            j = 1;
        }
        let dw = conv_norm(&b.pp(j), width, stride, Groups::Infer, EPS)?;
        ops.extend([Op::Conv(dw), act_op(act)]);
        j += 1;
        if b.pp(j).contains("fc1.weight") {
            ops.push(squeeze_excite(
                &b.pp(j),
                width,
                ["fc1", "fc2"],
                Act::Relu,
                Act::Hardsigmoid,
            )?);
            j += 1;
        }
        let p = conv_norm(&b.pp(j), width, 1, Groups::One, EPS)?;
        if j + 1 != parts {
            return Err(vb.layout_error(format!(
                "{}: expected expand / depthwise / squeeze-excitation / project, found {parts} \
                 parts",
                b.prefix()
            )));
        }
        let cout = p.out_channels();
        ops.push(Op::Conv(p));
        nodes.push(Node::new(
            f.pp(i).prefix(),
            vec![inverted_residual(ops, c, cout, stride)],
        ));
        c = cout;
    }
    let (node, out) = last_conv(&f, n + 1, c, EPS, Op::Act(Act::Hardswish))?;
    nodes.push(node);
    c = out;
    let default_layer = nodes.len() - 1;
    let cls = vb.pp("classifier");
    let (hidden, h) = linear(&cls.pp(0), c)?;
    let (fc, num_classes) = linear(&cls.pp(3), h)?;
    nodes.push(Node::new("avgpool", vec![Op::GlobalAvgPool]));
    nodes.push(Node::new(
        "classifier.0",
        vec![Op::Flatten, Op::Linear(hidden)],
    ));
    nodes.push(Node::new("classifier.1", vec![Op::Act(Act::Hardswish)]));
    nodes.push(Node::new("classifier.3", vec![Op::Dropout, Op::Linear(fc)]));
    Ok(Built {
        architecture: variant.into(),
        nodes,
        aliases: vec![("features".into(), default_layer)],
        default_layer,
        cam: Err(
            "MobileNet-V3's head has a hidden layer after the pooling (classifier.0 → Hardswish → \
             classifier.3), so the logit is not a weighted sum of channel means; use Grad-CAM"
                .into(),
        ),
        num_classes,
        preprocess: Preprocess::imagenet(),
    })
}
