//! Grad-CAM element-wise (pytorch-grad-cam's `GradCAMElementWise`): `Σ_k ReLU(G_k ⊙ A_k)`.

use candle_core::Tensor;

use super::{Explainer, Target, Technique};
use crate::engine::error::Result;

pub struct GradCamElementWise;

impl Technique for GradCamElementWise {
    fn name(&self) -> &'static str {
        "gradcam-elementwise"
    }

    fn title(&self) -> &'static str {
        "Grad-CAM element-wise"
    }

    fn description(&self) -> &'static str {
        "The positive part of gradient times activation, element by element, summed over channels"
    }

    fn channel_maps(&self, cx: &Explainer<'_>, target: &Target<'_>) -> Result<Tensor> {
        let (a, g) = cx.activations_and_gradient(target)?;
        Ok(g.mul(&a)?.relu()?)
    }
}
