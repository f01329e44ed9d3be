//! Layer-CAM (Jiang et al. 2021): `Σ_k ReLU(G_k) ⊙ A_k`; meaningful at early layers too.

use candle_core::Tensor;

use super::{Explainer, Target, Technique};
use crate::engine::error::Result;

pub struct LayerCam;

impl Technique for LayerCam {
    fn name(&self) -> &'static str {
        "layercam"
    }

    fn title(&self) -> &'static str {
        "Layer-CAM"
    }

    fn description(&self) -> &'static str {
        "Activations weighted by their positive gradients, element by element: fine maps at early layers"
    }

    fn channel_maps(&self, cx: &Explainer<'_>, target: &Target<'_>) -> Result<Tensor> {
        let (a, g) = cx.activations_and_gradient(target)?;
        Ok(g.relu()?.mul(&a)?)
    }
}
