//! Channel structure: ShuffleNet's channel shuffle (the slices and concatenations of DenseNet,
//! ShuffleNet and Inception are [`super::Op::Narrow`] and [`super::Op::Concat`]).

use candle_core::Tensor;

use crate::engine::error::{Error, Result};

/// ShuffleNet's channel shuffle of `x` into `groups` (or, `inverse`, its inverse: the input
/// gradient).
pub(super) fn shuffle(x: &Tensor, groups: usize, inverse: bool) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    if groups == 0 || !c.is_multiple_of(groups) {
        return Err(Error::BadInput(format!(
            "a channel shuffle into {groups} groups needs a multiple of {groups} channels, \
             found {c}"
        )));
    }
    let (a, b) = if inverse {
        (c / groups, groups)
    } else {
        (groups, c / groups)
    };
    Ok(x.reshape((n, a, b, h, w))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((n, c, h, w))?)
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};

    use super::super::fd::assert_input_gradient;
    use super::super::{Act, Grad, LayerNorm2d, Op, backward_seq, forward_seq};
    use super::*;

    /// Central differences of `Σ r ⊙ ops(x)` in float64 against the hand-written backward
    /// pass, for the structural ops of DenseNet, ShuffleNet and Inception (concatenation,
    /// channel slices, channel shuffle, zero padding) around smooth activations and a
    /// LayerNorm.
    #[test]
    fn structural_ops_gradients_match_finite_differences() -> Result<()> {
        let dev = Device::Cpu;
        let seq = |v: f64| -> Result<Tensor> {
            let n = 4 * 3 * 3;
            let data: Vec<f64> = (0..n)
                .map(|i| (((i as u64 * 2654435761 + (v * 1e3) as u64) % 997) as f64) / 498.5 - 1.0)
                .collect();
            Ok(Tensor::from_vec(data, (1, 4, 3, 3), &dev)?)
        };
        let norm = LayerNorm2d {
            weight: Tensor::new(&[1.2f64, 0.7, -0.4, 2.0, 1.0, 0.5], &dev)?,
            bias: Tensor::new(&[0.1f64, 0.0, 0.3, -0.2, 0.05, 0.4], &dev)?,
            eps: 1e-6,
        };
        let ops = vec![
            Op::Concat(vec![
                Vec::new(),
                vec![Op::Narrow { start: 1, len: 2 }, Op::Act(Act::Gelu)],
            ]),
            Op::ChannelShuffle(2),
            Op::LayerNorm2d(norm),
            Op::Pad([1, 0, 0, 2]),
            Op::Act(Act::Hardswish),
        ];
        let x = seq(1.0)?;
        let (y, saved) = forward_seq(&ops, &x, true)?;
        assert_eq!(y.dims(), [1, 6, 4, 5]);
        let r = Tensor::randn(0f64, 1f64, y.dims(), &dev)?;
        let got = backward_seq(&ops, &saved, &r, Grad::Plain)?;
        let forward = |xi: &Tensor| Ok(forward_seq(&ops, xi, false)?.0);
        assert_input_gradient(&x, &r, &got, forward, 1e-6, "structural ops")?;
        assert_eq!(x.dtype(), DType::F64);
        Ok(())
    }

    /// The shuffle's inverse undoes it.
    #[test]
    fn channel_shuffle_inverse_undoes_it() -> Result<()> {
        let x = Tensor::arange(0f32, 12., &Device::Cpu)?.reshape((1, 6, 1, 2))?;
        let y = shuffle(&x, 2, false)?;
        assert_eq!(
            y.flatten_all()?.to_vec1::<f32>()?,
            [0., 1., 6., 7., 2., 3., 8., 9., 4., 5., 10., 11.]
        );
        let back = shuffle(&y, 2, true)?;
        assert_eq!(
            back.flatten_all()?.to_vec1::<f32>()?,
            x.flatten_all()?.to_vec1::<f32>()?
        );
        Ok(())
    }
}
