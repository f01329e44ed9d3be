//! EfficientNet-Lite (EfficientNet-PyTorch key names), the built-in default model's family.
//!
//! Structure, established against an independent forward pass of the lite0 checkpoint:
//! `_conv_stem` (3×3, stride 2) → `_bn0` → ReLU6 → MBConv blocks `_blocks.N` → `_conv_head`
//! (1×1) → `_bn1` → ReLU6 → global average pool → `_fc`. Every convolution uses TensorFlow
//! "SAME" padding (the odd pixel at the bottom / right), computed for the actual input size.
//! BatchNorm eps is 1e-3. No squeeze-excitation, ReLU6 throughout.
//!
//! An MBConv block: optional `_expand_conv` (1×1) + `_bn0` + ReLU6, `_depthwise_conv` (k×k,
//! groups = channels) + `_bn1` + ReLU6, `_project_conv` (1×1) + `_bn2`, and a residual add when
//! the stride is 1 and the shape is kept. Strides are not stored: EfficientNet's seven stages
//! have strides [1, 2, 2, 2, 1, 2, 1], and a stage starts where the output width changes.
//!
//! Node names follow the module paths; the two activations that EfficientNet-PyTorch applies
//! functionally get names of ours: `_stem_act` and `_head_act` (the default layer).

use super::blocks::{
    Groups, batch_norm, conv, conv_bn, count_children, gap_linear_head, inverted_residual, linear,
};
use super::{Architecture, Built, Node, Vb, Weights};
use crate::engine::error::Result;
use crate::engine::io::preprocess::{Preprocess, ResizeMode};
use crate::engine::ops::Op;

const EPS: f64 = 1e-3;
const STAGE_STRIDES: [usize; 7] = [1, 2, 2, 2, 1, 2, 1];

pub const ARCHITECTURE: Architecture = Architecture {
    name: "EfficientNet-Lite",
    keys: "_conv_stem.weight, _blocks.0.…, _fc.weight",
    detect,
    build,
};

fn detect(w: &Weights) -> bool {
    w.contains("_conv_stem.weight")
}

fn build(vb: &Vb) -> Result<Built> {
    let mut nodes = Vec::new();
    let stem = conv(&vb.pp("_conv_stem"), 3, 2, Some(0), Groups::One)?;
    let mut c = stem.out_channels();
    nodes.push(Node::new(
        "_conv_stem",
        vec![same_pad(3, 2), Op::Conv(stem)],
    ));
    nodes.push(Node::new(
        "_bn0",
        vec![Op::BatchNorm(batch_norm(&vb.pp("_bn0"), c, EPS)?)],
    ));
    nodes.push(Node::new("_stem_act", vec![Op::Relu6]));

    let bvb = vb.pp("_blocks");
    let n = count_children(&bvb, "_project_conv.weight");
    if n == 0 {
        return Err(vb.layout_error("no _blocks.0._project_conv.weight"));
    }
    let mut stage = 0;
    let mut prev_out = None;
    for i in 0..n {
        let b = bvb.pp(i);
        let out = b.pp("_project_conv").dims_n("weight", 4)?[0];
        let first_of_stage = prev_out != Some(out);
        if first_of_stage && prev_out.is_some() {
            stage += 1;
        }
        let Some(&stage_stride) = STAGE_STRIDES.get(stage) else {
            return Err(vb.layout_error(format!("{}: more than 7 stages of blocks", b.prefix())));
        };
        let stride = if first_of_stage { stage_stride } else { 1 };
        let (op, cout) = mbconv(&b, c, stride)?;
        nodes.push(Node::new(b.prefix(), vec![op]));
        c = cout;
        prev_out = Some(out);
    }

    let head = conv(&vb.pp("_conv_head"), c, 1, Some(0), Groups::One)?;
    c = head.out_channels();
    nodes.push(Node::new("_conv_head", vec![Op::Conv(head)]));
    nodes.push(Node::new(
        "_bn1",
        vec![Op::BatchNorm(batch_norm(&vb.pp("_bn1"), c, EPS)?)],
    ));
    nodes.push(Node::new("_head_act", vec![Op::Relu6]));
    let act = nodes.len() - 1;
    let (fc, num_classes) = linear(&vb.pp("_fc"), c)?;
    let cam = gap_linear_head(&mut nodes, fc, "_avg_pooling", "_fc");
    Ok(Built {
        architecture: if n == 16 && c == 1280 {
            "efficientnet_lite0".to_owned()
        } else {
            format!("efficientnet_lite ({n} blocks)")
        },
        nodes,
        aliases: Vec::new(),
        default_layer: act,
        cam: Ok(cam),
        num_classes,
        // (x − 127) / 128 on 0..255 pixels, i.e. mean 127/255 and std 128/255 on [0, 1].
        preprocess: Preprocess {
            mode: ResizeMode::CenterCrop {
                resize: 256,
                crop: 224,
            },
            mean: [127.0 / 255.0; 3],
            std: [128.0 / 255.0; 3],
            interpolation: Default::default(),
            crop_offset: Default::default(),
        },
    })
}

fn same_pad(kernel: usize, stride: usize) -> Op {
    Op::SamePad { kernel, stride }
}

fn mbconv(vb: &Vb, cin: usize, stride: usize) -> Result<(Op, usize)> {
    let mut ops = Vec::new();
    let mut c = cin;
    if vb.contains("_expand_conv.weight") {
        let e = conv_bn(
            &vb.pp("_expand_conv"),
            &vb.pp("_bn0"),
            c,
            1,
            Some(0),
            Groups::One,
            EPS,
        )?;
        c = e.out_channels();
        ops.extend([Op::Conv(e), Op::Relu6]);
    }
    let k = vb.pp("_depthwise_conv").dims_n("weight", 4)?[2];
    let dw = conv_bn(
        &vb.pp("_depthwise_conv"),
        &vb.pp("_bn1"),
        c,
        stride,
        Some(0),
        Groups::Infer,
        EPS,
    )?;
    ops.extend([same_pad(k, stride), Op::Conv(dw), Op::Relu6]);
    let p = conv_bn(
        &vb.pp("_project_conv"),
        &vb.pp("_bn2"),
        c,
        1,
        Some(0),
        Groups::One,
        EPS,
    )?;
    let cout = p.out_channels();
    ops.push(Op::Conv(p));
    let op = inverted_residual(ops, cin, cout, stride);
    Ok((op, cout))
}
