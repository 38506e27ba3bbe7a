//! Eight f32 lanes for the transforms, the padding of channels to whole groups of them, and
//! the instruction set the transforms are compiled for.

/// What the transforms' loops are compiled for: x86-64's baseline (SSE2) or the like, or
/// AVX2 where the CPU has it. The operations are the same lane by lane, so the results are
/// too (tested bit for bit).
#[derive(Clone, Copy)]
pub(super) enum Isa {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2(Detected),
}

/// Proof that the CPU has AVX2: only `Isa::detect` makes one.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(super) struct Detected(());

impl Isa {
    pub(super) fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Isa::Avx2(Detected(()));
        }
        Isa::Portable
    }
}

/// Channels and filters are padded to whole groups of eight lanes in the workspace, so that
/// the transforms run on `F8`s with no remainder; padded channels hold zeros and padded
/// filters' lanes are never written out.
pub(super) fn lanes(n: usize) -> usize {
    n.next_multiple_of(F8::LANES)
}

/// Eight f32 lanes as a fixed array, which the compiler turns into one AVX or two SSE
/// vectors: elementwise arithmetic, a load and a store.
#[derive(Clone, Copy)]
pub(super) struct F8(pub [f32; 8]);

impl F8 {
    pub const LANES: usize = 8;
    pub const ZERO: F8 = F8([0.0; 8]);

    #[inline(always)]
    pub fn at(src: &[f32], i: usize) -> F8 {
        let mut lanes = [0.0; 8];
        lanes.copy_from_slice(&src[i..i + 8]);
        F8(lanes)
    }

    /// Exact: G's halves lose nothing.
    #[inline(always)]
    pub fn half(mut self) -> F8 {
        for a in &mut self.0 {
            *a *= 0.5;
        }
        self
    }

    #[inline(always)]
    pub fn put(self, dst: &mut [f32], i: usize) {
        dst[i..i + 8].copy_from_slice(&self.0);
    }
}

impl std::ops::Add for F8 {
    type Output = F8;

    #[inline(always)]
    fn add(mut self, other: F8) -> F8 {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
        self
    }
}

impl std::ops::Sub for F8 {
    type Output = F8;

    #[inline(always)]
    fn sub(mut self, other: F8) -> F8 {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a -= b;
        }
        self
    }
}

impl std::ops::Neg for F8 {
    type Output = F8;

    #[inline(always)]
    fn neg(mut self) -> F8 {
        for a in &mut self.0 {
            *a = -*a;
        }
        self
    }
}

/// f32s from a 64-byte boundary (a cache line): the transforms' buffers and the operands
/// `gemm` reads, whose speed depended on where the allocator happened to start them. A
/// zeroed `Vec` a line longer, so that pages never written are never touched either.
pub(super) struct Aligned {
    data: Vec<f32>,
    start: usize,
    len: usize,
}

impl Aligned {
    pub(super) fn zeros(len: usize) -> Aligned {
        let data = vec![0.0; len + 15];
        let start = data.as_ptr().align_offset(64).min(15);
        Aligned { data, start, len }
    }
}

impl std::ops::Deref for Aligned {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        &self.data[self.start..self.start + self.len]
    }
}

impl std::ops::DerefMut for Aligned {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.data[self.start..self.start + self.len]
    }
}
