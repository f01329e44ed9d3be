//! HiResCAM (Draelos & Carin 2020): `Σ_k G_k ⊙ A_k`, element-wise, no spatial averaging. At
//! the last block of a GAP + linear head it equals Grad-CAM.

use candle_core::Tensor;

use super::{Explainer, Target, Technique};
use crate::engine::error::Result;

pub struct HiResCam;

impl Technique for HiResCam {
    fn name(&self) -> &'static str {
        "hirescam"
    }

    fn title(&self) -> &'static str {
        "HiResCAM"
    }

    fn description(&self) -> &'static str {
        "Gradient times activation, element by element: provably shows where the score comes from"
    }

    fn channel_maps(&self, cx: &Explainer<'_>, target: &Target<'_>) -> Result<Tensor> {
        let (a, g) = cx.activations_and_gradient(target)?;
        Ok(g.mul(&a)?)
    }
}
