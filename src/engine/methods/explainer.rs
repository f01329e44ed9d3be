//! The [`Explainer`]: one forward pass, a cache of backward passes, and `explain`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use candle_core::Tensor;

use super::{Explanation, Method, Options, Prediction, Raw, Target};
use crate::engine::error::{Error, Result};
use crate::engine::io::npy::Array;
use crate::engine::maps::Map;
use crate::engine::models::{Forward, Model};
use crate::engine::ops::Grad;

/// A backward pass: to the output of a node (or the input for `None`), for a class, in a mode.
type GradKey = (Option<usize>, usize, Grad);

/// A model borrowed for a while, or shared for as long as an [`Explainer`] lives.
enum ModelRef<'m> {
    Borrowed(&'m Model),
    Shared(Arc<Model>),
}

impl std::ops::Deref for ModelRef<'_> {
    type Target = Model;
    fn deref(&self) -> &Model {
        match self {
            ModelRef::Borrowed(m) => m,
            ModelRef::Shared(m) => m,
        }
    }
}

/// A model and one input, explained any number of ways from a single forward pass.
pub struct Explainer<'m> {
    model: ModelRef<'m>,
    forward: Forward,
    /// Backward passes already run, by (layer, class, mode).
    grads: Mutex<HashMap<GradKey, Tensor>>,
}

impl<'m> Explainer<'m> {
    /// Runs the forward pass once.
    pub fn new(model: &'m Model, input: &Tensor) -> Result<Self> {
        Ok(Self {
            forward: model.forward(input)?,
            model: ModelRef::Borrowed(model),
            grads: Mutex::new(HashMap::new()),
        })
    }

    /// Like [`Self::new`], keeping the model alive (for long-lived caches, e.g. the app's
    /// worker).
    pub fn new_shared(model: Arc<Model>, input: &Tensor) -> Result<Explainer<'static>> {
        Ok(Explainer {
            forward: model.forward(input)?,
            model: ModelRef::Shared(model),
            grads: Mutex::new(HashMap::new()),
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn forward(&self) -> &Forward {
        &self.forward
    }

    /// `(height, width)` of the model input.
    pub fn input_size(&self) -> (usize, usize) {
        let d = self.forward.input.dims();
        (d[2], d[3])
    }

    /// What makes this forward pass's numbers untrustworthy: a non-finite input or non-finite
    /// logits (NaN or infinite weights). Empty when all is well.
    pub fn warnings(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let finite = |t: &Tensor| -> Result<bool> {
            Ok(t.flatten_all()?
                .to_vec1::<f32>()?
                .iter()
                .all(|v| v.is_finite()))
        };
        if !finite(&self.forward.input)? {
            out.push("the input contains NaN or infinite values".to_owned());
        }
        let bad = self.logits()?.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            out.push(format!(
                "{bad} of {} logits are NaN or infinite (non-finite weights or input): they \
                 are ranked last and their maps are meaningless",
                self.model.num_classes()
            ));
        }
        Ok(out)
    }

    pub fn logits(&self) -> Result<Vec<f32>> {
        Ok(self.forward.logits.flatten_all()?.to_vec1::<f32>()?)
    }

    /// Every class's logit and softmax probability, most probable first.
    pub fn predictions(&self) -> Result<Vec<Prediction>> {
        let logits = self.logits()?;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let exp: Vec<f64> = logits.iter().map(|&l| (l as f64 - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        let mut p: Vec<Prediction> = logits
            .iter()
            .zip(&exp)
            .enumerate()
            .map(|(class, (&logit, &e))| Prediction {
                class,
                logit,
                probability: (e / sum) as f32,
            })
            .collect();
        // Largest logit first; a NaN logit (from NaN weights or inputs) last, never top-1.
        p.sort_by(|a, b| {
            (a.logit.is_nan(), -a.logit)
                .partial_cmp(&(b.logit.is_nan(), -b.logit))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.class.cmp(&b.class))
        });
        Ok(p)
    }

    pub fn top_k(&self, k: usize) -> Result<Vec<Prediction>> {
        let mut p = self.predictions()?;
        p.truncate(k);
        Ok(p)
    }

    /// `∂y^c / ∂(output of node layer)` (`∂y^c / ∂input` for `None`), run once and cached.
    pub fn gradient(&self, layer: Option<usize>, class: usize, mode: Grad) -> Result<Tensor> {
        let key = (layer, class, mode);
        if let Some(g) = self.grads.lock().map_err(|_| Error::Poisoned)?.get(&key) {
            return Ok(g.clone());
        }
        let g = self.model.gradient(&self.forward, layer, class, mode)?;
        self.grads
            .lock()
            .map_err(|_| Error::Poisoned)?
            .insert(key, g.clone());
        Ok(g)
    }

    /// The target layer's activations `A` `(K, h, w)` and the class score's gradient there
    /// `G = ∂y^c/∂A`, what most of the CAM family starts from.
    pub fn activations_and_gradient(&self, target: &Target<'_>) -> Result<(Tensor, Tensor)> {
        let a = self.activations(target.layer()?)?;
        let g = self
            .gradient(target.layer, target.class, Grad::Plain)?
            .squeeze(0)?;
        Ok((a, g))
    }

    /// The spatial activations `(K, H, W)` at node `layer`.
    pub fn activations(&self, layer: usize) -> Result<Tensor> {
        let a = &self.forward.outputs[layer];
        if a.rank() != 4 {
            return Err(Error::MethodNotApplicable {
                method: format!("explaining layer {}", self.model.display_name(layer)),
                reason: format!(
                    "its output has shape {:?}, not feature maps; pick a convolutional layer \
                     such as {}",
                    &a.dims()[1..],
                    self.model.default_layer()
                ),
            });
        }
        Ok(a.squeeze(0)?)
    }

    /// Runs `method` for `class` at `layer` (the model's default when `None`).
    pub fn explain(
        &self,
        method: Method,
        layer: Option<&str>,
        class: usize,
    ) -> Result<Explanation> {
        self.explain_with(method, layer, class, &Options::default())
    }

    /// One method at one layer.
    pub(super) fn explain_one(
        &self,
        method: Method,
        layer: Option<&str>,
        class: usize,
        options: &Options,
    ) -> Result<Explanation> {
        let technique = method.technique();
        let target = if technique.uses_layer() {
            // CAM without a layer means the layer its head pools (SqueezeNet's class maps are
            // not its default layer).
            let cam_layer = match (method, self.model.cam_head()) {
                (Method::Cam, Ok(head)) => Some(self.model.display_name(head.layer)),
                _ => None,
            };
            let name = layer
                .or(cam_layer)
                .unwrap_or(self.model.default_layer())
                .to_owned();
            let idx = self.model.layer_index(&name)?;
            let shape = self.activations(idx)?.dims().to_vec();
            Target {
                layer: Some(idx),
                layer_name: name,
                layer_shape: shape,
                class,
                options,
            }
        } else {
            let (h, w) = self.input_size();
            Target {
                layer: None,
                layer_name: "input".into(),
                layer_shape: vec![3, h, w],
                class,
                options,
            }
        };
        let (ih, iw) = self.input_size();
        let (raw, map, localization) = match technique.compute(self, &target)? {
            Raw::LayerMap(raw) => {
                let map = raw.displayed(technique.relu(), iw, ih);
                let raw = Array::new(vec![raw.height, raw.width], raw.data);
                (raw, map.clone(), map)
            }
            Raw::InputGradient {
                gradient,
                localization,
            } => {
                let map = gradient_map(&gradient);
                (gradient, map, localization)
            }
        };
        Ok(Explanation {
            method,
            layer: target.layer_name,
            layer_shape: target.layer_shape,
            class,
            raw,
            map,
            localization,
        })
    }
}

/// A `3 × H × W` input-gradient as one `H × W` map: the largest magnitude over the colour
/// channels (Simonyan et al. 2014), min–max normalized.
pub(super) fn gradient_map(raw: &Array) -> Map {
    super::explanation::channel_max_abs(raw).normalized()
}
