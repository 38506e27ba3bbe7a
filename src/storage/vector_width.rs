//! Which of the wide vector units the CPU has, for the loops compiled once per width (an
//! AVX-512 copy, an AVX2 copy, the baseline): one definition, so every such loop asks the
//! same question. The AVX-512 copies enable F, VL, BW and DQ together: with F alone, LLVM
//! fails to select mask instructions in some of them.

/// Whether the CPU has AVX-512 F, VL, BW and DQ.
pub(crate) fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512dq");
    #[cfg(not(target_arch = "x86_64"))]
    false
}
