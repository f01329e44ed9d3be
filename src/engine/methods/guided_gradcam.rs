//! Guided Grad-CAM (Selvaraju et al. 2017): guided backprop ⊙ the Grad-CAM map upsampled to the
//! input and min–max normalized. Boxes come from the Grad-CAM factor.

use super::gradcam::GradCam;
use super::guided_backprop::guided_gradient;
use super::{Explainer, Produces, Raw, Target, Technique, layer_map};
use crate::engine::error::Result;
use crate::engine::io::npy::Array;

pub struct GuidedGradCam;

impl Technique for GuidedGradCam {
    fn name(&self) -> &'static str {
        "guided-gradcam"
    }

    fn title(&self) -> &'static str {
        "Guided Grad-CAM"
    }

    fn description(&self) -> &'static str {
        "Guided backprop masked by the Grad-CAM map: fine-grained and class-discriminative"
    }

    fn produces(&self) -> Produces {
        Produces::InputGradient
    }

    fn compute(&self, cx: &Explainer<'_>, target: &Target<'_>) -> Result<Raw> {
        let cam = layer_map(&GradCam, cx, target)?;
        let (ih, iw) = cx.input_size();
        let cam = cam.relu().resized(iw, ih).normalized();
        let gb = guided_gradient(cx, target.class)?;
        let plane = ih * iw;
        let data = gb
            .data
            .iter()
            .enumerate()
            .map(|(i, &g)| g * cam.data[i % plane])
            .collect();
        Ok(Raw::InputGradient {
            gradient: Array::new(vec![3, ih, iw], data),
            localization: cam,
        })
    }
}
