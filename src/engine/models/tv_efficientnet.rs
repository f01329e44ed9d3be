//! EfficientNet-B0…B7 (Tan & Le 2019) and EfficientNet-V2 S / M / L (Tan & Le 2021),
//! torchvision's layouts (the built-in EfficientNet-Lite is `efficientnet.rs`).
//!
//! `features.0` (3×3 stride-2 convolution, BatchNorm, SiLU), stages `features.{s}` of blocks
//! `features.{s}.{j}.block`, a last 1×1 convolution + SiLU, global average pool,
//! `classifier.1`. An MBConv block is expand (1×1, when the ratio is not 1) → depthwise k×k →
//! squeeze-and-excitation (SiLU + sigmoid) → project (1×1, no activation); V2's FusedMBConv
//! replaces expand + depthwise by one k×k convolution (and is only that, with its SiLU, when
//! it does not expand). A block adds its input when its stride is 1 and its width is kept.
//!
//! Stage strides are torchvision's fixed `[1, 2, 2, 2, 1, 2, 1]` (the same for every size;
//! V2-S has six stages); the first block of a stage takes the stride. V2 is recognised by its
//! fused first block, and uses BatchNorm eps 1e-3 (V1: 1e-5). Each size's documented eval
//! transform comes from its (stem, blocks, head) widths.

use super::blocks::{
    Groups, conv_norm, count_children, gap_linear_head, inverted_residual, linear, squeeze_excite,
};
use super::{Architecture, Built, Node, Vb, Weights};
use crate::engine::error::Result;
use crate::engine::io::preprocess::{Interpolation, Preprocess};
use crate::engine::ops::{Act, Op};

const STAGE_STRIDES: [usize; 7] = [1, 2, 2, 2, 1, 2, 1];

pub const ARCHITECTURE: Architecture = Architecture {
    name: "EfficientNet / EfficientNet-V2 (torchvision)",
    keys: "features.0.0.weight, features.1.0.block.0.0.weight, classifier.1.weight",
    detect,
    build,
};

fn detect(w: &Weights) -> bool {
    w.contains("features.1.0.block.0.0.weight") && w.contains("classifier.1.weight")
}

fn build(vb: &Vb) -> Result<Built> {
    let f = vb.pp("features");
    let v2 = f.pp("1.0.block.0.0").dims_n("weight", 4)?[1] != 1;
    let eps = if v2 { 1e-3 } else { 1e-5 };
    let stem = conv_norm(&f.pp(0), 3, 2, Groups::One, eps)?;
    let stem_width = stem.out_channels();
    let mut c = stem_width;
    let mut nodes = vec![Node::new(
        "features.0",
        vec![Op::Conv(stem), Op::Act(Act::Silu)],
    )];
    let mut aliases = Vec::new();
    let mut blocks = 0;
    let mut s = 1;
    while f.pp(s).pp(0).contains("block.0.0.weight") {
        let Some(&stride) = STAGE_STRIDES.get(s - 1) else {
            return Err(vb.layout_error(format!("{}: more than 7 stages", f.pp(s).prefix())));
        };
        let stage = f.pp(s);
        let n = count_children(&stage, "block.0.0.weight");
        for j in 0..n {
            let b = stage.pp(j);
            let (op, cout) = mbconv(&b.pp("block"), c, if j == 0 { stride } else { 1 }, eps)?;
            nodes.push(Node::new(b.prefix(), vec![op]));
            c = cout;
        }
        aliases.push((stage.prefix().to_owned(), nodes.len() - 1));
        blocks += n;
        s += 1;
    }
    let head = conv_norm(&f.pp(s), c, 1, Groups::One, eps)?;
    c = head.out_channels();
    nodes.push(Node::new(
        f.pp(s).prefix(),
        vec![Op::Conv(head), Op::Act(Act::Silu)],
    ));
    let default_layer = nodes.len() - 1;
    aliases.push(("features".into(), default_layer));
    let (fc, num_classes) = linear(&vb.pp("classifier.1"), c)?;
    let cam = gap_linear_head(&mut nodes, fc, "avgpool", "classifier");
    let (architecture, preprocess) = variant(v2, stem_width, blocks, c);
    Ok(Built {
        architecture,
        nodes,
        aliases,
        default_layer,
        cam: Ok(cam),
        num_classes,
        preprocess,
    })
}

/// One MBConv or FusedMBConv block (`vb` is its `block`) over `cin` channels.
fn mbconv(vb: &Vb, cin: usize, stride: usize, eps: f64) -> Result<(Op, usize)> {
    let parts = vb.child_indices();
    if parts != (0..parts.len()).collect::<Vec<_>>() {
        return Err(vb.layout_error(format!("{}: parts {parts:?} are not 0, 1, …", vb.prefix())));
    }
    let mut ops = Vec::new();
    let mut c = cin;
    for &j in &parts {
        let part = vb.pp(j);
        if part.contains("fc1.weight") {
            ops.push(squeeze_excite(
                &part,
                c,
                ["fc1", "fc2"],
                Act::Silu,
                Act::Sigmoid,
            )?);
            continue;
        }
        let k = part.pp(0).dims_n("weight", 4)?[2];
        let conv = conv_norm(&part, c, if k > 1 { stride } else { 1 }, Groups::Infer, eps)?;
        c = conv.out_channels();
        ops.push(Op::Conv(conv));
        // The projection has no activation, unless it is the whole block (FusedMBConv
        // without expansion).
        if j + 1 < parts.len() || parts.len() == 1 {
            ops.push(Op::Act(Act::Silu));
        }
    }
    let op = inverted_residual(ops, cin, c, stride);
    Ok((op, c))
}

/// torchvision's name and eval transform for each size, recognised by its stem width, number
/// of blocks and head width; ImageNet's 256 → 224 for anything else.
fn variant(v2: bool, stem: usize, blocks: usize, head: usize) -> (String, Preprocess) {
    use Interpolation::{Bicubic, Bilinear};
    let known = match (v2, stem, blocks, head) {
        (false, 32, 16, 1280) => Some(("efficientnet_b0", 256, 224, Bicubic)),
        (false, 32, 23, 1280) => Some(("efficientnet_b1", 255, 240, Bilinear)),
        (false, 32, 23, 1408) => Some(("efficientnet_b2", 288, 288, Bicubic)),
        (false, 40, 26, 1536) => Some(("efficientnet_b3", 320, 300, Bicubic)),
        (false, 48, 32, 1792) => Some(("efficientnet_b4", 384, 380, Bicubic)),
        (false, 48, 39, 2048) => Some(("efficientnet_b5", 456, 456, Bicubic)),
        (false, 56, 45, 2304) => Some(("efficientnet_b6", 528, 528, Bicubic)),
        (false, 64, 55, 2560) => Some(("efficientnet_b7", 600, 600, Bicubic)),
        (true, 24, 40, 1280) => Some(("efficientnet_v2_s", 384, 384, Bilinear)),
        (true, 24, 57, 1280) => Some(("efficientnet_v2_m", 480, 480, Bilinear)),
        (true, 32, 79, 1280) => Some(("efficientnet_v2_l", 480, 480, Bicubic)),
        _ => None,
    };
    match known {
        Some((name, resize, crop, interpolation)) => {
            let mut p = Preprocess::torchvision(resize, crop, interpolation);
            if name == "efficientnet_v2_l" {
                p.mean = [0.5; 3];
                p.std = [0.5; 3];
            }
            (name.into(), p)
        }
        None => (
            format!(
                "efficientnet{} ({blocks} blocks, stem {stem}, head {head})",
                if v2 { "_v2" } else { "" }
            ),
            Preprocess::imagenet(),
        ),
    }
}
