//! CAM, Grad-CAM, Guided Backprop and Guided Grad-CAM over one cached forward pass.
//!
//! Conventions (DEVELOPERS.md, docs/methods.md): the score is the class logit before softmax;
//! every method yields a *raw* array (layer resolution, before any ReLU / upsampling /
//! normalization; for the guided methods the `3 × H × W` input-resolution array) and a *final*
//! `H × W` map at model-input resolution in [0, 1].

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use candle_core::Tensor;

use super::error::{Error, Result};
use super::maps::Map;
use super::model::{Forward, Model};
use super::npy::Array;
use super::ops::Grad;

/// An explanation method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Class Activation Mapping (Zhou et al. 2016): `Σ_k w_k^c A^k`, GAP + linear heads only.
    Cam,
    /// Grad-CAM (Selvaraju et al. 2017): `ReLU(Σ_k α_k^c A^k)`, α the spatial mean gradient.
    #[serde(rename = "gradcam")]
    GradCam,
    /// The input gradient with guided ReLUs.
    GuidedBackprop,
    /// Guided backprop ⊙ the upsampled, normalized Grad-CAM map.
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

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Cam => "cam",
            Method::GradCam => "gradcam",
            Method::GuidedBackprop => "guided-backprop",
            Method::GuidedGradCam => "guided-gradcam",
        }
    }

    /// A display title.
    pub fn title(self) -> &'static str {
        match self {
            Method::Cam => "CAM",
            Method::GradCam => "Grad-CAM",
            Method::GuidedBackprop => "Guided Backprop",
            Method::GuidedGradCam => "Guided Grad-CAM",
        }
    }

    /// Whether the raw map carries a meaningful sign (shown with a diverging colormap).
    pub fn is_signed(self) -> bool {
        matches!(
            self,
            Method::Cam | Method::GuidedBackprop | Method::GuidedGradCam
        )
    }

    /// Whether the method explains a chosen layer (guided backprop explains the input).
    pub fn uses_layer(self) -> bool {
        self != Method::GuidedBackprop
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
    /// Before any ReLU, upsampling or normalization: `[H, W]` at the layer's resolution for CAM
    /// and Grad-CAM, `[3, H, W]` at input resolution for the guided methods.
    pub raw: Array,
    /// At model-input resolution, in [0, 1].
    pub map: Map,
    /// The map boxes are taken from, at model-input resolution in [0, 1]: `map` for CAM and
    /// Grad-CAM; the Grad-CAM factor for Guided Grad-CAM (its localization comes from there);
    /// for Guided Backprop, its sparse saliency blurred (two box filters of radius 4 px).
    pub localization: Map,
}

/// A backward pass: to the output of a node (or the input for `None`), for a class, in a mode.
type GradKey = (Option<usize>, usize, Grad);

impl Explanation {
    /// The map with its sign kept, at input resolution, scaled so that 0.5 is zero and 0 / 1
    /// are ∓ the largest magnitude: for diverging colormaps. CAM and Grad-CAM use the raw map
    /// (before ReLU); the guided methods sum the colour channels.
    pub fn signed_map(&self) -> Map {
        let (w, h) = (self.map.width, self.map.height);
        let m = if self.raw.shape.len() == 3 {
            let plane = w * h;
            Map::new(
                w,
                h,
                (0..plane)
                    .map(|i| (0..3).map(|c| self.raw.data[c * plane + i]).sum())
                    .collect(),
            )
        } else {
            Map::new(self.raw.shape[1], self.raw.shape[0], self.raw.data.clone()).resized(w, h)
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

/// A model borrowed for a while, or shared for as long as an [`Explainer`] lives.
enum ModelRef<'m> {
    Borrowed(&'m Model),
    Shared(std::sync::Arc<Model>),
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
    pub fn new_shared(model: std::sync::Arc<Model>, input: &Tensor) -> Result<Explainer<'static>> {
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

    fn gradient(&self, layer: Option<usize>, class: usize, mode: Grad) -> Result<Tensor> {
        let key = (layer, class, mode);
        if let Some(g) = self.grads.lock().map_err(poisoned)?.get(&key) {
            return Ok(g.clone());
        }
        let g = self.model.gradient(&self.forward, layer, class, mode)?;
        self.grads.lock().map_err(poisoned)?.insert(key, g.clone());
        Ok(g)
    }

    /// The spatial activations `(K, H, W)` at node `layer`.
    fn activations(&self, layer: usize, name: &str) -> Result<Tensor> {
        let a = &self.forward.outputs[layer];
        if a.rank() != 4 {
            return Err(Error::MethodNotApplicable {
                method: format!("explaining layer {name}"),
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

    /// `Σ_k weights_k A^k` as an `H × W` map.
    fn weighted_sum(a: &Tensor, weights: &Tensor) -> Result<Map> {
        let (k, h, w) = a.dims3()?;
        let m = weights
            .reshape((1, k))?
            .matmul(&a.reshape((k, h * w))?)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        Ok(Map::new(w, h, m))
    }

    /// Runs `method` for `class` at `layer` (the model's default when `None`).
    pub fn explain(
        &self,
        method: Method,
        layer: Option<&str>,
        class: usize,
    ) -> Result<Explanation> {
        self.model.check_class(class)?;
        let layer_name = layer.unwrap_or(self.model.default_layer()).to_owned();
        let (ih, iw) = self.input_size();
        match method {
            Method::Cam => {
                let idx = self.model.layer_index(&layer_name)?;
                let head = self
                    .model
                    .cam_head()
                    .map_err(|r| Error::MethodNotApplicable {
                        method: "CAM".into(),
                        reason: format!("{}: {r}", self.model.architecture),
                    })?;
                if idx != head.layer {
                    return Err(Error::MethodNotApplicable {
                        method: "CAM".into(),
                        reason: format!(
                            "CAM is defined at the layer that feeds the global-average-pool head \
                             ({}), not at {layer_name}; Grad-CAM works at any layer",
                            self.model.display_name(head.layer)
                        ),
                    });
                }
                let a = self.activations(idx, &layer_name)?;
                let w = head.weight.get(class)?;
                let raw = Self::weighted_sum(&a, &w)?;
                Ok(self.finish(method, layer_name, a.dims().to_vec(), class, raw, false))
            }
            Method::GradCam => {
                let (raw, shape) = self.grad_cam_raw(&layer_name, class)?;
                Ok(self.finish(method, layer_name, shape, class, raw, true))
            }
            Method::GuidedBackprop => {
                let g = self.gradient(None, class, Grad::Guided)?.squeeze(0)?;
                let raw = Array::new(g.dims().to_vec(), g.flatten_all()?.to_vec1::<f32>()?);
                let map = guided_map(&raw);
                let r = 4;
                let localization = map.box_blurred(r).box_blurred(r).normalized();
                Ok(Explanation {
                    method,
                    layer: "input".into(),
                    layer_shape: raw.shape.clone(),
                    class,
                    raw,
                    map,
                    localization,
                })
            }
            Method::GuidedGradCam => {
                let (cam, shape) = self.grad_cam_raw(&layer_name, class)?;
                let cam = cam.relu().resized(iw, ih).normalized();
                let gb = self.gradient(None, class, Grad::Guided)?.squeeze(0)?;
                let gb = gb.flatten_all()?.to_vec1::<f32>()?;
                let plane = ih * iw;
                let data = gb
                    .iter()
                    .enumerate()
                    .map(|(i, &g)| g * cam.data[i % plane])
                    .collect();
                let raw = Array::new(vec![3, ih, iw], data);
                let map = guided_map(&raw);
                Ok(Explanation {
                    method,
                    layer: layer_name,
                    layer_shape: shape,
                    class,
                    raw,
                    map,
                    localization: cam,
                })
            }
        }
    }

    /// Grad-CAM's `Σ_k α_k A^k` (before ReLU) and the layer's `[K, H, W]`.
    fn grad_cam_raw(&self, layer_name: &str, class: usize) -> Result<(Map, Vec<usize>)> {
        let idx = self.model.layer_index(layer_name)?;
        let a = self.activations(idx, layer_name)?;
        let g = self.gradient(Some(idx), class, Grad::Plain)?.squeeze(0)?;
        let alpha = g.mean((1, 2))?;
        Ok((Self::weighted_sum(&a, &alpha)?, a.dims().to_vec()))
    }

    fn finish(
        &self,
        method: Method,
        layer: String,
        layer_shape: Vec<usize>,
        class: usize,
        raw: Map,
        relu: bool,
    ) -> Explanation {
        let (ih, iw) = self.input_size();
        let shown = if relu {
            raw.clone().relu()
        } else {
            raw.clone()
        };
        let map = shown.resized(iw, ih).normalized();
        Explanation {
            method,
            layer,
            layer_shape,
            class,
            raw: Array::new(vec![raw.height, raw.width], raw.data),
            localization: map.clone(),
            map,
        }
    }
}

/// A `3 × H × W` input-gradient as one `H × W` map: the largest magnitude over the colour
/// channels (Simonyan et al. 2014), min–max normalized.
fn guided_map(raw: &Array) -> Map {
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

fn poisoned<T>(_: std::sync::PoisonError<T>) -> Error {
    Error::BadInput("a previous computation panicked".into())
}
