//! Depthwise convolutions (one filter per channel, MobileNet-style blocks) on the CPU by
//! direct loops, one plane per task: forward with the bias and ReLU / ReLU6 fused, and the
//! input gradient.

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use super::activation::clamp_in_place;
use super::gemm_conv::{Geometry, cpu_data, with_cpu_slice};
use super::im2col::{add_scaled_from_strided, add_scaled_to_strided, tap_runs};
use crate::engine::error::Result;

/// One plane per task, on every core: the bias as the initial value, each tap a
/// multiply-add of a contiguous (stride 1) or strided run of an input row, then the
/// ReLU / ReLU6 of `act`.
pub fn forward(
    x: &[f32],
    wv: &[f32],
    bias: Option<&[f32]>,
    g: &Geometry,
    act: Option<bool>,
) -> Vec<f32> {
    let (c, h, wd, k, s) = (g.cin, g.h, g.w, g.k, g.stride);
    let (oh, ow) = g.out_hw();
    let mut out = vec![0f32; g.n * c * oh * ow];
    out.par_chunks_mut(oh * ow)
        .enumerate()
        .for_each(|(plane, dst)| {
            let ch = plane % c;
            dst.fill(bias.map_or(0.0, |b| b[ch]));
            let src = &x[plane * h * wd..(plane + 1) * h * wd];
            for ky in 0..k {
                for kx in 0..k {
                    let wt = wv[(ch * k + ky) * k + kx];
                    tap_runs(g, (ky, kx), 0..oh, |oy, iy, run, first| {
                        add_scaled_from_strided(
                            &mut dst[oy * ow + run.start..oy * ow + run.end],
                            &src[iy * wd + first..(iy + 1) * wd],
                            s,
                            wt,
                        );
                    });
                }
            }
            if let Some(six) = act {
                clamp_in_place(dst, six);
            }
        });
    out
}

/// `dL/dx` for an input of spatial size `(h, wd)`.
pub fn backward(g: &Tensor, w: &Tensor, s: usize, p: usize, h: usize, wd: usize) -> Result<Tensor> {
    let (n, c, oh, ow) = g.dims4()?;
    let k = w.dims()[3];
    let wv = cpu_data(w)?;
    let geom = Geometry {
        n,
        cin: c,
        h,
        w: wd,
        cout: c,
        k,
        stride: s,
        pad: p,
        groups: c,
    };
    let mut out = vec![0f32; n * c * h * wd];
    with_cpu_slice(&g.to_device(&Device::Cpu)?, |gv| {
        out.par_chunks_mut(h * wd)
            .enumerate()
            .for_each(|(plane, dst)| {
                let ch = plane % c;
                let src = &gv[plane * oh * ow..(plane + 1) * oh * ow];
                for ky in 0..k {
                    for kx in 0..k {
                        let wt = wv[(ch * k + ky) * k + kx];
                        tap_runs(&geom, (ky, kx), 0..oh, |oy, iy, run, first| {
                            add_scaled_to_strided(
                                &mut dst[iy * wd + first..(iy + 1) * wd],
                                s,
                                &src[oy * ow + run.start..oy * ow + run.end],
                                wt,
                            );
                        });
                    }
                }
            });
    })?;
    Ok(Tensor::from_vec(out, (n, c, h, wd), g.device())?)
}
