//! Guided Backpropagation (Springenberg et al. 2015): the input gradient of the class score
//! where every ReLU passes gradient only where its input and the incoming gradient are both
//! positive.

use super::explainer::gradient_map;
use super::{Explainer, Produces, Raw, Target, Technique};
use crate::engine::error::Result;
use crate::engine::io::npy::Array;
use crate::engine::ops::Grad;

pub struct GuidedBackprop;

/// The blur that turns the sparse saliency into a region to box: two box filters.
const BLUR_RADIUS: usize = 4;

impl Technique for GuidedBackprop {
    fn name(&self) -> &'static str {
        "guided-backprop"
    }

    fn title(&self) -> &'static str {
        "Guided Backprop"
    }

    fn description(&self) -> &'static str {
        "The input gradient through guided ReLUs: fine-grained, not class-discriminative"
    }

    fn produces(&self) -> Produces {
        Produces::InputGradient
    }

    fn uses_layer(&self) -> bool {
        false
    }

    fn compute(&self, cx: &Explainer<'_>, target: &Target<'_>) -> Result<Raw> {
        let gradient = guided_gradient(cx, target.class)?;
        let r = BLUR_RADIUS;
        let localization = gradient_map(&gradient)
            .box_blurred(r)
            .box_blurred(r)
            .normalized();
        Ok(Raw::InputGradient {
            gradient,
            localization,
        })
    }
}

/// The guided input gradient `(3, H, W)`, shared with Guided Grad-CAM.
pub fn guided_gradient(cx: &Explainer<'_>, class: usize) -> Result<Array> {
    let g = cx.gradient(None, class, Grad::Guided)?.squeeze(0)?;
    Ok(Array::new(
        g.dims().to_vec(),
        g.flatten_all()?.to_vec1::<f32>()?,
    ))
}
