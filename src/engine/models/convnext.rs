//! ConvNeXt (Liu et al. 2022) tiny / small / base / large, in torchvision's, timm's and
//! transformers' (`ConvNextForImageClassification`) layouts: one builder, three key maps.
//!
//! A patchify stem (4×4 convolution, stride 4) with a LayerNorm over channels; four stages of
//! blocks, stages 2–4 opened by a downsample (LayerNorm, 2×2 convolution, stride 2); global
//! average pool, LayerNorm, linear. A block is `x + γ ⊙ fc2(GELU(fc1(LN(dwconv7×7(x)))))`:
//! the two linear layers act on each pixel's channels, so they run as 1×1 convolutions, and
//! the layer scale `γ` is folded into `fc2` at load (exact up to rounding). LayerNorm eps is
//! 1e-6 everywhere but transformers' pooled norm (`layer_norm_eps` from config.json, default
//! 1e-12). The LayerNorm after the pooling means no CAM: the logit is not a weighted sum of
//! channel means.

use super::blocks::{Groups, conv, count_children, linear};
use super::{Architecture, Built, Node, Vb, Weights};
use crate::engine::error::Result;
use crate::engine::io::preprocess::{Interpolation, Preprocess};
use crate::engine::ops::{Act, Conv2d, LayerNorm2d, Op};

const EPS: f64 = 1e-6;

/// Where a layout keeps each part; `{}` is the stage index.
struct Layout {
    family: &'static str,
    stem_conv: &'static str,
    stem_norm: &'static str,
    /// The blocks of stage `{}`.
    blocks: &'static str,
    /// Stage `{}`'s downsample (norm at `.0`, convolution at `.1`), from stage 1 on.
    downsample: &'static str,
    dw: &'static str,
    norm: &'static str,
    fc1: &'static str,
    fc2: &'static str,
    gamma: &'static str,
    /// Stage `{}`'s name, an alias of its last block.
    stage: &'static str,
    default_layer: &'static str,
    pool: &'static str,
    head_norm: &'static str,
    fc: &'static str,
    head: &'static str,
}

const TORCHVISION: Layout = Layout {
    family: "torchvision",
    stem_conv: "features.0.0",
    stem_norm: "features.0.1",
    blocks: "features.[2s+1]",
    downsample: "features.[2s]",
    dw: "block.0",
    norm: "block.2",
    fc1: "block.3",
    fc2: "block.5",
    gamma: "layer_scale",
    stage: "features.[2s+1]",
    default_layer: "features",
    pool: "avgpool",
    head_norm: "classifier.0",
    fc: "classifier.2",
    head: "classifier",
};

const TIMM: Layout = Layout {
    family: "timm",
    stem_conv: "stem.0",
    stem_norm: "stem.1",
    blocks: "stages.{}.blocks",
    downsample: "stages.{}.downsample",
    dw: "conv_dw",
    norm: "norm",
    fc1: "mlp.fc1",
    fc2: "mlp.fc2",
    gamma: "gamma",
    stage: "stages.{}",
    default_layer: "stages.3",
    pool: "head.global_pool",
    head_norm: "head.norm",
    fc: "head.fc",
    head: "head.fc",
};

const TRANSFORMERS: Layout = Layout {
    family: "transformers",
    stem_conv: "convnext.embeddings.patch_embeddings",
    stem_norm: "convnext.embeddings.layernorm",
    blocks: "convnext.encoder.stages.{}.layers",
    downsample: "convnext.encoder.stages.{}.downsampling_layer",
    dw: "dwconv",
    norm: "layernorm",
    fc1: "pwconv1",
    fc2: "pwconv2",
    gamma: "layer_scale_parameter",
    stage: "convnext.encoder.stages.{}",
    default_layer: "convnext.encoder.stages.3",
    pool: "convnext.pooler",
    head_norm: "convnext.layernorm",
    fc: "classifier",
    head: "classifier",
};

/// `template` for stage `s`: `{}` is `s`; torchvision's `[2s+1]` / `[2s]` its module index.
fn at(template: &str, s: usize) -> String {
    template
        .replace("{}", &s.to_string())
        .replace("[2s+1]", &(2 * s + 1).to_string())
        .replace("[2s]", &(2 * s).to_string())
}

pub const ARCHITECTURE: Architecture = Architecture {
    name: "ConvNeXt (torchvision, timm, transformers)",
    keys: "features.1.0.block.0.weight, stages.0.blocks.0.conv_dw.weight or \
           convnext.embeddings.patch_embeddings.weight",
    detect,
    build,
};

/// Which layout a checkpoint with these tensor names has.
fn layout(has: &dyn Fn(&str) -> bool) -> Option<&'static Layout> {
    if has("features.1.0.block.0.weight") && has("features.1.0.layer_scale") {
        Some(&TORCHVISION)
    } else if has("stages.0.blocks.0.conv_dw.weight") && has("stem.0.weight") {
        Some(&TIMM)
    } else if has("convnext.embeddings.patch_embeddings.weight") {
        Some(&TRANSFORMERS)
    } else {
        None
    }
}

fn detect(w: &Weights) -> bool {
    layout(&|k| w.contains(k)).is_some()
}

fn layer_norm(vb: &Vb, c: usize, eps: f64) -> Result<LayerNorm2d> {
    Ok(LayerNorm2d {
        weight: vb.get("weight", &[c])?,
        bias: vb.get("bias", &[c])?,
        eps,
    })
}

/// A convolution whose stride is its kernel (patchify stem, downsample).
fn patchify(vb: &Vb, cin: usize) -> Result<Conv2d> {
    let k = vb.dims_n("weight", 4)?[2];
    conv(vb, cin, k, Some(0), Groups::One)
}

fn build(vb: &Vb) -> Result<Built> {
    let l = layout(&|k| vb.contains(k)).ok_or_else(|| vb.layout_error("not a ConvNeXt layout"))?;
    let stem = patchify(&vb.pp(l.stem_conv), 3)?;
    let mut c = stem.out_channels();
    let width = c;
    let norm = layer_norm(&vb.pp(l.stem_norm), c, EPS)?;
    let stem_name = l.stem_conv.rsplit_once('.').map_or(l.stem_conv, |(a, _)| a);
    let mut nodes = vec![Node::new(
        stem_name,
        vec![Op::Conv(stem), Op::LayerNorm2d(norm)],
    )];
    let mut aliases = Vec::new();
    let mut depths = Vec::new();
    for s in 0.. {
        let blocks = vb.pp(at(l.blocks, s));
        let n = count_children(&blocks, &format!("{}.weight", l.dw));
        if n == 0 {
            break;
        }
        let down = vb.pp(at(l.downsample, s));
        if s > 0 {
            let norm = layer_norm(&down.pp(0), c, EPS)?;
            let cv = patchify(&down.pp(1), c)?;
            c = cv.out_channels();
            nodes.push(Node::new(
                down.prefix(),
                vec![Op::LayerNorm2d(norm), Op::Conv(cv)],
            ));
        }
        for j in 0..n {
            let b = blocks.pp(j);
            nodes.push(Node::new(b.prefix(), vec![block(&b, l, c)?]));
        }
        aliases.push((at(l.stage, s), nodes.len() - 1));
        depths.push(n);
    }
    if depths.is_empty() {
        return Err(vb.layout_error(format!("no {}.0", at(l.blocks, 0))));
    }
    let default_layer = nodes.len() - 1;
    if !aliases.iter().any(|(a, _)| a == l.default_layer) {
        // First, so that it is the default layer's display name.
        aliases.insert(0, (l.default_layer.to_owned(), default_layer));
    }
    let pooled_eps = if std::ptr::eq(l, &TRANSFORMERS) {
        hf_layer_norm_eps(vb)
    } else {
        EPS
    };
    let head_norm = layer_norm(&vb.pp(l.head_norm), c, pooled_eps)?;
    let (fc, num_classes) = linear(&vb.pp(l.fc), c)?;
    nodes.push(Node::new(l.pool, vec![Op::GlobalAvgPool]));
    nodes.push(Node::new(
        l.head,
        vec![Op::LayerNorm2d(head_norm), Op::Flatten, Op::Linear(fc)],
    ));
    let (architecture, preprocess) = variant(l, width, &depths);
    Ok(Built {
        architecture,
        nodes,
        aliases,
        default_layer,
        cam: Err(
            "ConvNeXt normalizes the pooled features (LayerNorm) before its linear layer, so the \
             logit is not a weighted sum of channel means; use Grad-CAM"
                .into(),
        ),
        num_classes,
        preprocess,
    })
}

/// transformers' `layer_norm_eps` (the pooled LayerNorm's), default 1e-12.
fn hf_layer_norm_eps(vb: &Vb) -> f64 {
    vb.metadata()
        .hf_config
        .as_ref()
        .and_then(|c| c.get("layer_norm_eps"))
        .and_then(|v| v.as_f64())
        .unwrap_or(1e-12)
}

/// A linear layer over channels (`(out, in)`, or timm's `conv_mlp` `(out, in, 1, 1)`) as a 1×1
/// convolution, its output scaled by `gamma` when given.
fn pointwise(vb: &Vb, cin: usize, gamma: Option<&candle_core::Tensor>) -> Result<Conv2d> {
    let dims = vb.dims("weight")?;
    let cout = dims[0];
    let weight = if dims.len() == 4 {
        vb.get("weight", &[cout, cin, 1, 1])?
    } else {
        vb.get("weight", &[cout, cin])?.reshape((cout, cin, 1, 1))?
    };
    let bias = vb.get("bias", &[cout])?;
    let (weight, bias) = match gamma {
        Some(g) => (
            weight.broadcast_mul(&g.reshape((cout, 1, 1, 1))?)?,
            bias.mul(g)?,
        ),
        None => (weight, bias),
    };
    Conv2d::new(weight, Some(bias), 1, 0, 1)
}

fn block(vb: &Vb, l: &Layout, c: usize) -> Result<Op> {
    let dw = conv(&vb.pp(l.dw), c, 1, None, Groups::Infer)?;
    let norm = layer_norm(&vb.pp(l.norm), c, EPS)?;
    let fc1 = pointwise(&vb.pp(l.fc1), c, None)?;
    let hidden = fc1.out_channels();
    let gamma = match vb.dims(l.gamma)?.as_slice() {
        [n, 1, 1] | [n] if *n == c => vb.get(l.gamma, &vb.dims(l.gamma)?)?.flatten_all()?,
        d => {
            return Err(vb.layout_error(format!(
                "{}: expected [{c}] or [{c}, 1, 1], found {d:?}",
                vb.key(l.gamma)
            )));
        }
    };
    let fc2 = pointwise(&vb.pp(l.fc2), hidden, Some(&gamma))?;
    Ok(Op::Residual {
        main: vec![
            Op::Conv(dw),
            Op::LayerNorm2d(norm),
            Op::Conv(fc1),
            Op::Act(Act::Gelu),
            Op::Conv(fc2),
        ],
        shortcut: Vec::new(),
        post_relu: false,
    })
}

/// The configuration's name and eval transform: torchvision's documented one per size; timm's
/// and transformers' defaults (bicubic, crop 0.875) where config files say nothing.
fn variant(l: &Layout, width: usize, depths: &[usize]) -> (String, Preprocess) {
    let size = match (width, depths) {
        (96, [3, 3, 9, 3]) => Some(("tiny", 236)),
        (96, [3, 3, 27, 3]) => Some(("small", 230)),
        (128, [3, 3, 27, 3]) => Some(("base", 232)),
        (192, [3, 3, 27, 3]) => Some(("large", 232)),
        _ => None,
    };
    let name = match size {
        Some((s, _)) => format!("convnext_{s}"),
        None => format!(
            "convnext (width {width}, depths {})",
            depths
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("-")
        ),
    };
    let preprocess = match (l.family, size) {
        ("torchvision", Some((_, resize))) => {
            Preprocess::torchvision(resize, 224, Interpolation::Bilinear)
        }
        ("torchvision", None) => Preprocess::imagenet(),
        _ => Preprocess::torchvision(256, 224, Interpolation::Bicubic),
    };
    (name, preprocess)
}
