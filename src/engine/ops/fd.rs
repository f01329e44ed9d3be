//! The finite-difference check the ops' tests share.

use candle_core::Tensor;

use crate::engine::error::Result;

/// Asserts that `got`, a hand-written input gradient of `Σ r ⊙ forward(x)`, matches central
/// differences of that sum (step 1e-6, float64 tensors) within `tol` at every input element;
/// `what` names the case in the failure message.
pub fn assert_input_gradient(
    x: &Tensor,
    r: &Tensor,
    got: &Tensor,
    forward: impl Fn(&Tensor) -> Result<Tensor>,
    tol: f64,
    what: &str,
) -> Result<()> {
    let got = got.flatten_all()?.to_vec1::<f64>()?;
    let xs = x.flatten_all()?.to_vec1::<f64>()?;
    assert_eq!(got.len(), xs.len(), "{what}: gradient and input sizes");
    let eps = 1e-6;
    for i in 0..xs.len() {
        let f = |d: f64| -> Result<f64> {
            let mut v = xs.clone();
            v[i] += d;
            let xi = Tensor::from_vec(v, x.dims(), x.device())?;
            Ok(forward(&xi)?.mul(r)?.sum_all()?.to_scalar::<f64>()?)
        };
        let want = (f(eps)? - f(-eps)?) / (2.0 * eps);
        assert!(
            (got[i] - want).abs() < tol,
            "{what} x[{i}]: {} vs {want}",
            got[i]
        );
    }
    Ok(())
}
