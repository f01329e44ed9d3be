//! Runtime CPU-feature dispatch for our element-wise loops: the binary targets baseline x86-64
//! (SSE2), so a plain loop vectorizes 4 lanes wide; run inside [`wide`], the same loop is
//! compiled again with AVX-512 (or AVX2) enabled and chosen when the CPU has it, as `gemm` does
//! for its kernels. Rust does not contract `a * b + c` into FMAs, so the results are the same
//! bit for bit on every path.

/// Runs `f` compiled with the widest vector extension this CPU has. `f` and what it calls must
/// be inlined into it (closures and `#[inline(always)]` helpers) to benefit.
#[inline(always)]
pub(super) fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx2,fma,bmi2")]
        fn v4<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2,fma,bmi2")]
        fn v3<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked above).
            return unsafe { v4(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            return unsafe { v3(f) };
        }
    }
    f()
}

/// `dst[i] += wt · src[i]`.
#[inline(always)]
pub(super) fn axpy(dst: &mut [f32], src: &[f32], wt: f32) {
    for (d, &v) in dst.iter_mut().zip(src) {
        *d += v * wt;
    }
}
