//! One surface for every architecture: a chain of named nodes whose outputs are the layers a
//! user can explain, a taped forward pass, backward passes to any node or to the input, and an
//! untaped batched pass from any node to the logits.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use super::metadata::Metadata;
use super::{ARCHITECTURES, CamHead, Node, Weights};
use crate::engine::error::{Error, Result};
use crate::engine::io::preprocess::Preprocess;
use crate::engine::ops::{Grad, Op, Saved, backward_seq, forward_seq, on_pool};

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

/// A model's preprocessing and its provenance (`camscope layers --json`, `explain --json`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct PreprocessInfo {
    #[serde(flatten)]
    pub preprocess: Preprocess,
    /// [`Preprocess::describe`].
    pub summary: String,
    /// `config.json (timm)`, `… defaults`, or the command-line overrides.
    pub source: String,
    /// The metadata files read next to the checkpoint.
    pub metadata: Vec<String>,
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
    /// Where `preprocess` comes from, for people.
    pub preprocess_source: String,
    metadata: Metadata,
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

    /// Builds the network the registry recognises in `weights`, straight onto `device`.
    pub fn from_weights(weights: &Weights, device: &Device) -> Result<Self> {
        let Some(arch) = ARCHITECTURES.iter().find(|a| (a.detect)(weights)) else {
            let names = weights.names();
            let shown: Vec<&str> = names.iter().take(8).copied().collect();
            let expected: Vec<String> = ARCHITECTURES
                .iter()
                .map(|a| format!("{} keys ({})", a.name, a.keys))
                .collect();
            return Err(Error::UnknownLayout {
                path: weights.path().to_owned(),
                reason: format!(
                    "expected {}; found {} tensors: {}{}",
                    expected.join(", or "),
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
        let built = (arch.build)(&weights.root(device))?;
        weights.check_all_used(&built.architecture)?;
        if built.num_classes == 0 {
            return Err(Error::UnknownLayout {
                path: weights.path().to_owned(),
                reason: format!(
                    "the classifier has no classes ({} read as {})",
                    arch.name, built.architecture
                ),
            });
        }
        let metadata = weights.metadata().clone();
        metadata.check_classes(built.num_classes)?;
        let preprocess = metadata.preprocess.apply(built.preprocess);
        let preprocess_source = match metadata.describe() {
            Some(files) if !metadata.preprocess.is_empty() => files,
            _ => format!("{} defaults", built.architecture),
        };
        Ok(Self {
            architecture: built.architecture,
            path: weights.path().to_owned(),
            nodes: built.nodes,
            aliases: built.aliases,
            default_layer: built.default_layer,
            cam: built.cam,
            num_classes: built.num_classes,
            parameter_count: weights.parameter_count(),
            preprocess,
            preprocess_source,
            metadata,
            device: device.clone(),
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// What was read next to the weights (empty for the built-in model and bare files).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Class names from the checkpoint's metadata, when it names its classes.
    pub fn class_names(&self) -> Option<&[String]> {
        self.metadata.labels.as_deref()
    }

    /// The preprocessing with where it comes from, as the JSON outputs carry it.
    pub fn preprocess_info(&self) -> PreprocessInfo {
        PreprocessInfo {
            preprocess: self.preprocess,
            summary: self.preprocess.describe(),
            source: self.preprocess_source.clone(),
            metadata: self
                .metadata
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect(),
        }
    }

    /// Overrides the preprocessing (the CLI's `--mean/--std/--size/--crop-pct`), noting it.
    pub fn set_preprocess(&mut self, preprocess: Preprocess, source: String) {
        self.preprocess = preprocess;
        self.preprocess_source = source;
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
            x = forward_seq(&n.ops, &x, false)
                .map_err(|e| e.in_layer(&n.name))?
                .0;
            outs.push(x.clone());
        }
        Ok(outs)
    }

    /// Runs the whole network once, keeping what any later backward pass needs.
    pub fn forward(&self, input: &Tensor) -> Result<Forward> {
        on_pool(|| {
            self.check_input(input)?;
            let input = input.to_device(&self.device)?;
            let mut outputs = Vec::with_capacity(self.nodes.len());
            let mut saved = Vec::with_capacity(self.nodes.len());
            let mut x = input.clone();
            for n in &self.nodes {
                let (y, s) = forward_seq(&n.ops, &x, true).map_err(|e| e.in_layer(&n.name))?;
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
        })
    }

    /// The logits `(N, classes)` for `N` activations `x` of node `layer` at once (for `None`,
    /// `N` model inputs `(N, 3, H, W)`), running only the nodes after it and recording nothing.
    /// The perturbation methods (Score-CAM, Ablation-CAM) and the faithfulness metrics push
    /// their masked inputs and activations through here.
    pub fn logits_from(&self, layer: Option<usize>, x: &Tensor) -> Result<Tensor> {
        self.logits_from_checked(layer, x, &|| Ok(()))
    }

    /// [`Self::logits_from`], calling `check` before every node: its error stops the pass (a
    /// long batch can be cancelled between layers).
    pub fn logits_from_checked(
        &self,
        layer: Option<usize>,
        x: &Tensor,
        check: &dyn Fn() -> Result<()>,
    ) -> Result<Tensor> {
        let start = match layer {
            Some(l) if l >= self.nodes.len() => {
                return Err(Error::BadInput(format!(
                    "layer index {l} is past the last of {} nodes",
                    self.nodes.len()
                )));
            }
            Some(l) => l + 1,
            None => {
                match x.dims() {
                    [n, 3, h, w] if *n > 0 && *h > 0 && *w > 0 => {}
                    d => {
                        return Err(Error::BadInput(format!(
                            "expected shape (N, 3, H, W), found {d:?}"
                        )));
                    }
                }
                0
            }
        };
        let mut x = x.to_device(&self.device)?;
        let nodes = &self.nodes[start..];
        let mut i = 0;
        while i < nodes.len() {
            check()?;
            // A node ending in a convolution and a node that is only its ReLU (VGG's layout)
            // run as one convolution with the ReLU as its epilogue: nothing is recorded here.
            if let (Some((Op::Conv(c), head)), Some(six)) = (
                nodes[i].ops.split_last(),
                nodes.get(i + 1).and_then(|n| match n.ops.as_slice() {
                    [act] => act.clamp_six(),
                    _ => None,
                }),
            ) {
                let (y, fused) = on_pool(|| -> Result<_> {
                    let y = forward_seq(head, &x, false)?.0;
                    Ok(match c.forward_clamped(&y, six)? {
                        Some(z) => (z, true),
                        None => (c.forward(&y)?, false),
                    })
                })
                .map_err(|e| e.in_layer(&nodes[i].name))?;
                x = y;
                i += 1 + usize::from(fused);
                continue;
            }
            x = on_pool(|| forward_seq(&nodes[i].ops, &x, false))
                .map_err(|e| e.in_layer(&nodes[i].name))?
                .0;
            i += 1;
        }
        match x.dims() {
            [_, c] if *c == self.num_classes => Ok(x),
            d => Err(Error::BadInput(format!(
                "these activations give logits of shape {d:?}; the classifier expects {} \
                 classes — is the input size right for this model?",
                self.num_classes
            ))),
        }
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
        on_pool(|| {
            let mut onehot = vec![0f32; self.num_classes];
            onehot[class] = 1.0;
            let mut g = Tensor::from_vec(onehot, (1, self.num_classes), &self.device)?;
            let stop = layer.map_or(0, |l| l + 1);
            for i in (stop..self.nodes.len()).rev() {
                let n = &self.nodes[i];
                g = match &fwd.saved[i] {
                    Saved::Seq(s) => backward_seq(&n.ops, s, &g, mode)?,
                    _ => return Err(Error::NoTape),
                };
            }
            Ok(g)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::models::builtin;

    /// The batched pass from a layer gives, for each item, the logits of the taped forward pass.
    #[test]
    fn batched_logits_from_a_layer_match_single_forward_passes() -> Result<()> {
        let model = builtin::model(&Device::Cpu)?;
        let layer = model.layer_index("_blocks.10")?;
        let mut acts = Vec::new();
        let mut want = Vec::new();
        for seed in 0..3 {
            let x = Tensor::randn(0f32, 1f32 + seed as f32, (1, 3, 224, 224), &Device::Cpu)?;
            let f = model.forward(&x)?;
            acts.push(f.outputs[layer].clone());
            want.push(f.logits.clone());
        }
        let got = model.logits_from(Some(layer), &Tensor::cat(&acts, 0)?)?;
        let want = Tensor::cat(&want, 0)?;
        assert_eq!(got.dims(), [3, 1000]);
        let d = (got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        let scale = want.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(d <= 1e-4 * scale, "max difference {d} (scale {scale})");
        Ok(())
    }
}
