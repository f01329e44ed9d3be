//! CAM (Zhou et al. 2016): `M^c = Σ_k w_k^c A^k` with the weights of a global-average-pool +
//! linear head, at the layer that feeds it. No ReLU: `mean(M^c) = y^c − b^c`.

use candle_core::Tensor;

use super::{Explainer, Target, Technique};
use crate::engine::error::{Error, Result};

pub struct Cam;

impl Technique for Cam {
    fn name(&self) -> &'static str {
        "cam"
    }

    fn title(&self) -> &'static str {
        "CAM"
    }

    fn description(&self) -> &'static str {
        "Class Activation Mapping: the classifier's weights over the last feature maps (GAP + linear heads only)"
    }

    fn relu(&self) -> bool {
        false
    }

    fn channel_weights(&self, cx: &Explainer<'_>, target: &Target<'_>) -> Result<Tensor> {
        let model = cx.model();
        let head = model.cam_head().map_err(|r| Error::MethodNotApplicable {
            method: "CAM".into(),
            reason: format!("{}: {r}", model.architecture),
        })?;
        if target.layer != Some(head.layer) {
            return Err(Error::MethodNotApplicable {
                method: "CAM".into(),
                reason: format!(
                    "CAM is defined at the layer that feeds the global-average-pool head ({}), \
                     not at {}; Grad-CAM works at any layer",
                    model.display_name(head.layer),
                    target.layer_name
                ),
            });
        }
        Ok(head.weight.get(target.class)?)
    }
}
