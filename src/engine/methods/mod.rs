//! Explanation methods over one cached forward pass.
//!
//! Following pytorch-grad-cam's `BaseCAM`: the [`Explainer`] holds the forward pass and the
//! backward passes already run; each method is a small file implementing [`Technique`]. Most
//! methods only supply channel weights for `Σ_k w_k A^k`; others supply their own per-channel
//! maps or their own map. A method declares what it [`Produces`]: a map at a chosen layer, or a
//! gradient at the input.
//!
//! Conventions (docs/methods.md): the score is the class logit before softmax; every method
//! yields a *raw* array (layer resolution, before any ReLU / upsampling / normalization; for
//! input gradients the `3 × H × W` array) and a *final* `H × W` map at model-input resolution
//! in [0, 1].

mod ablationcam;
mod cam;
mod counterfactual;
mod eigencam;
mod explainer;
mod explanation;
mod gradcam;
mod gradcam_elementwise;
mod gradcam_plusplus;
mod guided_backprop;
mod guided_gradcam;
mod hirescam;
mod layercam;
mod perturb;
mod projection;
mod scorecam;
mod smooth;
mod xgradcam;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use candle_core::Tensor;

use super::error::{Error, Result};
use super::io::npy::Array;
use super::maps::Map;

pub use explainer::Explainer;
pub use explanation::{Explanation, Prediction};
pub use projection::first_component;

/// An explanation method: the name scripts and saved preferences use (`name()`, a contract).
/// Its behaviour lives in the [`Technique`] that [`Method::technique`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Method {
    #[serde(rename = "cam")]
    Cam,
    #[serde(rename = "gradcam")]
    GradCam,
    #[serde(rename = "gradcam++")]
    GradCamPlusPlus,
    #[serde(rename = "xgradcam")]
    XGradCam,
    #[serde(rename = "hirescam")]
    HiResCam,
    #[serde(rename = "gradcam-elementwise")]
    GradCamElementWise,
    #[serde(rename = "layercam")]
    LayerCam,
    #[serde(rename = "eigencam")]
    EigenCam,
    #[serde(rename = "eigen-gradcam")]
    EigenGradCam,
    #[serde(rename = "scorecam")]
    ScoreCam,
    #[serde(rename = "ablationcam")]
    AblationCam,
    #[serde(rename = "guided-backprop")]
    GuidedBackprop,
    #[serde(rename = "guided-gradcam")]
    GuidedGradCam,
    #[serde(rename = "counterfactual")]
    Counterfactual,
}

impl Method {
    pub const ALL: [Method; 14] = [
        Method::Cam,
        Method::GradCam,
        Method::GradCamPlusPlus,
        Method::XGradCam,
        Method::HiResCam,
        Method::GradCamElementWise,
        Method::LayerCam,
        Method::EigenCam,
        Method::EigenGradCam,
        Method::ScoreCam,
        Method::AblationCam,
        Method::GuidedBackprop,
        Method::GuidedGradCam,
        Method::Counterfactual,
    ];

    /// The registry: what each method computes.
    pub fn technique(self) -> &'static dyn Technique {
        match self {
            Method::Cam => &cam::Cam,
            Method::GradCam => &gradcam::GradCam,
            Method::GradCamPlusPlus => &gradcam_plusplus::GradCamPlusPlus,
            Method::XGradCam => &xgradcam::XGradCam,
            Method::HiResCam => &hirescam::HiResCam,
            Method::GradCamElementWise => &gradcam_elementwise::GradCamElementWise,
            Method::LayerCam => &layercam::LayerCam,
            Method::EigenCam => &eigencam::EigenCam,
            Method::EigenGradCam => &eigencam::EigenGradCam,
            Method::ScoreCam => &scorecam::ScoreCam,
            Method::AblationCam => &ablationcam::AblationCam,
            Method::GuidedBackprop => &guided_backprop::GuidedBackprop,
            Method::GuidedGradCam => &guided_gradcam::GuidedGradCam,
            Method::Counterfactual => &counterfactual::Counterfactual,
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

    /// Whether the method runs a forward pass per channel (and reports progress).
    pub fn is_perturbation(self) -> bool {
        self.technique().is_perturbation()
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

/// How the per-channel maps become one map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// `Σ_k` (pytorch-grad-cam's `weighted_activations.sum(axis=1)`).
    Sum,
    /// The projection on the first principal component ([`first_component`]).
    Projection,
}

/// How several layers' maps are combined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fuse {
    /// The mean of the per-layer normalized maps (pytorch-grad-cam).
    #[default]
    Mean,
    /// Their element-wise maximum (torchcam).
    Max,
}

/// Called by slow methods with `(done, total)` channels.
pub type Progress = dyn Fn(usize, usize) + Send + Sync;

/// Asked often during slow work (between the network's layers): true stops it.
pub type Cancel = dyn Fn() -> bool + Send + Sync;

/// How an explanation is computed, beyond method, layer and class.
#[derive(Clone)]
pub struct Options {
    /// Replace `Σ_k` by the first principal component of the per-channel maps.
    pub eigen_smooth: bool,
    /// Average over horizontal flip × input scales 0.9 / 1.0 / 1.1, each map mapped back.
    pub aug_smooth: bool,
    /// How the maps of several layers (`layer4,layer3`) are combined.
    pub fuse: Fuse,
    /// Inputs (Score-CAM) or activations (Ablation-CAM) per forward pass.
    pub batch_size: usize,
    /// Evaluate only the channels with the largest mean activation (an approximation).
    pub top_channels: Option<usize>,
    pub progress: Option<Arc<Progress>>,
    pub cancel: Option<Arc<Cancel>>,
}

/// pytorch-grad-cam's default batch for the perturbation methods (Ablation-CAM's).
pub const DEFAULT_BATCH_SIZE: usize = 32;

impl Default for Options {
    fn default() -> Self {
        Self {
            eigen_smooth: false,
            aug_smooth: false,
            fuse: Fuse::Mean,
            batch_size: DEFAULT_BATCH_SIZE,
            top_channels: None,
            progress: None,
            cancel: None,
        }
    }
}

impl Options {
    /// An error when the caller asked to stop.
    pub fn check(&self) -> Result<()> {
        match &self.cancel {
            Some(c) if c() => Err(Error::Cancelled),
            _ => Ok(()),
        }
    }

    /// Reports progress, unless the caller asked to stop.
    pub fn report(&self, done: usize, total: usize) -> Result<()> {
        self.check()?;
        if let Some(p) = &self.progress {
            p(done, total);
        }
        Ok(())
    }
}

/// What a method computed, before the display conventions are applied.
pub enum Raw {
    /// At the layer's resolution, before ReLU.
    LayerMap(Map),
    /// At the input: the gradient, and the `H × W` map in [0, 1] that boxes are taken from.
    InputGradient { gradient: Array, localization: Map },
}

/// What is being explained: a class, at a layer (its node index, name and `[K, h, w]`), or at
/// the input for methods that use no layer; and how.
pub struct Target<'o> {
    pub layer: Option<usize>,
    pub layer_name: String,
    pub layer_shape: Vec<usize>,
    pub class: usize,
    pub options: &'o Options,
}

impl Target<'_> {
    pub fn layer(&self) -> Result<usize> {
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

    /// Whether the method runs forward passes per channel.
    fn is_perturbation(&self) -> bool {
        false
    }

    /// Channel weights `w_k`, shape `(K,)`, for `Σ_k w_k A^k` (`get_cam_weights`).
    fn channel_weights(&self, cx: &Explainer<'_>, target: &Target<'_>) -> Result<Tensor> {
        let _ = (cx, target);
        Err(Error::MethodNotApplicable {
            method: self.title().into(),
            reason: "it supplies its own map, not channel weights".into(),
        })
    }

    /// The per-channel maps `(K, h, w)` that [`Self::reduction`] turns into the raw map; by
    /// default `w_k A^k` with [`Self::channel_weights`].
    fn channel_maps(&self, cx: &Explainer<'_>, target: &Target<'_>) -> Result<Tensor> {
        let a = cx.activations(target.layer()?)?;
        let w = self.channel_weights(cx, target)?;
        let k = w.elem_count();
        Ok(a.broadcast_mul(&w.reshape((k, 1, 1))?)?)
    }

    fn reduction(&self) -> Reduction {
        Reduction::Sum
    }

    /// The raw result; by default the reduction of [`Self::channel_maps`] (the projection
    /// with `eigen_smooth`).
    fn compute(&self, cx: &Explainer<'_>, target: &Target<'_>) -> Result<Raw> {
        Ok(Raw::LayerMap(layer_map(self, cx, target)?))
    }
}

/// The raw layer map of `technique`: its channel maps summed or projected.
pub fn layer_map(
    technique: &(impl Technique + ?Sized),
    cx: &Explainer<'_>,
    target: &Target<'_>,
) -> Result<Map> {
    let maps = technique.channel_maps(cx, target)?;
    let reduction = if target.options.eigen_smooth {
        Reduction::Projection
    } else {
        technique.reduction()
    };
    match reduction {
        Reduction::Sum => {
            let (_, h, w) = maps.dims3()?;
            Ok(Map::new(
                w,
                h,
                maps.sum(0)?.flatten_all()?.to_vec1::<f32>()?,
            ))
        }
        Reduction::Projection => first_component(&maps),
    }
}
