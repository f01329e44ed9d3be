//! Grad-CAM (Selvaraju et al. 2017): `α_k = (1/Z) Σ_ij ∂y^c/∂A^k_ij`, map `ReLU(Σ_k α_k A^k)`.

use candle_core::Tensor;

use super::{Explainer, Target, Technique};
use crate::engine::error::Result;
use crate::engine::ops::Grad;

pub struct GradCam;

impl Technique for GradCam {
    fn name(&self) -> &'static str {
        "gradcam"
    }

    fn title(&self) -> &'static str {
        "Grad-CAM"
    }

    fn description(&self) -> &'static str {
        "Feature maps weighted by the spatial mean of the class score's gradient; any layer"
    }

    fn channel_weights(&self, cx: &Explainer<'_>, target: &Target<'_>) -> Result<Tensor> {
        let g = cx.gradient(target.layer, target.class, Grad::Plain)?;
        Ok(g.squeeze(0)?.mean((1, 2))?)
    }
}
