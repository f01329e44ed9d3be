//! AlexNet (Krizhevsky et al. 2012), torchvision's layout: `features` (five convolutions with
//! ReLUs, three 3×3 stride-2 max-pools), a 6×6 adaptive average pool and a fully connected
//! `classifier` (dropout, 9216 → 4096 → 4096 → classes). No CAM: the head is fully connected.

use super::blocks::{Groups, conv, linear};
use super::{Architecture, Built, Node, Vb, Weights};
use crate::engine::error::Result;
use crate::engine::io::preprocess::Preprocess;
use crate::engine::ops::{AdaptiveAvgPool, MaxPool, Op};

pub const ARCHITECTURE: Architecture = Architecture {
    name: "AlexNet (torchvision)",
    keys: "features.0.weight (11×11), features.10.weight, classifier.6.weight",
    detect,
    build,
};

fn detect(w: &Weights) -> bool {
    matches!(w.shape("features.0.weight"), Some([_, 3, 11, 11]))
        && w.contains("classifier.6.weight")
}

/// torchvision's `features`: (index, kernel, stride, padding) of each convolution; a ReLU
/// follows each, max-pools sit at 2, 5 and 12.
const CONVS: [(usize, usize, usize); 5] = [(0, 4, 2), (3, 1, 2), (6, 1, 1), (8, 1, 1), (10, 1, 1)];
const POOLS: [usize; 3] = [2, 5, 12];

fn build(vb: &Vb) -> Result<Built> {
    let f = vb.pp("features");
    let mut nodes = Vec::new();
    let mut c = 3;
    for i in 0..=12 {
        if let Some(&(_, stride, pad)) = CONVS.iter().find(|(j, _, _)| *j == i) {
            let cv = conv(&f.pp(i), c, stride, Some(pad), Groups::One)?;
            c = cv.out_channels();
            nodes.push(Node::new(f.pp(i).prefix(), vec![Op::Conv(cv)]));
        } else if POOLS.contains(&i) {
            let pool = MaxPool {
                kernel: 3,
                stride: 2,
                padding: 0,
                ceil: false,
            };
            nodes.push(Node::new(f.pp(i).prefix(), vec![Op::MaxPool(pool)]));
        } else {
            nodes.push(Node::new(f.pp(i).prefix(), vec![Op::Relu]));
        }
    }
    let default_layer = nodes.len() - 1;
    nodes.push(Node::new(
        "avgpool",
        vec![Op::AdaptiveAvgPool(AdaptiveAvgPool { out_h: 6, out_w: 6 })],
    ));
    let cls = vb.pp("classifier");
    let (fc1, h1) = linear(&cls.pp(1), c * 36)?;
    let (fc2, h2) = linear(&cls.pp(4), h1)?;
    let (fc3, num_classes) = linear(&cls.pp(6), h2)?;
    nodes.push(Node::new(
        "classifier.1",
        vec![Op::Flatten, Op::Dropout, Op::Linear(fc1)],
    ));
    nodes.push(Node::new("classifier.2", vec![Op::Relu]));
    nodes.push(Node::new(
        "classifier.4",
        vec![Op::Dropout, Op::Linear(fc2)],
    ));
    nodes.push(Node::new("classifier.5", vec![Op::Relu]));
    nodes.push(Node::new("classifier.6", vec![Op::Linear(fc3)]));
    Ok(Built {
        architecture: "alexnet".into(),
        nodes,
        aliases: vec![("features".into(), default_layer)],
        default_layer,
        cam: Err(
            "AlexNet's head is fully connected (a 6×6 pool, then classifier.1 → classifier.6), so \
             the logit is not a weighted sum of channel means; use Grad-CAM"
                .into(),
        ),
        num_classes,
        preprocess: Preprocess::imagenet(),
    })
}
