//! ReLU and ReLU6 backward passes, plain (PyTorch's: no gradient at x = 0) or guided.

use candle_core::Tensor;

use super::Grad;
use crate::engine::error::Result;

fn relu_mask(x: &Tensor, six: bool) -> Result<Tensor> {
    let m = x.gt(0f32)?.to_dtype(x.dtype())?;
    Ok(if six {
        m.mul(&x.lt(6f32)?.to_dtype(x.dtype())?)?
    } else {
        m
    })
}

pub(super) fn activation_backward(x: &Tensor, g: &Tensor, six: bool, mode: Grad) -> Result<Tensor> {
    let g = match mode {
        Grad::Plain => g.clone(),
        Grad::Guided => g.relu()?,
    };
    Ok(g.mul(&relu_mask(x, six)?)?)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;

    #[test]
    fn relu_passes_no_gradient_at_zero() -> Result<()> {
        let x = Tensor::new(&[[[[-1f32, 0., 2.]]]], &Device::Cpu)?;
        let (_, s) = crate::engine::ops::Op::Relu.forward(&x, true)?;
        let g = Tensor::new(&[[[[1f32, 1., -3.]]]], &Device::Cpu)?;
        let plain = crate::engine::ops::Op::Relu.backward(&s, &g, Grad::Plain)?;
        assert_eq!(plain.flatten_all()?.to_vec1::<f32>()?, [0., 0., -3.]);
        let guided = crate::engine::ops::Op::Relu.backward(&s, &g, Grad::Guided)?;
        assert_eq!(guided.flatten_all()?.to_vec1::<f32>()?, [0., 0., 0.]);
        Ok(())
    }
}
