//! Counterfactual explanations (Selvaraju et al. 2017, §5.2 "Counterfactual Explanations"):
//! Grad-CAM with negated gradients, `α_k = −(1/Z) Σ_ij ∂y^c/∂A^k_ij`, map `ReLU(Σ_k α_k A^k)` —
//! the regions whose removal would make the network more confident of the class: where the
//! evidence *against* it lies. Its raw map is Grad-CAM's raw map negated (a test checks it).

use candle_core::Tensor;

use super::{Explainer, Target, Technique};
use crate::engine::error::Result;
use crate::engine::ops::Grad;

pub struct Counterfactual;

impl Technique for Counterfactual {
    fn name(&self) -> &'static str {
        "counterfactual"
    }

    fn title(&self) -> &'static str {
        "Counterfactual Grad-CAM"
    }

    fn description(&self) -> &'static str {
        "Grad-CAM with negated gradients: where the evidence against the class lies"
    }

    fn channel_weights(&self, cx: &Explainer<'_>, target: &Target<'_>) -> Result<Tensor> {
        let g = cx.gradient(target.layer, target.class, Grad::Plain)?;
        Ok(g.squeeze(0)?.mean((1, 2))?.neg()?)
    }
}
