//! Eigen-CAM (Muhammad & Yeasin 2020) and Eigen-Grad-CAM: the projection of the activations
//! (or of `G ⊙ A`) on their first principal component. Eigen-CAM uses no gradient and is the
//! same for every class. The sign of a principal component is arbitrary; ours makes the map
//! correlate positively with `Σ_k` of the maps ([`super::first_component`]).

use candle_core::Tensor;

use super::{Explainer, Reduction, Target, Technique};
use crate::engine::error::Result;

pub struct EigenCam;

impl Technique for EigenCam {
    fn name(&self) -> &'static str {
        "eigencam"
    }

    fn title(&self) -> &'static str {
        "Eigen-CAM"
    }

    fn description(&self) -> &'static str {
        "The first principal component of the activations: no gradient, the same for every class"
    }

    fn channel_maps(&self, cx: &Explainer<'_>, target: &Target<'_>) -> Result<Tensor> {
        cx.activations(target.layer()?)
    }

    fn reduction(&self) -> Reduction {
        Reduction::Projection
    }
}

pub struct EigenGradCam;

impl Technique for EigenGradCam {
    fn name(&self) -> &'static str {
        "eigen-gradcam"
    }

    fn title(&self) -> &'static str {
        "Eigen-Grad-CAM"
    }

    fn description(&self) -> &'static str {
        "The first principal component of gradient times activation: class-discriminative Eigen-CAM"
    }

    fn channel_maps(&self, cx: &Explainer<'_>, target: &Target<'_>) -> Result<Tensor> {
        let (a, g) = cx.activations_and_gradient(target)?;
        Ok(g.mul(&a)?)
    }

    fn reduction(&self) -> Reduction {
        Reduction::Projection
    }
}
