//! Reading and making f32 CPU tensors without needless copies, for the CPU kernels.

use candle_core::{Device, Tensor};

use crate::engine::error::Result;

/// The f32 data of a CPU tensor, made contiguous first if it is not.
pub fn cpu_data(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

/// Runs `f` on the f32 data of a contiguous CPU tensor without copying it.
pub fn with_cpu_slice<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match (&*storage, layout.contiguous_offsets()) {
        (candle_core::Storage::Cpu(cpu), Some((start, end))) => {
            Ok(f(&cpu.as_slice::<f32>()?[start..end]))
        }
        _ => {
            drop(storage);
            Ok(f(&cpu_data(&t)?))
        }
    }
}

/// A `(n, c, h, w)` CPU tensor from its data.
pub fn tensor(data: Vec<f32>, shape: (usize, usize, usize, usize)) -> Result<Tensor> {
    Ok(Tensor::from_vec(data, shape, &Device::Cpu)?)
}
