//! timm's EfficientNet family: its `EfficientNet` class (EfficientNet-B0…B8, EfficientNet-V2,
//! EfficientNet-Lite, MobileNet-V2, each also as `tf_…`) and its `MobileNetV3` class
//! (`mobilenetv3_large_*`, `mobilenetv3_small_*`, `…_minimal_*`).
//!
//! `conv_stem` (3×3 stride 2) + `bn1` (BatchNorm with its activation, timm's `BatchNormAct2d`),
//! then stages `blocks.{s}` of blocks `blocks.{s}.{b}` of four kinds, told apart by their keys:
//! - depthwise-separable (`conv_dw`, `bn1`+act, `se`, `conv_pw`, `bn2`);
//! - inverted residual (`conv_pw`, `bn1`+act, `conv_dw`, `bn2`+act, `se`, `conv_pwl`, `bn3`);
//! - edge residual, V2's fused block (`conv_exp`, `bn1`+act, `se`, `conv_pwl`, `bn2`);
//! - convolution (`conv`, `bn1`+act).
//!
//! A block adds its input when its stride is 1 and its width is kept. `se` is timm's
//! `SqueezeExcite` (`conv_reduce`, act, `conv_expand`, gate).
//! - `EfficientNet`: `conv_head` (1×1) + `bn2`+act (the default layer), global average pool,
//!   `classifier`: a CAM head.
//! - `MobileNetV3`: the pool comes first, then `conv_head` (1×1 with bias), `act2`, `classifier`:
//!   a hidden layer, so no CAM; the default layer is `blocks` (the last block's output).
//!
//! Not in the checkpoint, so from timm's architecture tables: stage strides (`[1, 2, 2, 2, 1, 2,
//! 1]` for all but MobileNet-V3 small's six stages, `[2, 2, 2, 1, 2, 1]`; the first block of a
//! stage takes the stride) and activations. timm's `config.json` names the architecture; the
//! activations follow from it. Without one the checkpoint's own structure decides: an
//! `EfficientNet` with squeeze-and-excitation is B / V2 (SiLU), one without is Lite /
//! MobileNet-V2 (ReLU6); a `MobileNetV3` with it uses ReLU in the first stages (three of
//! large's seven, two of small's six) and Hardswish after, squeeze-and-excitation with ReLU +
//! Hardsigmoid; one without is `_minimal` (ReLU throughout). `tf_` variants (named only by
//! `config.json`) pad as TensorFlow's "SAME" and use BatchNorm eps 1e-3.
//!
//! Each BatchNorm is folded into its convolution, so the nodes are named by the BatchNorm
//! (`bn1`, `bn2`), whose output in timm already includes the activation.

use super::blocks::{
    Groups, conv, count_children, gap_linear_head, inverted_residual, linear, squeeze_excite,
};
use super::metadata::Library;
use super::{Architecture, Built, Node, Vb, Weights};
use crate::engine::error::Result;
use crate::engine::io::preprocess::{Interpolation, Preprocess};
use crate::engine::ops::{Act, Op};

pub const ARCHITECTURE: Architecture = Architecture {
    name: "EfficientNet / MobileNet-V2 / MobileNet-V3 (timm)",
    keys: "conv_stem.weight, bn1.weight, blocks.0.0.…, classifier.weight",
    detect,
    build,
};

fn detect(w: &Weights) -> bool {
    w.contains("conv_stem.weight") && w.contains("bn1.weight") && w.contains("classifier.weight")
}

/// A block activation (timm creates each as a module).
#[derive(Clone, Copy, PartialEq)]
enum BlockAct {
    /// `nn.ReLU`: guided in guided backprop.
    Relu,
    Relu6,
    Silu,
    Hardswish,
}

impl BlockAct {
    fn op(self) -> Op {
        match self {
            BlockAct::Relu => Op::Relu,
            BlockAct::Relu6 => Op::Relu6,
            BlockAct::Silu => Op::Act(Act::Silu),
            BlockAct::Hardswish => Op::Act(Act::Hardswish),
        }
    }
}

/// What the checkpoint does not say about the network.
struct Flavor {
    architecture: String,
    mobilenet_v3: bool,
    act: BlockAct,
    /// The first stages use ReLU instead of `act` (MobileNet-V3's "nre" stages).
    relu_stages: usize,
    /// Squeeze-and-excitation's activation and gate.
    se: (Act, Act),
    /// TensorFlow "SAME" padding and BatchNorm eps 1e-3 (`tf_` variants).
    tf: bool,
}

impl Flavor {
    fn eps(&self) -> f64 {
        if self.tf { 1e-3 } else { 1e-5 }
    }

    fn act_of_stage(&self, stage: usize) -> BlockAct {
        if stage < self.relu_stages {
            BlockAct::Relu
        } else {
            self.act
        }
    }
}

/// The architecture names this file reads, for the refusal of any other.
const KNOWN: &str = "efficientnet_b*, efficientnetv2_*, efficientnet_lite*, mobilenetv2_*, \
                     mobilenetv3_large_*, mobilenetv3_small_* (and their tf_ variants)";

fn flavor(vb: &Vb, mobilenet_v3: bool, has_se: bool, stages: usize) -> Result<Flavor> {
    let meta = vb.metadata();
    let named = meta
        .architecture
        .clone()
        .filter(|_| meta.library == Some(Library::Timm));
    let (tf, base) = match &named {
        Some(a) => match a.strip_prefix("tf_") {
            Some(rest) => (true, rest.to_owned()),
            None => (false, a.clone()),
        },
        None => (false, String::new()),
    };
    let refuse = |why: String| vb.layout_error(why);
    let v3_named = base.starts_with("mobilenetv3_large") || base.starts_with("mobilenetv3_small");
    let (act, relu_stages, se) = if mobilenet_v3 {
        if named.is_some() && !v3_named {
            return Err(refuse(format!(
                "timm's config.json names `{}`, but the tensors are a MobileNetV3's; camscope \
                 reads {KNOWN}",
                named.unwrap_or_default()
            )));
        }
        let minimal = if named.is_some() {
            base.contains("minimal")
        } else {
            !has_se
        };
        let hard = (Act::Relu, Act::Hardsigmoid);
        if minimal {
            (BlockAct::Relu, 0, hard)
        } else {
            (BlockAct::Hardswish, if stages == 6 { 2 } else { 3 }, hard)
        }
    } else {
        let silu = (BlockAct::Silu, 0, (Act::Silu, Act::Sigmoid));
        let relu6 = (BlockAct::Relu6, 0, (Act::Relu, Act::Sigmoid));
        match &named {
            None if has_se => silu,
            None => relu6,
            Some(_)
                if ["efficientnet_b", "efficientnet_l2", "efficientnetv2"]
                    .iter()
                    .any(|p| base.starts_with(p)) =>
            {
                silu
            }
            Some(_)
                if ["efficientnet_lite", "mobilenetv2_"]
                    .iter()
                    .any(|p| base.starts_with(p)) =>
            {
                relu6
            }
            Some(a) => {
                return Err(refuse(format!(
                    "timm's config.json names `{a}`, which camscope does not read: it reads \
                     {KNOWN}"
                )));
            }
        }
    };
    if has_se && act == BlockAct::Relu6 {
        return Err(refuse(
            "squeeze-and-excitation in a ReLU6 (Lite / MobileNet-V2) network: not a timm \
             layout camscope knows"
                .to_owned(),
        ));
    }
    let architecture = named.unwrap_or_else(|| {
        match (mobilenet_v3, act) {
            (true, BlockAct::Relu) => "mobilenetv3_minimal",
            (true, _) if stages == 6 => "mobilenetv3_small",
            (true, _) => "mobilenetv3_large",
            (false, BlockAct::Silu) => "efficientnet",
            (false, _) => "efficientnet_lite / mobilenetv2",
        }
        .to_owned()
            + " (timm)"
    });
    Ok(Flavor {
        architecture,
        mobilenet_v3,
        act,
        relu_stages,
        se,
        tf,
    })
}

/// `{vb}.{conv}` with `{vb}.{bn}` folded in, over `cin` channels: the ops that run it and its
/// width. timm's symmetric padding `((stride − 1) + (k − 1)) / 2` is `k / 2` for the odd
/// kernels these networks use; `tf_` variants pad a strided convolution as TensorFlow's "SAME"
/// (at stride 1 that is `k / 2` too).
fn conv_bn(
    vb: &Vb,
    names: [&str; 2],
    cin: usize,
    stride: usize,
    groups: Groups,
    f: &Flavor,
) -> Result<(Vec<Op>, usize)> {
    let k = vb.pp(names[0]).dims_n("weight", 4)?[2];
    let same = f.tf && stride > 1;
    let c = super::blocks::conv_bn(
        &vb.pp(names[0]),
        &vb.pp(names[1]),
        cin,
        stride,
        same.then_some(0),
        groups,
        f.eps(),
    )?;
    let width = c.out_channels();
    let mut ops = Vec::with_capacity(2);
    if same {
        ops.push(Op::SamePad { kernel: k, stride });
    }
    ops.push(Op::Conv(c));
    Ok((ops, width))
}

fn build(vb: &Vb) -> Result<Built> {
    let mobilenet_v3 = !vb.contains("bn2.weight");
    let blocks = vb.pp("blocks");
    let stages = (0..)
        .take_while(|&s| count_children(&blocks.pp(s), "bn1.weight") > 0)
        .count();
    if stages == 0 {
        return Err(vb.layout_error("no blocks.0.0"));
    }
    let strides: &[usize] = if mobilenet_v3 && stages == 6 {
        &[2, 2, 2, 1, 2, 1]
    } else {
        &[1, 2, 2, 2, 1, 2, 1]
    };
    if stages > strides.len() {
        return Err(vb.layout_error(format!("{stages} stages of blocks, at most 7 are known")));
    }
    let has_se = (0..stages).any(|s| {
        (0..count_children(&blocks.pp(s), "bn1.weight"))
            .any(|b| blocks.pp(s).pp(b).contains("se.conv_reduce.weight"))
    });
    let f = flavor(vb, mobilenet_v3, has_se, stages)?;

    let (mut ops, mut c) = conv_bn(vb, ["conv_stem", "bn1"], 3, 2, Groups::One, &f)?;
    ops.push(f.act.op());
    let mut nodes = vec![Node::new("bn1", ops)];
    let mut aliases = Vec::new();
    for (s, &stage_stride) in strides.iter().enumerate().take(stages) {
        let stage = blocks.pp(s);
        for b in 0..count_children(&stage, "bn1.weight") {
            let stride = if b == 0 { stage_stride } else { 1 };
            let bvb = stage.pp(b);
            let (op, cout) = block(&bvb, c, stride, f.act_of_stage(s), &f)?;
            nodes.push(Node::new(bvb.prefix(), vec![op]));
            c = cout;
        }
        aliases.push((stage.prefix().to_owned(), nodes.len() - 1));
    }
    let last_block = nodes.len() - 1;
    let (default_layer, cam, num_classes) = if f.mobilenet_v3 {
        // First, so that it is the default layer's display name.
        aliases.insert(0, ("blocks".into(), last_block));
        let head = conv(&vb.pp("conv_head"), c, 1, Some(0), Groups::One)?;
        if !vb.contains("conv_head.bias") {
            return Err(vb.layout_error(
                "conv_head has no bias: timm's mobilenetv3_rw layout, which camscope does not read",
            ));
        }
        c = head.out_channels();
        nodes.push(Node::new("global_pool", vec![Op::GlobalAvgPool]));
        nodes.push(Node::new("conv_head", vec![Op::Conv(head)]));
        nodes.push(Node::new("act2", vec![f.act.op()]));
        let (fc, n) = linear(&vb.pp("classifier"), c)?;
        nodes.push(Node::new("classifier", vec![Op::Flatten, Op::Linear(fc)]));
        let why = "timm's MobileNet-V3 head has a hidden layer after the pooling (conv_head → \
                   act2 → classifier), so the logit is not a weighted sum of channel means; \
                   use Grad-CAM"
            .to_owned();
        (last_block, Err(why), n)
    } else {
        aliases.push(("blocks".into(), last_block));
        let (mut ops, width) = conv_bn(vb, ["conv_head", "bn2"], c, 1, Groups::One, &f)?;
        ops.push(f.act.op());
        c = width;
        nodes.push(Node::new("bn2", ops));
        let (fc, n) = linear(&vb.pp("classifier"), c)?;
        let cam = gap_linear_head(&mut nodes, fc, "global_pool", "classifier");
        (nodes.len() - 3, Ok(cam), n)
    };
    Ok(Built {
        architecture: f.architecture,
        nodes,
        aliases,
        default_layer,
        cam,
        num_classes,
        // timm's usual eval transform (224, crop 0.875, bicubic) for files without a
        // config.json; the Hub's config.json gives each model its own.
        preprocess: Preprocess::torchvision(256, 224, Interpolation::Bicubic),
    })
}

/// One block at `vb` over `cin` channels with activation `act`: its op and its width.
fn block(vb: &Vb, cin: usize, stride: usize, act: BlockAct, f: &Flavor) -> Result<(Op, usize)> {
    // (convolution, BatchNorm, whether it is strided, whether an activation follows)
    let (parts, se_after): (&[(&str, &str, bool, bool)], usize) =
        if vb.contains("conv_pwl.weight") && vb.contains("conv_dw.weight") {
            (
                &[
                    ("conv_pw", "bn1", false, true),
                    ("conv_dw", "bn2", true, true),
                    ("conv_pwl", "bn3", false, false),
                ],
                2,
            )
        } else if vb.contains("conv_dw.weight") {
            (
                &[
                    ("conv_dw", "bn1", true, true),
                    ("conv_pw", "bn2", false, false),
                ],
                1,
            )
        } else if vb.contains("conv_exp.weight") {
            (
                &[
                    ("conv_exp", "bn1", true, true),
                    ("conv_pwl", "bn2", false, false),
                ],
                1,
            )
        } else if vb.contains("conv.weight") {
            (&[("conv", "bn1", true, true)], 1)
        } else {
            return Err(vb.layout_error(format!(
                "{}: not one of timm's block kinds (conv_dw / conv_pw / conv_pwl, conv_exp, conv)",
                vb.prefix()
            )));
        };
    let mut ops = Vec::new();
    let mut c = cin;
    for (i, &(conv_name, bn, strided, activated)) in parts.iter().enumerate() {
        let s = if strided { stride } else { 1 };
        let (conv_ops, width) = conv_bn(vb, [conv_name, bn], c, s, Groups::Infer, f)?;
        ops.extend(conv_ops);
        c = width;
        if activated {
            ops.push(act.op());
        }
        if i + 1 == se_after && vb.contains("se.conv_reduce.weight") {
            let (se_act, gate) = f.se;
            ops.push(squeeze_excite(
                &vb.pp("se"),
                c,
                ["conv_reduce", "conv_expand"],
                se_act,
                gate,
            )?);
        }
    }
    Ok((inverted_residual(ops, cin, c, stride), c))
}
