//! torchvision / timm ResNet, Wide ResNet and ResNeXt, with timm's ResNet-C/D/S/T stems,
//! average-pool shortcuts and squeeze-and-excitation, inferred from key names and shapes.
//!
//! Layout (torchvision's): `conv1` (7×7, stride 2) → `bn1` → `relu` → `maxpool` (3×3, stride 2,
//! pad 1) → stages `layer1..layerN` of blocks → global average pool → `fc`. A block is a
//! Bottleneck when `conv3` exists, else a BasicBlock. The first block of every stage after the
//! first has stride 2 (on `conv2` of a Bottleneck, torchvision's "v1.5"; on `conv1` of a
//! BasicBlock). ResNeXt groups are read off `conv2.weight`'s shape. BatchNorm (eps 1e-5) is
//! folded into the convolutions; the node outputs are the stem (`relu`, `maxpool`), every block
//! (`layer4.2`), each stage as an alias of its last block (`layer4`), `avgpool` and `fc`.
//!
//! timm's variants share these names and add:
//! - a deep stem (`conv1.0/1/3/4/6`: three 3×3 convolutions, the first with stride 2, BatchNorm
//!   and ReLU between, then `bn1`), whose inner ReLUs are nodes `conv1.2` and `conv1.5`;
//! - an average-pool shortcut (`downsample.1/2`: `AvgPool2d(2, stride, ceil_mode=True,
//!   count_include_pad=False)` then a 1×1 convolution with stride 1; `downsample.0` holds no
//!   tensor) instead of torchvision's strided 1×1 convolution (`downsample.0/1`);
//! - squeeze-and-excitation (`se.fc1/fc2`) after the block's last BatchNorm, before the sum.

use super::blocks;
use super::blocks::{
    Groups, StageLayout, conv_bn, conv_bn_at, gap_linear_head, linear, residual_stages,
    stem_max_pool,
};
use super::{Architecture, Built, Node, Vb, Weights};
use crate::engine::error::Result;
use crate::engine::io::preprocess::Preprocess;
use crate::engine::ops::{Act, AvgPool, Op};

const EPS: f64 = 1e-5;

pub const ARCHITECTURE: Architecture = Architecture {
    name: "torchvision / timm ResNet, Wide ResNet, ResNeXt",
    keys: "conv1.weight (or conv1.0.weight), layer1.0.conv1.weight, fc.weight",
    detect,
    build,
};

fn detect(w: &Weights) -> bool {
    (w.contains("conv1.weight") || w.contains("conv1.0.weight"))
        && w.contains("layer1.0.conv1.weight")
}

/// What the name of a configuration is made of, beyond depth and block type.
struct Variant {
    /// timm's stem letter: `c` (deep, 32 wide), `s` (deep, 64 wide), `t` (tiered), `d` / `e`
    /// (deep with average-pool shortcuts), empty for the 7×7 stem.
    suffix: &'static str,
    se: bool,
}

fn build(vb: &Vb) -> Result<Built> {
    let (mut nodes, mut c, deep) = stem(vb)?;
    nodes.push(Node::new("maxpool", vec![stem_max_pool()]));
    let bottleneck = vb.contains("layer1.0.conv3.weight");
    let mut aliases = Vec::new();
    let mut groups = 1;
    let mut width = 0;
    let blocks_per_stage = residual_stages(
        vb,
        &mut nodes,
        &mut aliases,
        &StageLayout {
            first: 1,
            stage: "layer{}",
            children: "",
            probe: "conv1.weight",
        },
        |bvb, stage, b| {
            let stride = if stage > 1 && b == 0 { 2 } else { 1 };
            let (block, cout, g, wd) = if bottleneck {
                bottleneck_block(bvb, c, stride)?
            } else {
                basic_block(bvb, c, stride)?
            };
            if stage == 1 && b == 0 {
                groups = g;
                width = wd;
            }
            c = cout;
            Ok(block)
        },
    )?;
    let last = nodes.len() - 1;
    let (fc, num_classes) = linear(&vb.pp("fc"), c)?;
    let cam = gap_linear_head(&mut nodes, fc, "avgpool", "fc");
    let variant = Variant {
        suffix: match (deep, vb.contains("layer2.0.downsample.1.weight")) {
            (None, _) => "",
            (Some(Stem::Tiered), _) => "t",
            (Some(Stem::Deep), true) if stem_width(vb) >= 64 => "e",
            (Some(Stem::Deep), true) => "d",
            (Some(Stem::Deep), false) if stem_width(vb) >= 64 => "s",
            (Some(Stem::Deep), false) => "c",
        },
        se: vb.contains("layer1.0.se.fc1.weight"),
    };
    Ok(Built {
        architecture: name(bottleneck, &blocks_per_stage, groups, width, &variant),
        nodes,
        aliases,
        default_layer: last,
        cam: Ok(cam),
        num_classes,
        preprocess: Preprocess::imagenet(),
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Stem {
    Deep,
    /// timm's "tiered" deep stem: the first convolution is ¾ as wide as the second.
    Tiered,
}

fn stem_width(vb: &Vb) -> usize {
    vb.dims("conv1.3.weight").map_or(0, |d| d[0])
}

/// The stem up to (not including) the max-pool: its nodes, output channels, and which deep
/// stem it is (`None` for torchvision's 7×7 convolution).
fn stem(vb: &Vb) -> Result<(Vec<Node>, usize, Option<Stem>)> {
    if !vb.contains("conv1.0.weight") {
        let c = conv_bn_at(vb, "conv1", "bn1", 3, 2, Groups::One)?;
        let out = c.out_channels();
        return Ok((
            vec![Node::new("relu", vec![Op::Conv(c), Op::Relu])],
            out,
            None,
        ));
    }
    let s = vb.pp("conv1");
    let a = conv_bn(&s.pp(0), &s.pp(1), 3, 2, None, Groups::One, EPS)?;
    let b = conv_bn(
        &s.pp(3),
        &s.pp(4),
        a.out_channels(),
        1,
        None,
        Groups::One,
        EPS,
    )?;
    let kind = if a.out_channels() < b.out_channels() {
        Stem::Tiered
    } else {
        Stem::Deep
    };
    let c = conv_bn(
        &s.pp(6),
        &vb.pp("bn1"),
        b.out_channels(),
        1,
        None,
        Groups::One,
        EPS,
    )?;
    let out = c.out_channels();
    let nodes = vec![
        Node::new("conv1.2", vec![Op::Conv(a), Op::Relu]),
        Node::new("conv1.5", vec![Op::Conv(b), Op::Relu]),
        Node::new("relu", vec![Op::Conv(c), Op::Relu]),
    ];
    Ok((nodes, out, Some(kind)))
}

/// torchvision's (or timm's) name for a standard configuration, else a description.
fn name(
    bottleneck: bool,
    blocks: &[usize],
    groups: usize,
    width: usize,
    variant: &Variant,
) -> String {
    let depth = blocks.iter().sum::<usize>() * if bottleneck { 3 } else { 2 } + 2;
    let standard = matches!(
        (bottleneck, blocks),
        (false, [2, 2, 2, 2] | [3, 4, 6, 3])
            | (
                true,
                [2, 2, 2, 2] | [3, 4, 6, 3] | [3, 4, 23, 3] | [3, 8, 36, 3]
            )
    );
    let se = if variant.se { "se" } else { "" };
    let sfx = variant.suffix;
    match (standard, bottleneck, groups, width) {
        (true, false, 1, 64) | (true, true, 1, 64) => format!("{se}resnet{depth}{sfx}"),
        (true, true, 1, 128) if se.is_empty() && sfx.is_empty() => {
            format!("wide_resnet{depth}_2")
        }
        (true, true, g, w) if g > 1 => format!("{se}resnext{depth}{sfx}_{g}x{}d", w / g),
        _ => format!(
            "{se}resnet{sfx} ({} blocks {blocks:?}, first block width {width}{})",
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
    let c1 = conv_bn_at(vb, "conv1", "bn1", cin, stride, Groups::One)?;
    let w = c1.out_channels();
    let c2 = conv_bn_at(vb, "conv2", "bn2", w, 1, Groups::One)?;
    let cout = c2.out_channels();
    let shortcut = shortcut(vb, cin, cout, stride)?;
    let mut main = vec![Op::Conv(c1), Op::Relu, Op::Conv(c2)];
    main.extend(squeeze_excite(vb, cout)?);
    Ok((residual(main, shortcut), cout, 1, w))
}

fn bottleneck_block(vb: &Vb, cin: usize, stride: usize) -> Result<(Op, usize, usize, usize)> {
    let c1 = conv_bn_at(vb, "conv1", "bn1", cin, 1, Groups::One)?;
    let w = c1.out_channels();
    let dims = vb.pp("conv2").dims_n("weight", 4)?;
    let groups = w.checked_div(dims[1]).unwrap_or(1);
    let c2 = conv_bn_at(vb, "conv2", "bn2", w, stride, Groups::Infer)?;
    let c3 = conv_bn_at(vb, "conv3", "bn3", c2.out_channels(), 1, Groups::One)?;
    let cout = c3.out_channels();
    let shortcut = shortcut(vb, cin, cout, stride)?;
    let mut main = vec![Op::Conv(c1), Op::Relu, Op::Conv(c2), Op::Relu, Op::Conv(c3)];
    main.extend(squeeze_excite(vb, cout)?);
    Ok((residual(main, shortcut), cout, groups, w))
}

/// timm's `se` module of a block with `c` output channels, if it has one.
fn squeeze_excite(vb: &Vb, c: usize) -> Result<Option<Op>> {
    let se = vb.pp("se");
    if !se.contains("fc1.weight") {
        return Ok(None);
    }
    Ok(Some(blocks::squeeze_excite(
        &se,
        c,
        ["fc1", "fc2"],
        Act::Relu,
        Act::Sigmoid,
    )?))
}

fn shortcut(vb: &Vb, cin: usize, cout: usize, stride: usize) -> Result<Vec<Op>> {
    let ds = vb.pp("downsample");
    let checked = |conv: &crate::engine::ops::Conv2d, key: String| {
        if conv.out_channels() != cout {
            return Err(vb.layout_error(format!(
                "{key}: the shortcut gives {} channels, the block {cout}",
                conv.out_channels()
            )));
        }
        Ok(())
    };
    if ds.pp(0).contains("weight") {
        let c = conv_bn(&ds.pp(0), &ds.pp(1), cin, stride, Some(0), Groups::One, EPS)?;
        checked(&c, ds.pp(0).key("weight"))?;
        Ok(vec![Op::Conv(c)])
    } else if ds.pp(1).contains("weight") {
        // timm's average-pool shortcut: downsample.0 is the pool (or the identity).
        let c = conv_bn(&ds.pp(1), &ds.pp(2), cin, 1, Some(0), Groups::One, EPS)?;
        checked(&c, ds.pp(1).key("weight"))?;
        let mut ops = Vec::new();
        if stride > 1 {
            ops.push(Op::AvgPool(AvgPool {
                kernel: 2,
                stride,
                ceil: true,
            }));
        }
        ops.push(Op::Conv(c));
        Ok(ops)
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
