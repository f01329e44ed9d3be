//! torchvision VGG-11/13/16/19 (with or without BatchNorm) and the CAM paper's VGG-GAP.
//!
//! `features` is read module by module from the key indices: a 4-D `features.i.weight` is a
//! 3×3 convolution; `features.{i+1}.running_mean` means BatchNorm (eps 1e-5) follows; then a
//! ReLU; a gap of one index before the next convolution is a 2×2 max-pool. Every module output
//! is a node named by its torchvision path (`features.29`), with BatchNorm kept separate so its
//! output is addressable too.
//!
//! Heads:
//! - torchvision: `features` ends in a max-pool, then `avgpool` (AdaptiveAvgPool2d to s×s, s read
//!   off `classifier.0.weight`) and `classifier.{0,3,6}` linears with ReLU and Dropout between.
//!   A fully connected head: no CAM.
//! - timm: `features` as torchvision's (ending in a max-pool), then `pre_logits` — timm's
//!   `ConvMlp`: `fc1` a 7×7 convolution without padding (maps smaller than 7×7 are first
//!   average-pooled up to 7×7), ReLU, `fc2` a 1×1 convolution, ReLU — then `head`: a global
//!   average pool and `head.fc`. The pool acts on `pre_logits`' output, which is 1×1 for a
//!   224×224 input, so there is no CAM: CAM's map would be that one pixel. Grad-CAM works on
//!   every `features.*` layer and on `pre_logits` (a 1×1 map at 224×224).
//! - VGG-GAP (our key names, see docs/models.md): `features.*` as above but with no trailing
//!   max-pool (the CAM paper removes pool5 and appends a 3×3 conv + ReLU), then a global average
//!   pool and one linear layer stored as `fc.weight` / `fc.bias`.

use super::blocks::{Groups, batch_norm, conv, gap_linear_head, linear};
use super::{Architecture, Built, Node, Vb, Weights};
use crate::engine::error::Result;
use crate::engine::io::preprocess::Preprocess;
use crate::engine::ops::{AdaptiveAvgPool, MaxPool, MinSizePool, Op};

const EPS: f64 = 1e-5;

pub const ARCHITECTURE: Architecture = Architecture {
    name: "torchvision / timm VGG, VGG-GAP",
    keys: "features.0.weight, classifier.0.weight, pre_logits.fc1.weight or fc.weight",
    detect,
    build,
};

fn detect(w: &Weights) -> bool {
    w.contains("features.0.weight")
}

fn build(vb: &Vb) -> Result<Built> {
    let fvb = vb.pp("features");
    let timm_head = vb.contains("pre_logits.fc1.weight");
    let gap_head = vb.contains("fc.weight") && !vb.contains("classifier.0.weight") && !timm_head;
    if !gap_head && !timm_head && !vb.contains("classifier.0.weight") {
        return Err(vb.layout_error(
            "VGG features found but no head: expected classifier.0.weight (torchvision), \
             pre_logits.fc1.weight + head.fc.weight (timm) or fc.weight (VGG-GAP)",
        ));
    }
    // The index of the last convolution decides where `features` ends.
    let last_conv = fvb
        .child_indices()
        .into_iter()
        .filter(|i| fvb.pp(i).dims("weight").is_ok_and(|d| d.len() == 4))
        .max()
        .unwrap_or(0);
    let mut nodes = Vec::new();
    let mut c = 3;
    let mut convs = 0;
    let mut bn_any = false;
    let mut i = 0;
    let mut last_relu = 0;
    while i <= last_conv {
        let cvb = fvb.pp(i);
        if !cvb.contains("weight") {
            // A max-pool sits between two convolutions.
            nodes.push(Node::new(cvb.prefix(), vec![max_pool()]));
            i += 1;
            if !fvb.pp(i).contains("weight") {
                return Err(vb.layout_error(format!(
                    "expected a convolution at {}",
                    fvb.pp(i).key("weight")
                )));
            }
            continue;
        }
        let cv = conv(&cvb, c, 1, None, Groups::One)?;
        c = cv.out_channels();
        convs += 1;
        nodes.push(Node::new(cvb.prefix(), vec![Op::Conv(cv)]));
        i += 1;
        if fvb.pp(i).contains("running_mean") {
            bn_any = true;
            let bn = batch_norm(&fvb.pp(i), c, EPS)?;
            nodes.push(Node::new(fvb.pp(i).prefix(), vec![Op::BatchNorm(bn)]));
            i += 1;
        }
        nodes.push(Node::new(fvb.pp(i).prefix(), vec![Op::Relu]));
        last_relu = nodes.len() - 1;
        i += 1;
    }
    if convs == 0 {
        return Err(vb.layout_error("features.* holds no convolution"));
    }
    let family = if bn_any { "_bn" } else { "" };
    if gap_head {
        let (fc, num_classes) = linear(&vb.pp("fc"), c)?;
        // VGG-GAP's features end with the last ReLU, which the head pools.
        let cam = gap_linear_head(&mut nodes, fc, "avgpool", "fc");
        return Ok(Built {
            architecture: format!("vgg-gap{family} ({convs} convolutions)"),
            nodes,
            aliases: Vec::new(),
            default_layer: last_relu,
            cam: Ok(cam),
            num_classes,
            preprocess: Preprocess::imagenet(),
        });
    }
    nodes.push(Node::new(fvb.pp(i).prefix(), vec![max_pool()]));
    let architecture = match convs {
        8 => format!("vgg11{family}"),
        10 => format!("vgg13{family}"),
        13 => format!("vgg16{family}"),
        16 => format!("vgg19{family}"),
        n => format!("vgg{family} ({n} convolutions)"),
    };
    if timm_head {
        return timm_pre_logits_and_head(vb, nodes, c, last_relu, architecture);
    }
    // classifier.0 takes C·s·s features after AdaptiveAvgPool2d((s, s)).
    let cvb = vb.pp("classifier");
    let fin = cvb.pp(0).dims_n("weight", 2)?[1];
    let s = (1..=64).find(|s| c * s * s == fin).ok_or_else(|| {
        vb.layout_error(format!(
            "{}: takes {fin} features, which is not {c} channels × s × s",
            cvb.pp(0).key("weight")
        ))
    })?;
    nodes.push(Node::new(
        "avgpool",
        vec![Op::AdaptiveAvgPool(AdaptiveAvgPool { out_h: s, out_w: s })],
    ));
    let mut features = fin;
    let mut j = 0;
    let mut first = true;
    loop {
        let (lin, fout) = linear(&cvb.pp(j), features)?;
        features = fout;
        let mut ops = Vec::new();
        if first {
            ops.push(Op::Flatten);
            first = false;
        }
        ops.push(Op::Linear(lin));
        nodes.push(Node::new(cvb.pp(j).prefix(), ops));
        if !cvb.pp(j + 3).contains("weight") {
            break;
        }
        nodes.push(Node::new(cvb.pp(j + 1).prefix(), vec![Op::Relu]));
        nodes.push(Node::new(cvb.pp(j + 2).prefix(), vec![Op::Dropout]));
        j += 3;
    }
    Ok(Built {
        architecture,
        nodes,
        aliases: Vec::new(),
        default_layer: last_relu,
        cam: Err(
            "CAM needs a global-average-pool + linear head, and this VGG has a fully connected \
             classifier (avgpool → classifier.0/3/6); use Grad-CAM, which works on any layer"
                .to_owned(),
        ),
        num_classes: features,
        preprocess: Preprocess::imagenet(),
    })
}

/// timm's `pre_logits` (ConvMlp) and `head` after `features`, which give `c` channels.
fn timm_pre_logits_and_head(
    vb: &Vb,
    mut nodes: Vec<Node>,
    c: usize,
    last_relu: usize,
    architecture: String,
) -> Result<Built> {
    let pvb = vb.pp("pre_logits");
    let k = pvb.pp("fc1").dims_n("weight", 4)?[2];
    let fc1 = conv(&pvb.pp("fc1"), c, 1, Some(0), Groups::One)?;
    let mid = fc1.out_channels();
    let fc2 = conv(&pvb.pp("fc2"), mid, 1, Some(0), Groups::One)?;
    let out = fc2.out_channels();
    nodes.push(Node::new(
        "pre_logits.fc1",
        vec![Op::MinSizePool(MinSizePool { size: k }), Op::Conv(fc1)],
    ));
    nodes.push(Node::new("pre_logits.act1", vec![Op::Relu]));
    nodes.push(Node::new("pre_logits.drop", vec![Op::Dropout]));
    nodes.push(Node::new("pre_logits.fc2", vec![Op::Conv(fc2)]));
    nodes.push(Node::new("pre_logits.act2", vec![Op::Relu]));
    let aliases = vec![("pre_logits".to_owned(), nodes.len() - 1)];
    let (fc, num_classes) = linear(&vb.pp("head.fc"), out)?;
    nodes.push(Node::new("head.global_pool", vec![Op::GlobalAvgPool]));
    nodes.push(Node::new("head.fc", vec![Op::Flatten, Op::Linear(fc)]));
    Ok(Built {
        architecture: format!("{architecture} (timm)"),
        nodes,
        aliases,
        default_layer: last_relu,
        cam: Err(format!(
            "timm's VGG pools after its convolutional MLP (pre_logits.fc1 is a {k}×{k} \
             convolution over the last features, so at the model's input size pre_logits is \
             1×1): CAM's map would be that single pixel; use Grad-CAM, which works on \
             features.* and pre_logits"
        )),
        num_classes,
        preprocess: Preprocess::imagenet(),
    })
}

fn max_pool() -> Op {
    Op::MaxPool(MaxPool {
        kernel: 2,
        stride: 2,
        padding: 0,
        ceil: false,
    })
}
