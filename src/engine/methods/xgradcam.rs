//! XGrad-CAM (Fu et al. 2020): `w_k = Σ_ij G · A / (Σ_ij A + 1e-7)`.

use candle_core::Tensor;

use super::{Explainer, Target, Technique};
use crate::engine::error::Result;

pub struct XGradCam;

impl Technique for XGradCam {
    fn name(&self) -> &'static str {
        "xgradcam"
    }

    fn title(&self) -> &'static str {
        "XGrad-CAM"
    }

    fn description(&self) -> &'static str {
        "Gradients weighted by the normalized activations: axioms of sensitivity and conservation"
    }

    fn channel_weights(&self, cx: &Explainer<'_>, target: &Target<'_>) -> Result<Tensor> {
        let (a, g) = cx.activations_and_gradient(target)?;
        let sum_a = (a.sum((1, 2))? + 1e-7)?;
        Ok(g.mul(&a)?.sum((1, 2))?.div(&sum_a)?)
    }
}
