//! Runtime CPU-feature dispatch for our own loops: the binary targets baseline x86-64 (SSE2),
//! so a plain loop vectorizes 4 lanes wide. A function defined with [`wide_fn!`] is compiled
//! three times — with AVX-512, with AVX2, and plain — and the widest one this CPU runs is
//! chosen at each call, as `gemm` does for its kernels. Its body and everything it calls must be
//! inlined into it (`#[inline(always)]` helpers, iterator adaptors) to benefit; a closure passed
//! in from outside is not. Rust does not contract `a * b + c` into FMAs, so every path gives
//! the same bits.

/// Whether this CPU has AVX-512F (cached by the standard library).
#[inline(always)]
pub(super) fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU has AVX2 and FMA.
#[inline(always)]
pub(super) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `fn name(arg: T, …) -> R { body }`, compiled for AVX-512, AVX2 and baseline, dispatched at
/// run time. Arguments are plain identifiers; no generics.
macro_rules! wide_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn imp($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma,bmi2")]
                fn v4($($arg: $ty),*) $(-> $ret)? {
                    imp($($arg),*)
                }
                #[target_feature(enable = "avx2,fma,bmi2")]
                fn v3($($arg: $ty),*) $(-> $ret)? {
                    imp($($arg),*)
                }
                if $crate::engine::ops::simd::has_avx512() {
                    // SAFETY: the CPU has AVX-512F (checked).
                    return unsafe { v4($($arg),*) };
                }
                if $crate::engine::ops::simd::has_avx2() {
                    // SAFETY: the CPU has AVX2 and FMA (checked).
                    return unsafe { v3($($arg),*) };
                }
            }
            imp($($arg),*)
        }
    };
}
pub(super) use wide_fn;

/// `dst[i] += wt · src[i]`.
#[inline(always)]
pub(super) fn axpy(dst: &mut [f32], src: &[f32], wt: f32) {
    for (d, &v) in dst.iter_mut().zip(src) {
        *d += v * wt;
    }
}
