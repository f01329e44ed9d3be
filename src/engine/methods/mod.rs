//! Explanation methods over one cached forward pass.
//!
//! Following pytorch-grad-cam's `BaseCAM`: the [`Explainer`] holds the forward pass and the
//! backward passes already run; each method is a small file implementing [`Technique`]. Most
//! methods only supply channel weights for `Σ_k w_k A^k`; others supply their own map. A method
//! declares what it [`Produces`]: a map at a chosen layer, or a gradient at the input.
//!
//! Conventions (docs/methods.md): the score is the class logit before softmax; every method
//! yields a *raw* array (layer resolution, before any ReLU / upsampling / normalization; for
//! input gradients the `3 × H × W` array) and a *final* `H × W` map at model-input resolution
//! in [0, 1].

mod cam;
mod gradcam;
mod guided_backprop;
mod guided_gradcam;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use candle_core::Tensor;

use super::error::{Error, Result};
use super::maps::Map;
use super::models::{Forward, Model};
use super::npy::Array;
use super::ops::Grad;

/// An explanation method: the name scripts and saved preferences use. Its behaviour lives in
/// the [`Technique`] that [`Method::technique`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    Cam,
    #[serde(rename = "gradcam")]
    GradCam,
    GuidedBackprop,
    #[serde(rename = "guided-gradcam")]
    GuidedGradCam,
}

impl Method {
    pub const ALL: [Method; 4] = [
        Method::Cam,
        Method::GradCam,
        Method::GuidedBackprop,
        Method::GuidedGradCam,
    ];

    /// The registry: what each method computes.
    pub fn technique(self) -> &'static dyn Technique {
        match self {
            Method::Cam => &cam::Cam,
            Method::GradCam => &gradcam::GradCam,
            Method::GuidedBackprop => &guided_backprop::GuidedBackprop,
            Method::GuidedGradCam => &guided_gradcam::GuidedGradCam,
        }
    }

    /// The CLI name.
    pub fn name(self) -> &'static str {
        self.technique().name()
    }

    /// A display title.
    pub fn title(self) -> &'static str {
        self.technique().title()
    }

    /// One line for tooltips and help.
    pub fn description(self) -> &'static str {
        self.technique().description()
    }

    pub fn produces(self) -> Produces {
        self.technique().produces()
    }

    /// Whether the method explains a chosen layer (guided backprop explains the input).
    pub fn uses_layer(self) -> bool {
        self.technique().uses_layer()
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown method {s:?}; expected one of: {}",
                    Method::ALL.map(Method::name).join(", ")
                )
            })
    }
}

/// What a method's raw result is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Produces {
    /// An `h × w` map at the chosen layer's resolution.
    LayerMap,
    /// A `3 × H × W` gradient at the model input.
    InputGradient,
}

/// What a method computed, before the display conventions are applied.
pub enum Raw {
    /// At the layer's resolution, before ReLU.
    LayerMap(Map),
    /// At the input: the gradient, and the `H × W` map in [0, 1] that boxes are taken from.
    InputGradient { gradient: Array, localization: Map },
}

/// What is being explained: a class, at a layer (its node index, name and `[K, h, w]`), or at
/// the input for methods that use no layer.
pub struct Target {
    pub layer: Option<usize>,
    pub layer_name: String,
    pub layer_shape: Vec<usize>,
    pub class: usize,
}

impl Target {
    fn layer(&self) -> Result<usize> {
        self.layer.ok_or_else(|| Error::MethodNotApplicable {
            method: "this method".into(),
            reason: "it needs a layer".into(),
        })
    }
}

/// One explanation method (pytorch-grad-cam's `BaseCAM` subclasses).
pub trait Technique: Sync {
    fn name(&self) -> &'static str;
    fn title(&self) -> &'static str;
    fn description(&self) -> &'static str;

    fn produces(&self) -> Produces {
        Produces::LayerMap
    }

    /// Whether the method explains a chosen layer.
    fn uses_layer(&self) -> bool {
        true
    }

    /// Whether the final map keeps only positive evidence (ReLU before normalization).
    fn relu(&self) -> bool {
        true
    }

    /// Channel weights `w_k`, shape `(K,)`, for `Σ_k w_k A^k` (`get_cam_weights`).
    fn channel_weights(&self, cx: &Explainer<'_>, target: &Target) -> Result<Tensor> {
        let _ = (cx, target);
        Err(Error::MethodNotApplicable {
            method: self.title().into(),
            reason: "it supplies its own map, not channel weights".into(),
        })
    }

    /// The raw result; by default `Σ_k w_k A^k` with [`Self::channel_weights`].
    fn compute(&self, cx: &Explainer<'_>, target: &Target) -> Result<Raw> {
        Ok(Raw::LayerMap(weighted_map(self, cx, target)?))
    }
}

/// `Σ_k w_k A^k` at the target layer with `technique`'s channel weights.
pub fn weighted_map(
    technique: &(impl Technique + ?Sized),
    cx: &Explainer<'_>,
    target: &Target,
) -> Result<Map> {
    let a = cx.activations(target.layer()?)?;
    let w = technique.channel_weights(cx, target)?;
    weighted_sum(&a, &w)
}

/// `Σ_k weights_k A^k` as an `h × w` map, for activations `(K, h, w)`.
pub fn weighted_sum(a: &Tensor, weights: &Tensor) -> Result<Map> {
    let (k, h, w) = a.dims3()?;
    let m = weights
        .reshape((1, k))?
        .matmul(&a.reshape((k, h * w))?)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok(Map::new(w, h, m))
}

/// One class's score and probability.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Prediction {
    pub class: usize,
    pub logit: f32,
    pub probability: f32,
}

/// The result of one method for one class at one layer.
#[derive(Clone, Debug)]
pub struct Explanation {
    pub method: Method,
    /// The explained layer's name as asked for (`input` for guided backprop).
    pub layer: String,
    /// `[K, H, W]` of the explained layer (`[3, H, W]` for guided backprop).
    pub layer_shape: Vec<usize>,
    pub class: usize,
    /// Before any ReLU, upsampling or normalization: `[H, W]` at the layer's resolution for
    /// layer maps, `[3, H, W]` at input resolution for input gradients.
    pub raw: Array,
    /// At model-input resolution, in [0, 1].
    pub map: Map,
    /// The map boxes are taken from, at model-input resolution in [0, 1]: `map` for layer maps;
    /// what the input-gradient method says otherwise (docs/methods.md).
    pub localization: Map,
}

impl Explanation {
    /// The map with its sign kept, at input resolution, scaled so that 0.5 is zero and 0 / 1
    /// are ∓ the largest magnitude: for diverging colormaps. Layer maps use the raw map (before
    /// ReLU); input gradients sum the colour channels.
    pub fn signed_map(&self) -> Map {
        let (w, h) = (self.map.width, self.map.height);
        let m = match self.method.produces() {
            Produces::InputGradient => {
                let plane = w * h;
                Map::new(
                    w,
                    h,
                    (0..plane)
                        .map(|i| (0..3).map(|c| self.raw.data[c * plane + i]).sum())
                        .collect(),
                )
            }
            Produces::LayerMap => {
                Map::new(self.raw.shape[1], self.raw.shape[0], self.raw.data.clone()).resized(w, h)
            }
        };
        let scale = m.data.iter().fold(0f32, |a, v| a.max(v.abs()));
        let data = m
            .data
            .iter()
            .map(|v| {
                if scale > 0.0 {
                    0.5 + 0.5 * v / scale
                } else {
                    0.5
                }
            })
            .collect();
        Map::new(w, h, data)
    }
}

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
        p.sort_by(|a, b| b.logit.total_cmp(&a.logit).then(a.class.cmp(&b.class)));
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
        self.model.check_class(class)?;
        let technique = method.technique();
        let target = if technique.uses_layer() {
            let name = layer.unwrap_or(self.model.default_layer()).to_owned();
            let idx = self.model.layer_index(&name)?;
            let shape = self.activations(idx)?.dims().to_vec();
            Target {
                layer: Some(idx),
                layer_name: name,
                layer_shape: shape,
                class,
            }
        } else {
            let (h, w) = self.input_size();
            Target {
                layer: None,
                layer_name: "input".into(),
                layer_shape: vec![3, h, w],
                class,
            }
        };
        let (ih, iw) = self.input_size();
        let (raw, map, localization) = match technique.compute(self, &target)? {
            Raw::LayerMap(raw) => {
                let shown = if technique.relu() {
                    raw.clone().relu()
                } else {
                    raw.clone()
                };
                let map = shown.resized(iw, ih).normalized();
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
fn gradient_map(raw: &Array) -> Map {
    let (h, w) = (raw.shape[1], raw.shape[2]);
    let plane = h * w;
    let data = (0..plane)
        .map(|i| {
            (0..3)
                .map(|c| raw.data[c * plane + i].abs())
                .fold(0f32, f32::max)
        })
        .collect();
    Map::new(w, h, data).normalized()
}
