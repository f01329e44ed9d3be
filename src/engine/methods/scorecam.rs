//! Score-CAM (Wang et al. 2020), as pytorch-grad-cam computes it: each channel is upsampled
//! to the input (bilinear, `align_corners = true`, torch's `UpsamplingBilinear2d`) and min–max
//! scaled (`+ 1e-8`) into a mask; `s_k = y^c(input ⊙ mask_k)`; `w = softmax(s)`. The masked
//! inputs run through the network in batches. With `top_channels`, the other channels get
//! weight 0 and the softmax runs over the evaluated ones.

use candle_core::Tensor;

use super::{Explainer, Target, Technique, perturb};
use crate::engine::error::Result;
use crate::engine::maps::Map;

pub struct ScoreCam;

impl Technique for ScoreCam {
    fn name(&self) -> &'static str {
        "scorecam"
    }

    fn title(&self) -> &'static str {
        "Score-CAM"
    }

    fn description(&self) -> &'static str {
        "Channels weighted by the score of the photo masked by each: no gradient, one forward pass per channel"
    }

    fn is_perturbation(&self) -> bool {
        true
    }

    fn channel_weights(&self, cx: &Explainer<'_>, target: &Target<'_>) -> Result<Tensor> {
        let a = cx.activations(target.layer()?)?;
        let (k, h, w) = a.dims3()?;
        let (ih, iw) = cx.input_size();
        let data = a.flatten_all()?.to_vec1::<f32>()?;
        let input = &cx.forward().input;
        let channels = perturb::channels(&a, target.options.top_channels)?;
        let scores = perturb::scores(cx, target, &channels, None, |chunk| {
            let mut masks = Vec::with_capacity(chunk.len() * ih * iw);
            for &c in chunk {
                let m = Map::new(w, h, data[c * h * w..(c + 1) * h * w].to_vec())
                    .resized_align_corners(iw, ih);
                let (lo, hi) = (m.min(), m.max());
                masks.extend(m.data.iter().map(|v| (v - lo) / (hi - lo + 1e-8)));
            }
            let masks = Tensor::from_vec(masks, (chunk.len(), 1, ih, iw), input.device())?;
            Ok(input.broadcast_mul(&masks)?)
        })?;
        // softmax in f64 over the evaluated channels.
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let exp: Vec<f64> = scores.iter().map(|&s| (s as f64 - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        let weights: Vec<f32> = exp.iter().map(|e| (e / sum) as f32).collect();
        perturb::scatter(k, &channels, &weights, &a)
    }
}
