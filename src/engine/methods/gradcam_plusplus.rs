//! Grad-CAM++ (Chattopadhay et al. 2018), as pytorch-grad-cam computes it (its eq. 19 with the
//! exponential score's derivatives written through the logit's gradient G):
//! `a = G² / (2G² + Σ_ij A · G³ + 1e-6)`, `a = 0` where `G = 0`, `w_k = Σ_ij ReLU(G) · a`.

use candle_core::Tensor;

use super::{Explainer, Target, Technique};
use crate::engine::error::Result;

pub struct GradCamPlusPlus;

impl Technique for GradCamPlusPlus {
    fn name(&self) -> &'static str {
        "gradcam++"
    }

    fn title(&self) -> &'static str {
        "Grad-CAM++"
    }

    fn description(&self) -> &'static str {
        "Grad-CAM with pixel-wise weights from second and third derivatives: better for several instances"
    }

    fn channel_weights(&self, cx: &Explainer<'_>, target: &Target<'_>) -> Result<Tensor> {
        let (a, g) = cx.activations_and_gradient(target)?;
        let device = a.device().clone();
        let a = a.flatten_from(1)?.to_vec2::<f32>()?;
        let g = g.flatten_from(1)?.to_vec2::<f32>()?;
        let weights: Vec<f32> = a
            .iter()
            .zip(&g)
            .map(|(a, g)| {
                let sum_a: f32 = a.iter().sum();
                g.iter()
                    .map(|&gij| {
                        if gij == 0.0 {
                            return 0.0;
                        }
                        let g2 = gij * gij;
                        let aij = g2 / (2.0 * g2 + sum_a * (g2 * gij) + 1e-6);
                        gij.max(0.0) * aij
                    })
                    .sum()
            })
            .collect();
        let k = weights.len();
        Ok(Tensor::from_vec(weights, k, &device)?)
    }
}
