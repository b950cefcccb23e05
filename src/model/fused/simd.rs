//! Element-wise kernels compiled twice: for AVX2 + FMA, chosen at run time when the CPU has
//! them, and for the baseline target. Both builds do the same floating-point operations in the
//! same order (Rust never fuses a multiply and an add on its own), so results are identical.

/// Whether the CPU has AVX2 and FMA (cached by the standard library after the first check).
#[cfg(target_arch = "x86_64")]
pub(super) fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// Defines `fn $name(args)` whose body is compiled for AVX2 + FMA and for the baseline, and
/// runs the AVX2 build when the CPU supports it.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    body($($arg),*)
                }
                if $crate::model::fused::simd::has_avx2() {
                    // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

pub(super) use multiversion;
