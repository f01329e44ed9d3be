//! SqueezeNet 1.0 and 1.1 (Iandola et al. 2016), torchvision's layout.
//!
//! `features`: a stride-2 convolution (7×7 and 96 wide in 1.0, 3×3 and 64 wide in 1.1, no
//! padding) with its ReLU, 3×3 stride-2 max-pools in ceil mode, and Fire modules (`squeeze`
//! 1×1 + ReLU, then `expand1x1` and `expand3x3` with their ReLUs, concatenated). The classifier
//! is a 1×1 convolution to the classes (`classifier.1`), a ReLU and a global average pool.
//!
//! Its CAM: the classifier's output after that ReLU holds one map per class, and the logit is
//! that map's mean — the map itself is the CAM, `mean(M^c) = y^c` (a CAM head with identity
//! weights and zero biases at `classifier.2`).

use candle_core::{DType, Tensor};

use super::blocks::{Groups, conv};
use super::{Architecture, Built, CamHead, Node, Vb, Weights};
use crate::engine::error::Result;
use crate::engine::io::preprocess::Preprocess;
use crate::engine::ops::{MaxPool, Op};

pub const ARCHITECTURE: Architecture = Architecture {
    name: "SqueezeNet (torchvision)",
    keys: "features.0.weight, features.3.squeeze.weight, classifier.1.weight",
    detect,
    build,
};

fn detect(w: &Weights) -> bool {
    w.contains("features.3.squeeze.weight") && w.contains("classifier.1.weight")
}

fn build(vb: &Vb) -> Result<Built> {
    let f = vb.pp("features");
    let stem = conv(&f.pp(0), 3, 2, Some(0), Groups::One)?;
    let v1_0 = stem.kernel_size() == 7;
    let pools: &[usize] = if v1_0 { &[2, 6, 11] } else { &[2, 5, 8] };
    let mut c = stem.out_channels();
    let mut nodes = vec![
        Node::new("features.0", vec![Op::Conv(stem)]),
        Node::new("features.1", vec![Op::Relu]),
    ];
    for i in 2..=12 {
        let name = f.pp(i).prefix().to_owned();
        if pools.contains(&i) {
            let pool = MaxPool {
                kernel: 3,
                stride: 2,
                padding: 0,
                ceil: true,
            };
            nodes.push(Node::new(name, vec![Op::MaxPool(pool)]));
            continue;
        }
        let fire = f.pp(i);
        let squeeze = conv(&fire.pp("squeeze"), c, 1, Some(0), Groups::One)?;
        let s = squeeze.out_channels();
        let e1 = conv(&fire.pp("expand1x1"), s, 1, Some(0), Groups::One)?;
        let e3 = conv(&fire.pp("expand3x3"), s, 1, Some(1), Groups::One)?;
        c = e1.out_channels() + e3.out_channels();
        nodes.push(Node::new(
            name,
            vec![
                Op::Conv(squeeze),
                Op::Relu,
                Op::Concat(vec![
                    vec![Op::Conv(e1), Op::Relu],
                    vec![Op::Conv(e3), Op::Relu],
                ]),
            ],
        ));
    }
    let default_layer = nodes.len() - 1;
    let final_conv = conv(&vb.pp("classifier.1"), c, 1, Some(0), Groups::One)?;
    let num_classes = final_conv.out_channels();
    nodes.push(Node::new(
        "classifier.1",
        vec![Op::Dropout, Op::Conv(final_conv)],
    ));
    nodes.push(Node::new("classifier.2", vec![Op::Relu]));
    let maps = nodes.len() - 1;
    nodes.push(Node::new(
        "classifier.3",
        vec![Op::GlobalAvgPool, Op::Flatten],
    ));
    let device = vb.device();
    let cam = CamHead {
        layer: maps,
        weight: Tensor::eye(num_classes, DType::F32, device)?,
        bias: Tensor::zeros(num_classes, DType::F32, device)?,
    };
    Ok(Built {
        architecture: if v1_0 {
            "squeezenet1_0"
        } else {
            "squeezenet1_1"
        }
        .into(),
        nodes,
        aliases: vec![("features".into(), default_layer)],
        default_layer,
        cam: Ok(cam),
        num_classes,
        preprocess: Preprocess::imagenet(),
    })
}
