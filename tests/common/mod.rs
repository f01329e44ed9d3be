//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use camscope::engine::Array;
use candle_core::{Device, Tensor};

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

pub fn asset(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(path)
}

pub fn npy(path: &str) -> Array {
    Array::read_npy(&fixture(path)).unwrap_or_else(|e| panic!("{e}"))
}

pub fn npy_tensor(path: &str) -> Tensor {
    let a = npy(path);
    Tensor::from_vec(a.data, a.shape, &Device::Cpu).unwrap()
}

/// max |a − b| / max |b|: the parity measure (relative to the reference's scale).
pub fn rel_err(actual: &[f32], reference: &[f32]) -> f32 {
    assert_eq!(actual.len(), reference.len(), "sizes differ");
    let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = actual
        .iter()
        .zip(reference)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    if scale == 0.0 { err } else { err / scale }
}

pub fn assert_close(what: &str, actual: &[f32], reference: &[f32], tol: f32) {
    let e = rel_err(actual, reference);
    assert!(e <= tol, "{what}: relative error {e:.3e} > {tol:.0e}");
}

pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// Runs the camscope binary; returns (exit ok, stdout, stderr).
pub fn camscope(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_camscope"))
        .args(args)
        .output()
        .expect("the camscope binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the camscope binary; returns (exit code, stdout, stderr).
pub fn camscope_code(args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_camscope"))
        .args(args)
        .output()
        .expect("the camscope binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
