//! RegNet-X and RegNet-Y (Radosavovic et al. 2020), torchvision's layout, every size.
//!
//! `stem` (3×3 stride-2 convolution, BatchNorm, ReLU), then `trunk_output.block{s}` stages of
//! `block{s}-{j}` bottlenecks: `f.a` (1×1) → `f.b` (3×3 grouped, the stage's stride on its first
//! block) → `f.se` (RegNet-Y: squeeze-and-excitation, ReLU + sigmoid) → `f.c` (1×1), plus
//! `proj` (1×1 strided) where the shape changes, ReLU after the sum. Global average pool, `fc`.
//! Group counts come from the kernels' shapes; every stage's first block has stride 2.

use super::blocks::{Groups, conv_norm, gap_linear_head, linear, squeeze_excite};
use super::{Architecture, Built, Node, Vb, Weights};
use crate::engine::error::Result;
use crate::engine::io::preprocess::Preprocess;
use crate::engine::ops::{Act, Op};

const EPS: f64 = 1e-5;

pub const ARCHITECTURE: Architecture = Architecture {
    name: "RegNet (torchvision)",
    keys: "stem.0.weight, trunk_output.block1.block1-0.f.a.0.weight, fc.weight",
    detect,
    build,
};

fn detect(w: &Weights) -> bool {
    w.contains("trunk_output.block1.block1-0.f.a.0.weight")
}

fn build(vb: &Vb) -> Result<Built> {
    let stem = conv_norm(&vb.pp("stem"), 3, 2, Groups::One, EPS)?;
    let mut c = stem.out_channels();
    let mut nodes = vec![Node::new("stem", vec![Op::Conv(stem), Op::Relu])];
    let mut aliases = Vec::new();
    let trunk = vb.pp("trunk_output");
    let mut depths = Vec::new();
    let mut widths = Vec::new();
    let mut se = false;
    for s in 1.. {
        let stage = trunk.pp(format!("block{s}"));
        let n = (0..)
            .take_while(|j| stage.pp(format!("block{s}-{j}")).contains("f.a.0.weight"))
            .count();
        if n == 0 {
            break;
        }
        for j in 0..n {
            let b = stage.pp(format!("block{s}-{j}"));
            se |= b.contains("f.se.fc1.weight");
            let (op, cout) = bottleneck(&b, c, if j == 0 { 2 } else { 1 })?;
            nodes.push(Node::new(b.prefix(), vec![op]));
            c = cout;
        }
        aliases.push((stage.prefix().to_owned(), nodes.len() - 1));
        depths.push(n);
        widths.push(c);
    }
    if depths.is_empty() {
        return Err(vb.layout_error("no trunk_output.block1.block1-0"));
    }
    let default_layer = nodes.len() - 1;
    // First, so that it is the default layer's display name.
    aliases.insert(0, ("trunk_output".into(), default_layer));
    let (fc, num_classes) = linear(&vb.pp("fc"), c)?;
    let cam = gap_linear_head(&mut nodes, fc, "avgpool", "fc");
    let join = |v: &[usize]| {
        v.iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join("-")
    };
    Ok(Built {
        architecture: format!(
            "regnet_{} (depths {}, widths {})",
            if se { "y" } else { "x" },
            join(&depths),
            join(&widths)
        ),
        nodes,
        aliases,
        default_layer,
        cam: Ok(cam),
        num_classes,
        preprocess: Preprocess::imagenet(),
    })
}

/// `ResBottleneckBlock` at `vb` over `cin` channels: the op and its output channels.
fn bottleneck(vb: &Vb, cin: usize, stride: usize) -> Result<(Op, usize)> {
    let f = vb.pp("f");
    let a = conv_norm(&f.pp("a"), cin, 1, Groups::One, EPS)?;
    let w = a.out_channels();
    let b = conv_norm(&f.pp("b"), w, stride, Groups::Infer, EPS)?;
    let mut main = vec![Op::Conv(a), Op::Relu, Op::Conv(b), Op::Relu];
    if f.contains("se.fc1.weight") {
        main.push(squeeze_excite(
            &f.pp("se"),
            w,
            ["fc1", "fc2"],
            Act::Relu,
            Act::Sigmoid,
        )?);
    }
    let cc = conv_norm(&f.pp("c"), w, 1, Groups::One, EPS)?;
    let cout = cc.out_channels();
    main.push(Op::Conv(cc));
    let shortcut = if vb.contains("proj.0.weight") {
        vec![Op::Conv(conv_norm(
            &vb.pp("proj"),
            cin,
            stride,
            Groups::One,
            EPS,
        )?)]
    } else {
        Vec::new()
    };
    Ok((
        Op::Residual {
            main,
            shortcut,
            post_relu: true,
        },
        cout,
    ))
}
