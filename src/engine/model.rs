//! One surface for every architecture: a chain of named nodes whose outputs are the layers a
//! user can explain, a taped forward pass, and backward passes to any node or to the input.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use super::error::{Error, Result};
use super::ops::{Grad, Op, Saved};
use super::preprocess::Preprocess;
use super::weights::Weights;
use super::{efficientnet, resnet, vgg};

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

/// One explainable layer, for listings.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerInfo {
    pub name: String,
    /// `[C, H, W]` (or `[features]` for the head's flat outputs) for the model's input size.
    pub shape: Vec<usize>,
    pub default: bool,
    /// Set when this name is another name for the same tensor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias_of: Option<String>,
}

impl LayerInfo {
    /// The shape as `2048×7×7`.
    pub fn shape_text(&self) -> String {
        self.shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("×")
    }
}

/// A loaded network.
pub struct Model {
    pub architecture: String,
    pub path: PathBuf,
    nodes: Vec<Node>,
    aliases: Vec<(String, usize)>,
    default_layer: usize,
    cam: std::result::Result<CamHead, String>,
    num_classes: usize,
    parameter_count: usize,
    pub preprocess: Preprocess,
    device: Device,
}

/// Everything one forward pass leaves behind, so that any class and any layer can be explained
/// by a backward pass alone.
pub struct Forward {
    pub input: Tensor,
    /// Output of each node, in order.
    pub outputs: Vec<Tensor>,
    saved: Vec<Saved>,
    /// `(1, classes)`, before softmax.
    pub logits: Tensor,
}

impl Model {
    /// Loads a `.safetensors` checkpoint, inferring the architecture from its key names.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let weights = Weights::load(path)?;
        Self::from_weights(&weights, device)
    }

    pub fn from_weights(weights: &Weights, device: &Device) -> Result<Self> {
        let built = if weights.contains("conv1.weight") && weights.contains("layer1.0.conv1.weight")
        {
            resnet::build(weights)?
        } else if weights.contains("features.0.weight") {
            vgg::build(weights)?
        } else if weights.contains("_conv_stem.weight") {
            efficientnet::build(weights)?
        } else {
            let names = weights.names();
            let shown: Vec<&str> = names.iter().take(8).copied().collect();
            return Err(Error::UnknownLayout {
                path: weights.path().to_owned(),
                reason: format!(
                    "expected torchvision ResNet keys (conv1.weight, layer1.0.conv1.weight, fc.weight), \
                     VGG keys (features.0.weight, classifier.0.weight or fc.weight) or EfficientNet-Lite \
                     keys (_conv_stem.weight, _blocks.0.…, _fc.weight); found {} tensors: {}{}",
                    names.len(),
                    shown.join(", "),
                    if names.len() > shown.len() {
                        ", …"
                    } else {
                        ""
                    }
                ),
            });
        };
        let mut model = Self {
            architecture: built.architecture,
            path: weights.path().to_owned(),
            nodes: built.nodes,
            aliases: built.aliases,
            default_layer: built.default_layer,
            cam: built.cam,
            num_classes: built.num_classes,
            parameter_count: weights.parameter_count(),
            preprocess: built.preprocess,
            device: Device::Cpu,
        };
        if !device.is_cpu() {
            model.move_to(device)?;
        }
        Ok(model)
    }

    fn move_to(&mut self, device: &Device) -> Result<()> {
        // Weights are built on the CPU; moving happens once, at load.
        fn move_ops(ops: &mut [Op], device: &Device) -> Result<()> {
            for op in ops {
                op.move_to(device)?;
            }
            Ok(())
        }
        for node in &mut self.nodes {
            move_ops(&mut node.ops, device)?;
        }
        if let Ok(cam) = &mut self.cam {
            cam.weight = cam.weight.to_device(device)?;
            cam.bias = cam.bias.to_device(device)?;
        }
        self.device = device.clone();
        Ok(())
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    pub fn parameter_count(&self) -> usize {
        self.parameter_count
    }

    /// The default layer's name: the stage name where one exists (`layer4`, not `layer4.2`).
    pub fn default_layer(&self) -> &str {
        self.display_name(self.default_layer)
    }

    /// A node's preferred name: its first alias (a stage), else its module path.
    pub fn display_name(&self, index: usize) -> &str {
        self.aliases
            .iter()
            .find(|(_, i)| *i == index)
            .map_or(&self.nodes[index].name, |(a, _)| a)
    }

    /// The CAM head, or the reason this model has none.
    pub fn cam_head(&self) -> std::result::Result<&CamHead, &str> {
        self.cam.as_ref().map_err(String::as_str)
    }

    /// The node index of a layer name or alias.
    pub fn layer_index(&self, name: &str) -> Result<usize> {
        if let Some(i) = self.nodes.iter().position(|n| n.name == name) {
            return Ok(i);
        }
        if let Some((_, i)) = self.aliases.iter().find(|(a, _)| a == name) {
            return Ok(*i);
        }
        Err(Error::UnknownLayer {
            name: name.to_owned(),
            available: self.layer_names().join(", "),
        })
    }

    /// The canonical node name of a layer index.
    pub fn layer_name(&self, index: usize) -> &str {
        &self.nodes[index].name
    }

    /// Every layer name (nodes and aliases), in network order.
    pub fn layer_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            names.extend(
                self.aliases
                    .iter()
                    .filter(|(_, j)| *j == i)
                    .map(|(a, _)| a.clone()),
            );
            names.push(n.name.clone());
        }
        names
    }

    /// Every layer with its output shape for the model's own input size.
    pub fn layers(&self) -> Result<Vec<LayerInfo>> {
        let (h, w) = self.preprocess.input_size();
        let x = Tensor::zeros((1, 3, h, w), DType::F32, &self.device)?;
        self.layers_for(&x)
    }

    /// Every layer with its output shape for an input like `x`.
    pub fn layers_for(&self, x: &Tensor) -> Result<Vec<LayerInfo>> {
        let fwd = self.forward_untaped(x)?;
        let mut out = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let shape = fwd[i].dims()[1..].to_vec();
            for (alias, _) in self.aliases.iter().filter(|(_, j)| *j == i) {
                out.push(LayerInfo {
                    name: alias.clone(),
                    shape: shape.clone(),
                    default: i == self.default_layer,
                    alias_of: Some(n.name.clone()),
                });
            }
            out.push(LayerInfo {
                name: n.name.clone(),
                shape,
                default: i == self.default_layer,
                alias_of: None,
            });
        }
        Ok(out)
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        match x.dims() {
            [1, 3, h, w] if *h > 0 && *w > 0 => Ok(()),
            d => Err(Error::BadInput(format!(
                "expected shape (1, 3, H, W), found {d:?}"
            ))),
        }
    }

    fn forward_untaped(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        self.check_input(x)?;
        let mut outs = Vec::with_capacity(self.nodes.len());
        let mut x = x.to_device(&self.device)?;
        for n in &self.nodes {
            x = super::ops::forward_seq(&n.ops, &x, false)?.0;
            outs.push(x.clone());
        }
        Ok(outs)
    }

    /// Runs the whole network once, keeping what any later backward pass needs.
    pub fn forward(&self, input: &Tensor) -> Result<Forward> {
        self.check_input(input)?;
        let input = input.to_device(&self.device)?;
        let mut outputs = Vec::with_capacity(self.nodes.len());
        let mut saved = Vec::with_capacity(self.nodes.len());
        let mut x = input.clone();
        for n in &self.nodes {
            let (y, s) = super::ops::forward_seq(&n.ops, &x, true)?;
            outputs.push(y.clone());
            saved.push(Saved::Seq(s));
            x = y;
        }
        let logits = x;
        if logits.dims() != [1, self.num_classes] {
            return Err(Error::BadInput(format!(
                "this input gives logits of shape {:?}; the classifier expects {} features — \
                 is the input size right for this model?",
                logits.dims(),
                self.num_classes
            )));
        }
        Ok(Forward {
            input,
            outputs,
            saved,
            logits,
        })
    }

    pub fn check_class(&self, class: usize) -> Result<()> {
        if class >= self.num_classes {
            return Err(Error::ClassOutOfRange {
                class,
                num_classes: self.num_classes,
            });
        }
        Ok(())
    }

    /// `∂y^c / ∂(output of node layer)`, or `∂y^c / ∂input` for `None`, walking back only
    /// through the nodes after that point.
    pub fn gradient(
        &self,
        fwd: &Forward,
        layer: Option<usize>,
        class: usize,
        mode: Grad,
    ) -> Result<Tensor> {
        self.check_class(class)?;
        let mut onehot = vec![0f32; self.num_classes];
        onehot[class] = 1.0;
        let mut g = Tensor::from_vec(onehot, (1, self.num_classes), &self.device)?;
        let stop = layer.map_or(0, |l| l + 1);
        for i in (stop..self.nodes.len()).rev() {
            let n = &self.nodes[i];
            g = match &fwd.saved[i] {
                Saved::Seq(s) => super::ops::backward_seq(&n.ops, s, &g, mode)?,
                _ => unreachable!("forward() saves one Seq per node"),
            };
        }
        Ok(g)
    }
}

impl Op {
    fn move_to(&mut self, device: &Device) -> Result<()> {
        match self {
            Op::Conv(c) => c.move_to(device)?,
            Op::BatchNorm(bn) => {
                bn.scale = bn.scale.to_device(device)?;
                bn.shift = bn.shift.to_device(device)?;
            }
            Op::Linear(l) => {
                l.weight = l.weight.to_device(device)?;
                l.bias = l.bias.to_device(device)?;
            }
            Op::Seq(ops) => {
                for op in ops {
                    op.move_to(device)?;
                }
            }
            Op::Residual { main, shortcut, .. } => {
                for op in main.iter_mut().chain(shortcut.iter_mut()) {
                    op.move_to(device)?;
                }
            }
            Op::SamePad { .. }
            | Op::Relu
            | Op::Relu6
            | Op::MaxPool(_)
            | Op::AdaptiveAvgPool(_)
            | Op::GlobalAvgPool
            | Op::Flatten
            | Op::Dropout => {}
        }
        Ok(())
    }
}
