//! What Score-CAM and Ablation-CAM share: which channels to evaluate, and running perturbed
//! batches through the network (from the input, or only the nodes after the layer), with
//! progress and cancellation.

use candle_core::Tensor;

use super::{Explainer, Target};
use crate::engine::error::Result;

/// The channels to evaluate, ascending: all of them, or with `top` the `top` with the largest
/// mean activation (a documented approximation; docs/methods.md).
pub fn channels(a: &Tensor, top: Option<usize>) -> Result<Vec<usize>> {
    let k = a.dim(0)?;
    let Some(n) = top.filter(|&n| n < k) else {
        return Ok((0..k).collect());
    };
    let means = a.mean((1, 2))?.to_vec1::<f32>()?;
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&i, &j| means[j].total_cmp(&means[i]).then(i.cmp(&j)));
    order.truncate(n);
    order.sort_unstable();
    Ok(order)
}

/// The class score for each channel of `channels`: `batch(chunk)` builds the perturbed inputs
/// (`from` = `None`) or activations of the layer (`from` = its node) for a chunk of channels,
/// at most `batch_size` at a time.
pub fn scores(
    cx: &Explainer<'_>,
    target: &Target<'_>,
    channels: &[usize],
    from: Option<usize>,
    batch: impl Fn(&[usize]) -> Result<Tensor>,
) -> Result<Vec<f32>> {
    let options = target.options;
    let total = channels.len();
    options.report(0, total)?;
    let mut out = Vec::with_capacity(total);
    for chunk in channels.chunks(options.batch_size.max(1)) {
        let check = || options.check();
        let logits = cx
            .model()
            .logits_from_checked(from, &batch(chunk)?, &check)?;
        out.extend(
            logits
                .narrow(1, target.class, 1)?
                .flatten_all()?
                .to_vec1::<f32>()?,
        );
        options.report(out.len(), total)?;
    }
    Ok(out)
}

/// `values` at `channels`, zero elsewhere, as a `(k,)` tensor like `like`'s device.
pub fn scatter(k: usize, channels: &[usize], values: &[f32], like: &Tensor) -> Result<Tensor> {
    let mut w = vec![0f32; k];
    for (&c, &v) in channels.iter().zip(values) {
        w[c] = v;
    }
    Ok(Tensor::from_vec(w, k, like.device())?)
}
