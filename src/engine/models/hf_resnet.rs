//! HuggingFace transformers' `ResNetForImageClassification` (`microsoft/resnet-18` … `-152`
//! and anything `save_pretrained` writes from a `ResNetConfig`).
//!
//! Layout: `resnet.embedder.embedder` (7×7 convolution, stride 2, BatchNorm, ReLU) →
//! `resnet.embedder.pooler` (3×3 max, stride 2, pad 1) → `resnet.encoder.stages.S.layers.L`
//! → `resnet.pooler` (global average) → `classifier` (flatten, `classifier.1` linear). A layer
//! is a bottleneck when `layer.2` exists (`layer.0` 1×1, `layer.1` 3×3, `layer.2` 1×1 without
//! activation), else basic (`layer.0` 3×3, `layer.1` 3×3 without activation); `shortcut.*` is a
//! strided 1×1 convolution + BatchNorm; ReLU after the sum. The first layer of every stage but
//! the first has stride 2 — on the 3×3 convolution, or on `layer.0` when `config.json` says
//! `downsample_in_bottleneck`; the first stage too when it says `downsample_in_first_stage`.
//! Without `config.json` transformers' defaults (both false) apply. BatchNorm eps 1e-5.

use super::blocks::{
    Groups, StageLayout, conv_bn, gap_linear_head, linear, residual_stages, stem_max_pool,
};
use super::{Architecture, Built, Node, Vb, Weights};
use crate::engine::error::Result;
use crate::engine::io::preprocess::Preprocess;
use crate::engine::ops::Op;

const EPS: f64 = 1e-5;
const STAGES: &str = "resnet.encoder.stages";

pub const ARCHITECTURE: Architecture = Architecture {
    name: "transformers ResNetForImageClassification",
    keys: "resnet.embedder.embedder.convolution.weight, resnet.encoder.stages.0.layers.0.*, \
           classifier.1.weight",
    detect,
    build,
};

fn detect(w: &Weights) -> bool {
    w.contains("resnet.embedder.embedder.convolution.weight")
}

/// A `ResNetConfig` flag from `config.json`, else its default.
fn flag(vb: &Vb, name: &str) -> bool {
    vb.metadata()
        .hf_config
        .as_ref()
        .and_then(|c| c.get(name))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

fn build(vb: &Vb) -> Result<Built> {
    if let Some(act) = vb
        .metadata()
        .hf_config
        .as_ref()
        .and_then(|c| c.get("hidden_act"))
        .and_then(serde_json::Value::as_str)
        .filter(|a| *a != "relu")
    {
        return Err(vb.layout_error(format!(
            "config.json sets hidden_act \"{act}\"; camscope models the ResNet's ReLU only"
        )));
    }
    if !vb.contains("classifier.1.weight") {
        return Err(vb.layout_error(
            "a ResNetModel without its classification head (classifier.1.weight): save \
             ResNetForImageClassification instead",
        ));
    }
    let in_bottleneck = flag(vb, "downsample_in_bottleneck");
    let in_first_stage = flag(vb, "downsample_in_first_stage");
    let e = vb.pp("resnet.embedder.embedder");
    let stem = conv_bn(
        &e.pp("convolution"),
        &e.pp("normalization"),
        3,
        2,
        None,
        Groups::One,
        EPS,
    )?;
    let mut c = stem.out_channels();
    let mut nodes = vec![
        Node::new("resnet.embedder.embedder", vec![Op::Conv(stem), Op::Relu]),
        Node::new("resnet.embedder.pooler", vec![stem_max_pool()]),
    ];
    let mut aliases = vec![("resnet.embedder".to_owned(), 1)];
    let bottleneck = vb.contains(&format!("{STAGES}.0.layers.0.layer.2.convolution.weight"));
    let depths = residual_stages(
        vb,
        &mut nodes,
        &mut aliases,
        &StageLayout {
            first: 0,
            stage: "resnet.encoder.stages.{}",
            children: "layers",
            probe: "layer.0.convolution.weight",
        },
        |lvb, stage, l| {
            let stride = if l == 0 && (stage > 0 || in_first_stage) {
                2
            } else {
                1
            };
            let (op, cout) = layer(lvb, c, stride, bottleneck, in_bottleneck)?;
            c = cout;
            Ok(op)
        },
    )?;
    if depths.is_empty() {
        return Err(vb.layout_error(format!("no {STAGES}.0.layers.0.layer.0.convolution.weight")));
    }
    let last = nodes.len() - 1;
    let (fc, num_classes) = linear(&vb.pp("classifier.1"), c)?;
    let cam = gap_linear_head(&mut nodes, fc, "resnet.pooler", "classifier");
    let depth = depths.iter().sum::<usize>() * if bottleneck { 3 } else { 2 } + 2;
    Ok(Built {
        architecture: format!("transformers ResNet-{depth} (depths {depths:?})"),
        nodes,
        aliases,
        default_layer: last,
        cam: Ok(cam),
        num_classes,
        preprocess: Preprocess::imagenet(),
    })
}

/// One `ResNetBottleNeckLayer` / `ResNetBasicLayer` over `cin` channels, with its output
/// channels.
fn layer(
    vb: &Vb,
    cin: usize,
    stride: usize,
    bottleneck: bool,
    in_bottleneck: bool,
) -> Result<(Op, usize)> {
    let conv = |i: usize, cin: usize, stride: usize| {
        let l = vb.pp("layer").pp(i);
        conv_bn(
            &l.pp("convolution"),
            &l.pp("normalization"),
            cin,
            stride,
            None,
            Groups::One,
            EPS,
        )
    };
    let main = if bottleneck {
        let (s0, s1) = if in_bottleneck {
            (stride, 1)
        } else {
            (1, stride)
        };
        let a = conv(0, cin, s0)?;
        let b = conv(1, a.out_channels(), s1)?;
        let c = conv(2, b.out_channels(), 1)?;
        vec![Op::Conv(a), Op::Relu, Op::Conv(b), Op::Relu, Op::Conv(c)]
    } else {
        let a = conv(0, cin, stride)?;
        let b = conv(1, a.out_channels(), 1)?;
        vec![Op::Conv(a), Op::Relu, Op::Conv(b)]
    };
    let cout = match main.last() {
        Some(Op::Conv(c)) => c.out_channels(),
        _ => cin,
    };
    let s = vb.pp("shortcut");
    let shortcut = if s.contains("convolution.weight") {
        let c = conv_bn(
            &s.pp("convolution"),
            &s.pp("normalization"),
            cin,
            stride,
            Some(0),
            Groups::One,
            EPS,
        )?;
        if c.out_channels() != cout {
            return Err(vb.layout_error(format!(
                "{}: the shortcut gives {} channels, the layer {cout}",
                s.key("convolution.weight"),
                c.out_channels()
            )));
        }
        vec![Op::Conv(c)]
    } else if cin == cout && stride == 1 {
        Vec::new()
    } else {
        return Err(vb.layout_error(format!(
            "{}: the layer maps {cin} to {cout} channels with stride {stride} but has no {}",
            vb.prefix(),
            s.key("convolution.weight")
        )));
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
