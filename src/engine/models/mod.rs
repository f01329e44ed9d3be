//! Architectures. Each one is a file that turns checkpoint tensors into a chain of named
//! [`Node`]s, plus one line in [`ARCHITECTURES`]; [`Model`] runs any of them.
//!
//! How a file becomes a model: [`Weights`] reads the `.safetensors` file; the registry's
//! `detect` functions look at the tensor names, in order, and the first that recognises them
//! `build`s the network straight onto the target device through a [`Vb`].

mod alexnet;
mod blocks;
pub mod builtin;
mod convnext;
mod densenet;
mod efficientnet;
mod googlenet;
mod hf_resnet;
mod inception;
pub mod metadata;
mod mobilenet;
mod model;
mod regnet;
mod resnet;
mod resnetv2;
mod shufflenet;
mod squeezenet;
mod timm_efficientnet;
mod tv_efficientnet;
mod vgg;
pub mod weights;

use candle_core::Tensor;

use super::error::Result;
use super::io::preprocess::Preprocess;
use super::ops::Op;

pub use model::{Forward, LayerInfo, Model, PreprocessInfo};
pub use weights::{Vb, Weights};

/// A top-level step of a network whose output is addressable by `name`, exactly torchvision's
/// module path (`layer4.2`, `features.29`, `_blocks.15`).
pub struct Node {
    pub name: String,
    pub ops: Vec<Op>,
}

impl Node {
    pub fn new(name: impl Into<String>, ops: Vec<Op>) -> Self {
        Self {
            name: name.into(),
            ops,
        }
    }
}

/// A global-average-pool + linear head, which is what CAM needs.
pub struct CamHead {
    /// The node whose output is pooled.
    pub layer: usize,
    /// `(classes, K)`.
    pub weight: Tensor,
    /// `(classes,)`.
    pub bias: Tensor,
}

/// What an architecture builder hands back.
pub struct Built {
    pub architecture: String,
    pub nodes: Vec<Node>,
    /// Extra names for node outputs, e.g. `layer4` for `layer4.2`.
    pub aliases: Vec<(String, usize)>,
    pub default_layer: usize,
    /// The CAM head, or why the model has none.
    pub cam: std::result::Result<CamHead, String>,
    pub num_classes: usize,
    pub preprocess: Preprocess,
}

/// One architecture family the loader knows.
pub struct Architecture {
    pub name: &'static str,
    /// The tensor names that identify the family, for messages.
    pub keys: &'static str,
    /// Whether a checkpoint's tensor names look like this family.
    pub detect: fn(&Weights) -> bool,
    /// Builds the network from the checkpoint onto `vb`'s device.
    pub build: fn(&Vb) -> Result<Built>,
}

/// Every architecture, tried in order.
pub const ARCHITECTURES: &[Architecture] = &[
    resnet::ARCHITECTURE,
    resnetv2::ARCHITECTURE,
    densenet::ARCHITECTURE,
    mobilenet::V2,
    mobilenet::V3,
    tv_efficientnet::ARCHITECTURE,
    timm_efficientnet::ARCHITECTURE,
    regnet::ARCHITECTURE,
    regnet::TIMM,
    convnext::ARCHITECTURE,
    googlenet::ARCHITECTURE,
    inception::ARCHITECTURE,
    shufflenet::ARCHITECTURE,
    squeezenet::ARCHITECTURE,
    alexnet::ARCHITECTURE,
    // Last among the `features.N` layouts: it takes any `features.0.weight`.
    vgg::ARCHITECTURE,
    efficientnet::ARCHITECTURE,
    hf_resnet::ARCHITECTURE,
];
