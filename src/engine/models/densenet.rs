//! DenseNet-121/161/169/201 (Huang et al. 2017), torchvision's layout (and timm's, which has
//! the same key names).
//!
//! `features`: `conv0` (7×7, stride 2) → `norm0` → `relu0` → `pool0` (3×3 max, stride 2), then
//! four `denseblock{i}` with a `transition{i}` between them (BatchNorm → ReLU → 1×1 conv → 2×2
//! average pool), then `norm5`. torchvision's `forward` applies one more ReLU functionally
//! (`F.relu(features, inplace=True)`) before the global average pool and `classifier`.
//!
//! A dense layer is `cat([x, conv2(relu2(norm2(conv1(relu1(norm1(x))))))])`: an
//! [`Op::Concat`] of the identity and the layer (`norm2` folds into `conv1`). A block is one
//! node: its output is the block module's (all its features), as PyTorch hooks see it.
//!
//! The map's layer (docs/models.md): torchvision's in-place ReLU overwrites the output of
//! `features` after a hook has seen it, so pytorch-grad-cam on `model.features` pairs
//! post-ReLU activations with pre-ReLU gradients (its issues #147, #164). camscope keeps the
//! two tensors apart: `features.norm5` is the BatchNorm's output, and `features` — the default
//! layer — is what the head pools, after that ReLU. That ReLU is functional, so guided
//! backprop leaves it plain ([`Op::ReluFn`]), as pytorch-grad-cam does.

use super::blocks::{Groups, batch_norm, conv, conv_bn, gap_linear_head, linear, stem_max_pool};
use super::metadata::Library;
use super::{Architecture, Built, Node, Vb, Weights};
use crate::engine::error::Result;
use crate::engine::io::preprocess::Preprocess;
use crate::engine::ops::{AvgPool, Op};

const EPS: f64 = 1e-5;

pub const ARCHITECTURE: Architecture = Architecture {
    name: "DenseNet (torchvision)",
    keys: "features.conv0.weight, features.denseblock1.denselayer1.…, classifier.weight",
    detect,
    build,
};

fn detect(w: &Weights) -> bool {
    w.contains("features.denseblock1.denselayer1.conv1.weight")
}

fn build(vb: &Vb) -> Result<Built> {
    let f = vb.pp("features");
    let mut nodes = Vec::new();
    let stem = conv_bn(&f.pp("conv0"), &f.pp("norm0"), 3, 2, None, Groups::One, EPS)?;
    let mut c = stem.out_channels();
    nodes.push(Node::new("features.norm0", vec![Op::Conv(stem)]));
    nodes.push(Node::new("features.relu0", vec![Op::Relu]));
    nodes.push(Node::new("features.pool0", vec![stem_max_pool()]));
    let mut layers_per_block = Vec::new();
    for i in 1.. {
        let block = f.pp(format!("denseblock{i}"));
        let n = (1..)
            .take_while(|j| {
                // Any of its tensors: a missing one is then named by the read that needs it.
                let l = block.pp(format!("denselayer{j}"));
                [
                    "norm1.weight",
                    "conv1.weight",
                    "norm2.weight",
                    "conv2.weight",
                ]
                .iter()
                .any(|t| l.contains(t))
            })
            .count();
        if n == 0 {
            break;
        }
        let mut ops = Vec::with_capacity(n);
        for j in 1..=n {
            let (op, out) = dense_layer(&block.pp(format!("denselayer{j}")), c)?;
            ops.push(op);
            c = out;
        }
        nodes.push(Node::new(block.prefix(), vec![Op::Seq(ops)]));
        layers_per_block.push(n);
        let t = f.pp(format!("transition{i}"));
        if t.contains("conv.weight") {
            let norm = batch_norm(&t.pp("norm"), c, EPS)?;
            let cv = conv(&t.pp("conv"), c, 1, Some(0), Groups::One)?;
            c = cv.out_channels();
            let pool = AvgPool {
                kernel: 2,
                stride: 2,
                ceil: false,
            };
            nodes.push(Node::new(
                t.prefix(),
                vec![
                    Op::BatchNorm(norm),
                    Op::Relu,
                    Op::Conv(cv),
                    Op::AvgPool(pool),
                ],
            ));
        }
    }
    if layers_per_block.is_empty() {
        return Err(vb.layout_error("no features.denseblock1.denselayer1"));
    }
    nodes.push(Node::new(
        "features.norm5",
        vec![Op::BatchNorm(batch_norm(&f.pp("norm5"), c, EPS)?)],
    ));
    // timm's DenseNet has torchvision's key names; its last ReLU is a module inside
    // `features.norm5` (BatchNormAct2d), which guided backprop guides. Only timm's config.json
    // tells the two apart (docs/models.md).
    let timm = vb.metadata().library == Some(Library::Timm);
    let last = if timm { Op::Relu } else { Op::ReluFn };
    nodes.push(Node::new("features", vec![last]));
    let default_layer = nodes.len() - 1;
    let (fc, num_classes) = linear(&vb.pp("classifier"), c)?;
    let cam = gap_linear_head(&mut nodes, fc, "avgpool", "classifier");
    let growth = f.pp("denseblock1.denselayer1.conv2").dims_n("weight", 4)?[0];
    Ok(Built {
        architecture: name(&layers_per_block, growth),
        nodes,
        aliases: Vec::new(),
        default_layer,
        cam: Ok(cam),
        num_classes,
        preprocess: Preprocess::imagenet(),
    })
}

/// One dense layer over `cin` channels: the op and the channels after its concatenation.
fn dense_layer(vb: &Vb, cin: usize) -> Result<(Op, usize)> {
    let norm1 = batch_norm(&vb.pp("norm1"), cin, EPS)?;
    let conv1 = conv_bn(
        &vb.pp("conv1"),
        &vb.pp("norm2"),
        cin,
        1,
        Some(0),
        Groups::One,
        EPS,
    )?;
    let conv2 = conv(
        &vb.pp("conv2"),
        conv1.out_channels(),
        1,
        Some(1),
        Groups::One,
    )?;
    let growth = conv2.out_channels();
    let layer = vec![
        Op::BatchNorm(norm1),
        Op::Relu,
        Op::Conv(conv1),
        Op::Relu,
        Op::Conv(conv2),
    ];
    Ok((Op::Concat(vec![Vec::new(), layer]), cin + growth))
}

/// torchvision's name for its four configurations, else a description.
fn name(blocks: &[usize], growth: usize) -> String {
    match (blocks, growth) {
        ([6, 12, 24, 16], 32) => "densenet121".into(),
        ([6, 12, 36, 24], 48) => "densenet161".into(),
        ([6, 12, 32, 32], 32) => "densenet169".into(),
        ([6, 12, 48, 32], 32) => "densenet201".into(),
        _ => format!(
            "densenet (blocks {}, growth {growth})",
            blocks
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join("-")
        ),
    }
}
