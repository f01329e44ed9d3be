//! Loading the building blocks (convolution, BatchNorm, linear) from torchvision-style keys,
//! with shape checks that name the tensor.

use super::Vb;
use crate::engine::error::Result;
use crate::engine::ops::{BatchNorm, Conv2d, Linear};

/// How the input channels of a convolution relate to its kernel.
#[derive(Clone, Copy)]
pub enum Groups {
    /// An ordinary convolution: the kernel must be `[out, in, k, k]`.
    One,
    /// Inferred from the kernel: `in / kernel.shape[1]` (ResNeXt, depthwise).
    Infer,
}

/// `{vb}.weight` (and `{vb}.bias` if stored) as a convolution over `cin` channels, with
/// "same"-style padding `k / 2` unless `padding` is given.
pub fn conv(
    vb: &Vb,
    cin: usize,
    stride: usize,
    padding: Option<usize>,
    groups: Groups,
) -> Result<Conv2d> {
    let dims = vb.dims_n("weight", 4)?;
    let (cout, cin_g, kh, kw) = (dims[0], dims[1], dims[2], dims[3]);
    if kh != kw {
        return Err(vb.layout_error(format!(
            "{}: only square kernels are supported, found shape {dims:?}",
            vb.key("weight")
        )));
    }
    let groups = match groups {
        Groups::One => 1,
        Groups::Infer
            if cin_g > 0 && cin.is_multiple_of(cin_g) && cout.is_multiple_of(cin / cin_g) =>
        {
            cin / cin_g
        }
        Groups::Infer => 1,
    };
    let weight = vb.get("weight", &[cout, cin / groups, kh, kw])?;
    let bias = if vb.contains("bias") {
        Some(vb.get("bias", &[cout])?)
    } else {
        None
    };
    Conv2d::new(weight, bias, stride, padding.unwrap_or(kh / 2), groups)
}

/// An eval-mode BatchNorm over `c` channels.
pub fn batch_norm(vb: &Vb, c: usize, eps: f64) -> Result<BatchNorm> {
    BatchNorm::new(
        &vb.get("weight", &[c])?,
        &vb.get("bias", &[c])?,
        &vb.get("running_mean", &[c])?,
        &vb.get("running_var", &[c])?,
        eps,
    )
}

/// A convolution with the BatchNorm that follows it folded in.
pub fn conv_bn(
    conv_vb: &Vb,
    bn_vb: &Vb,
    cin: usize,
    stride: usize,
    padding: Option<usize>,
    groups: Groups,
    eps: f64,
) -> Result<Conv2d> {
    let c = conv(conv_vb, cin, stride, padding, groups)?;
    let bn = batch_norm(bn_vb, c.out_channels(), eps)?;
    c.fold_batch_norm(&bn)
}

/// A linear layer taking `fin` features; returns it with its output count.
pub fn linear(vb: &Vb, fin: usize) -> Result<(Linear, usize)> {
    let dims = vb.dims_n("weight", 2)?;
    let fout = dims[0];
    let weight = vb.get("weight", &[fout, fin])?;
    let bias = vb.get("bias", &[fout])?;
    Ok((Linear { weight, bias }, fout))
}

/// The number of consecutive `prefix.{i}` children that have `probe` (e.g. blocks of a stage).
pub fn count_children(vb: &Vb, probe: &str) -> usize {
    (0..).take_while(|i| vb.pp(i).contains(probe)).count()
}
