//! torchvision / timm ResNet, Wide ResNet and ResNeXt, inferred from key names and shapes.
//!
//! Layout (torchvision's): `conv1` (7×7, stride 2) → `bn1` → `relu` → `maxpool` (3×3, stride 2,
//! pad 1) → stages `layer1..layerN` of blocks → global average pool → `fc`. A block is a
//! Bottleneck when `conv3` exists, else a BasicBlock. The first block of every stage after the
//! first has stride 2 (on `conv2` of a Bottleneck, torchvision's "v1.5"; on `conv1` of a
//! BasicBlock). ResNeXt groups are read off `conv2.weight`'s shape. BatchNorm (eps 1e-5) is
//! folded into the convolutions; the node outputs are the stem (`relu`, `maxpool`), every block
//! (`layer4.2`), each stage as an alias of its last block (`layer4`), `avgpool` and `fc`.

use super::blocks::{Groups, conv_bn, count_children, linear};
use super::{Architecture, Built, CamHead, Node, Vb, Weights};
use crate::engine::error::Result;
use crate::engine::ops::{MaxPool, Op};
use crate::engine::preprocess::Preprocess;

const EPS: f64 = 1e-5;

pub const ARCHITECTURE: Architecture = Architecture {
    name: "torchvision / timm ResNet, Wide ResNet, ResNeXt",
    keys: "conv1.weight, layer1.0.conv1.weight, fc.weight",
    detect,
    build,
};

fn detect(w: &Weights) -> bool {
    w.contains("conv1.weight") && w.contains("layer1.0.conv1.weight")
}

fn build(vb: &Vb) -> Result<Built> {
    let stem = conv_bn(&vb.pp("conv1"), &vb.pp("bn1"), 3, 2, None, Groups::One, EPS)?;
    let mut c = stem.out_channels();
    let mut nodes = vec![
        Node::new("relu", vec![Op::Conv(stem), Op::Relu]),
        Node::new(
            "maxpool",
            vec![Op::MaxPool(MaxPool {
                kernel: 3,
                stride: 2,
                padding: 1,
            })],
        ),
    ];
    let bottleneck = vb.contains("layer1.0.conv3.weight");
    let mut aliases = Vec::new();
    let mut blocks_per_stage = Vec::new();
    let mut groups = 1;
    let mut width = 0;
    for stage in 1.. {
        let svb = vb.pp(format!("layer{stage}"));
        let n = count_children(&svb, "conv1.weight");
        if n == 0 {
            break;
        }
        blocks_per_stage.push(n);
        for b in 0..n {
            let stride = if stage > 1 && b == 0 { 2 } else { 1 };
            let bvb = svb.pp(b);
            let (block, cout, g, wd) = if bottleneck {
                bottleneck_block(&bvb, c, stride)?
            } else {
                basic_block(&bvb, c, stride)?
            };
            if stage == 1 && b == 0 {
                groups = g;
                width = wd;
            }
            c = cout;
            nodes.push(Node::new(bvb.prefix(), vec![block]));
        }
        aliases.push((format!("layer{stage}"), nodes.len() - 1));
    }
    let last = nodes.len() - 1;
    let (fc, num_classes) = linear(&vb.pp("fc"), c)?;
    let cam = CamHead {
        layer: last,
        weight: fc.weight.clone(),
        bias: fc.bias.clone(),
    };
    nodes.push(Node::new("avgpool", vec![Op::GlobalAvgPool]));
    nodes.push(Node::new("fc", vec![Op::Flatten, Op::Linear(fc)]));
    Ok(Built {
        architecture: name(bottleneck, &blocks_per_stage, groups, width),
        nodes,
        aliases,
        default_layer: last,
        cam: Ok(cam),
        num_classes,
        preprocess: Preprocess::imagenet(),
    })
}

/// torchvision's name for a standard configuration, else a description.
fn name(bottleneck: bool, blocks: &[usize], groups: usize, width: usize) -> String {
    let depth = blocks.iter().sum::<usize>() * if bottleneck { 3 } else { 2 } + 2;
    let standard = matches!(
        (bottleneck, blocks),
        (false, [2, 2, 2, 2] | [3, 4, 6, 3]) | (true, [3, 4, 6, 3] | [3, 4, 23, 3] | [3, 8, 36, 3])
    );
    match (standard, bottleneck, groups, width) {
        (true, false, 1, 64) | (true, true, 1, 64) => format!("resnet{depth}"),
        (true, true, 1, 128) => format!("wide_resnet{depth}_2"),
        (true, true, g, w) if g > 1 => format!("resnext{depth}_{g}x{}d", w / g),
        _ => format!(
            "resnet ({} blocks {blocks:?}, first block width {width}{})",
            if bottleneck {
                "Bottleneck"
            } else {
                "BasicBlock"
            },
            if groups > 1 {
                format!(", {groups} groups")
            } else {
                String::new()
            }
        ),
    }
}

/// Returns the block, its output channels, and (for naming) its groups and inner width.
fn basic_block(vb: &Vb, cin: usize, stride: usize) -> Result<(Op, usize, usize, usize)> {
    let c1 = conv_bn(
        &vb.pp("conv1"),
        &vb.pp("bn1"),
        cin,
        stride,
        None,
        Groups::One,
        EPS,
    )?;
    let w = c1.out_channels();
    let c2 = conv_bn(&vb.pp("conv2"), &vb.pp("bn2"), w, 1, None, Groups::One, EPS)?;
    let cout = c2.out_channels();
    let shortcut = shortcut(vb, cin, cout, stride)?;
    let main = vec![Op::Conv(c1), Op::Relu, Op::Conv(c2)];
    Ok((residual(main, shortcut), cout, 1, w))
}

fn bottleneck_block(vb: &Vb, cin: usize, stride: usize) -> Result<(Op, usize, usize, usize)> {
    let c1 = conv_bn(
        &vb.pp("conv1"),
        &vb.pp("bn1"),
        cin,
        1,
        None,
        Groups::One,
        EPS,
    )?;
    let w = c1.out_channels();
    let dims = vb.pp("conv2").dims_n("weight", 4)?;
    let groups = w.checked_div(dims[1]).unwrap_or(1);
    let c2 = conv_bn(
        &vb.pp("conv2"),
        &vb.pp("bn2"),
        w,
        stride,
        None,
        Groups::Infer,
        EPS,
    )?;
    let c3 = conv_bn(
        &vb.pp("conv3"),
        &vb.pp("bn3"),
        c2.out_channels(),
        1,
        None,
        Groups::One,
        EPS,
    )?;
    let cout = c3.out_channels();
    let shortcut = shortcut(vb, cin, cout, stride)?;
    let main = vec![Op::Conv(c1), Op::Relu, Op::Conv(c2), Op::Relu, Op::Conv(c3)];
    Ok((residual(main, shortcut), cout, groups, w))
}

fn shortcut(vb: &Vb, cin: usize, cout: usize, stride: usize) -> Result<Vec<Op>> {
    let ds = vb.pp("downsample");
    if ds.pp(0).contains("weight") {
        let c = conv_bn(&ds.pp(0), &ds.pp(1), cin, stride, Some(0), Groups::One, EPS)?;
        if c.out_channels() != cout {
            return Err(vb.layout_error(format!(
                "{}: the shortcut gives {} channels, the block {cout}",
                ds.pp(0).key("weight"),
                c.out_channels()
            )));
        }
        Ok(vec![Op::Conv(c)])
    } else if cin == cout && stride == 1 {
        Ok(Vec::new())
    } else {
        Err(vb.layout_error(format!(
            "{}: the block maps {cin} to {cout} channels with stride {stride} but has no {}",
            vb.prefix(),
            ds.pp(0).key("weight")
        )))
    }
}

fn residual(main: Vec<Op>, shortcut: Vec<Op>) -> Op {
    Op::Residual {
        main,
        shortcut,
        post_relu: true,
    }
}
