//! timm's pre-activation ResNet (`resnetv2_18/34/50/101/152`, and the `d` / `t` deep-stem
//! variants), with BatchNorm (`norm_layer=BatchNormAct2d`).
//!
//! Layout: `stem.conv` (7×7, stride 2; or the deep stem `stem.conv1/norm1/conv2/norm2/conv3`)
//! → `stem.pool` (3×3 max, stride 2, pad 1) → `stages.S.blocks.B` → `norm` (BatchNorm + ReLU) →
//! `head.global_pool` → `head.fc` (a 1×1 convolution or a linear layer). A block is
//! pre-activation: `norm1` (BatchNorm + ReLU) → `conv1` → `norm2` → `conv2` → [`norm3` →
//! `conv3`], plus the shortcut; when the block has `downsample.conv` the shortcut starts from
//! the pre-activated input (`norm1`'s output), else it is the identity on the raw input. Every
//! stage's first block has stride 2 except the first stage's (on `conv2` of a bottleneck,
//! `conv1` of a basic block). The deep-stem variants (`resnetv2_50d`, `_50t`) pool their
//! shortcuts (`AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)` + a 1×1 convolution
//! with stride 1): the tensors are the same as a strided 1×1 convolution's, so camscope
//! follows timm's constructors, which pair the deep stem with `avg_down=True`.
//!
//! The default layer is `norm`: a pre-activation network's blocks leave their sum
//! un-normalized, and `norm` is the map the classifier pools (where CAM is defined). Refused:
//! BiT's GroupNorm + weight-standardized convolutions (`resnetv2_50x1_bit`, `norm1.weight`
//! without `running_mean`).

use super::blocks::{
    Groups, StageLayout, batch_norm, conv, conv_bn, conv_bn_at, gap_linear_head, residual_stages,
    stem_max_pool,
};
use super::{Architecture, Built, Node, Vb, Weights};
use crate::engine::error::Result;
use crate::engine::io::preprocess::Preprocess;
use crate::engine::ops::{AvgPool, Linear, Op};

const EPS: f64 = 1e-5;

pub const ARCHITECTURE: Architecture = Architecture {
    name: "timm pre-activation ResNet (resnetv2)",
    keys: "stem.conv.weight, stages.0.blocks.0.conv1.weight, norm.running_mean, head.fc.weight",
    detect,
    build,
};

fn detect(w: &Weights) -> bool {
    (w.contains("stem.conv.weight") || w.contains("stem.conv1.weight"))
        && w.contains("stages.0.blocks.0.conv1.weight")
}

fn build(vb: &Vb) -> Result<Built> {
    if !vb.contains("stages.0.blocks.0.norm1.running_mean") {
        return Err(vb.layout_error(
            "stages.0.blocks.0.norm1 has no running_mean: this is a GroupNorm / \
             weight-standardized ResNetV2 (BiT), which camscope does not model",
        ));
    }
    let deep = vb.contains("stem.conv1.weight");
    let mut nodes = Vec::new();
    let mut c = if deep {
        let s = vb.pp("stem");
        let a = conv_bn(&s.pp("conv1"), &s.pp("norm1"), 3, 2, None, Groups::One, EPS)?;
        let b = conv_bn(
            &s.pp("conv2"),
            &s.pp("norm2"),
            a.out_channels(),
            1,
            None,
            Groups::One,
            EPS,
        )?;
        let c3 = conv(&s.pp("conv3"), b.out_channels(), 1, None, Groups::One)?;
        let out = c3.out_channels();
        nodes.push(Node::new("stem.norm1", vec![Op::Conv(a), Op::Relu]));
        nodes.push(Node::new("stem.norm2", vec![Op::Conv(b), Op::Relu]));
        nodes.push(Node::new("stem.conv3", vec![Op::Conv(c3)]));
        out
    } else {
        let c0 = conv(&vb.pp("stem.conv"), 3, 2, None, Groups::One)?;
        let out = c0.out_channels();
        nodes.push(Node::new("stem.conv", vec![Op::Conv(c0)]));
        out
    };
    nodes.push(Node::new("stem.pool", vec![stem_max_pool()]));
    let mut aliases = vec![("stem".to_owned(), nodes.len() - 1)];
    let bottleneck = vb.contains("stages.0.blocks.0.conv3.weight");
    let blocks = residual_stages(
        vb,
        &mut nodes,
        &mut aliases,
        &StageLayout {
            first: 0,
            stage: "stages.{}",
            children: "blocks",
            probe: "conv1.weight",
        },
        |bvb, stage, b| {
            let stride = if stage > 0 && b == 0 { 2 } else { 1 };
            let (op, cout) = block(bvb, c, stride, bottleneck, deep)?;
            c = cout;
            Ok(op)
        },
    )?;
    let norm = batch_norm(&vb.pp("norm"), c, EPS)?;
    nodes.push(Node::new("norm", vec![Op::BatchNorm(norm), Op::Relu]));
    let last = nodes.len() - 1;
    let (fc, num_classes) = head_fc(vb, c)?;
    let cam = gap_linear_head(&mut nodes, fc, "head.global_pool", "head.fc");
    let depth = blocks.iter().sum::<usize>() * if bottleneck { 3 } else { 2 } + 2;
    let standard = matches!(
        (bottleneck, blocks.as_slice()),
        (false, [2, 2, 2, 2] | [3, 4, 6, 3]) | (true, [3, 4, 6, 3] | [3, 4, 23, 3] | [3, 8, 36, 3])
    );
    let suffix = if deep { "d" } else { "" };
    let architecture = if standard {
        format!("resnetv2_{depth}{suffix}")
    } else {
        format!("resnetv2{suffix} (blocks {blocks:?})")
    };
    Ok(Built {
        architecture,
        nodes,
        aliases,
        default_layer: last,
        cam: Ok(cam),
        num_classes,
        preprocess: Preprocess::imagenet(),
    })
}

/// `head.fc`: timm stores it as a 1×1 convolution (`use_conv=True`) or as a linear layer.
fn head_fc(vb: &Vb, c: usize) -> Result<(Linear, usize)> {
    let h = vb.pp("head.fc");
    let dims = h.dims("weight")?;
    let n = dims.first().copied().unwrap_or(0);
    let weight = match dims.len() {
        4 => h.get("weight", &[n, c, 1, 1])?.reshape((n, c))?,
        _ => h.get("weight", &[n, c])?,
    };
    Ok((
        Linear {
            weight,
            bias: h.get("bias", &[n])?,
        },
        n,
    ))
}

/// A pre-activation block over `cin` channels; returns it with its output channels.
fn block(
    vb: &Vb,
    cin: usize,
    stride: usize,
    bottleneck: bool,
    avg_down: bool,
) -> Result<(Op, usize)> {
    let norm1 = batch_norm(&vb.pp("norm1"), cin, EPS)?;
    let mut main = Vec::new();
    let cout = if bottleneck {
        let c1 = conv_bn_at(vb, "conv1", "norm2", cin, 1, Groups::One)?;
        let c2 = conv_bn_at(
            vb,
            "conv2",
            "norm3",
            c1.out_channels(),
            stride,
            Groups::Infer,
        )?;
        let c3 = conv(&vb.pp("conv3"), c2.out_channels(), 1, None, Groups::One)?;
        let cout = c3.out_channels();
        main.extend([Op::Conv(c1), Op::Relu, Op::Conv(c2), Op::Relu, Op::Conv(c3)]);
        cout
    } else {
        let c1 = conv_bn_at(vb, "conv1", "norm2", cin, stride, Groups::One)?;
        let c2 = conv(&vb.pp("conv2"), c1.out_channels(), 1, None, Groups::One)?;
        let cout = c2.out_channels();
        main.extend([Op::Conv(c1), Op::Relu, Op::Conv(c2)]);
        cout
    };
    let pre = [Op::BatchNorm(norm1), Op::Relu];
    if !vb.contains("downsample.conv.weight") {
        if cin != cout || stride != 1 {
            return Err(vb.layout_error(format!(
                "{}: the block maps {cin} to {cout} channels with stride {stride} but has no {}",
                vb.prefix(),
                vb.key("downsample.conv.weight")
            )));
        }
        // The shortcut is the raw input; the residual branch pre-activates it.
        let mut branch = Vec::from(pre);
        branch.extend(main);
        return Ok((residual(branch, Vec::new()), cout));
    }
    let mut shortcut = Vec::new();
    let ds_stride = if avg_down {
        if stride > 1 {
            shortcut.push(Op::AvgPool(AvgPool {
                kernel: 2,
                stride,
                ceil: true,
            }));
        }
        1
    } else {
        stride
    };
    let ds = conv(
        &vb.pp("downsample.conv"),
        cin,
        ds_stride,
        Some(0),
        Groups::One,
    )?;
    if ds.out_channels() != cout {
        return Err(vb.layout_error(format!(
            "{}: the shortcut gives {} channels, the block {cout}",
            vb.key("downsample.conv.weight"),
            ds.out_channels()
        )));
    }
    shortcut.push(Op::Conv(ds));
    // Both branches start from the pre-activated input.
    let mut ops = Vec::from(pre);
    ops.push(residual(main, shortcut));
    Ok((Op::Seq(ops), cout))
}

fn residual(main: Vec<Op>, shortcut: Vec<Op>) -> Op {
    Op::Residual {
        main,
        shortcut,
        post_relu: false,
    }
}
