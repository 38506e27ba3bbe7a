//! A device's measured peaks, and the roofline they draw: a kernel of arithmetic intensity
//! I (FLOP per byte) can reach at most min(compute peak, I · bandwidth).

/// What a device was measured to do at best.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peaks {
    /// A streaming copy's bytes (read and written) per second.
    pub copy_bytes_per_s: f64,
    /// A streaming read's bytes per second (a copy's writes cost more than its reads, so a
    /// kernel that mostly reads, as a reduction, can pass the copy).
    pub read_bytes_per_s: f64,
    /// Register-resident fused multiply-adds, 2 FLOP each, per second.
    pub flop_per_s: f64,
    /// The time of a dispatch (GPU) or a parallel loop (CPU path) that does nothing, seconds.
    pub empty_s: f64,
}

impl Peaks {
    /// The memory roof's slope: the better of the copy and the read, bytes per second.
    pub fn bytes_per_s(&self) -> f64 {
        self.copy_bytes_per_s.max(self.read_bytes_per_s)
    }

    /// The intensity where the bandwidth roof meets the compute roof, FLOP per byte.
    pub fn ridge(&self) -> f64 {
        self.flop_per_s / self.bytes_per_s()
    }

    /// The most FLOP per second a kernel of `intensity` can reach.
    pub fn roof(&self, intensity: f64) -> f64 {
        (intensity * self.bytes_per_s()).min(self.flop_per_s)
    }

    /// Whether a kernel of `intensity` is bound by compute (else by memory).
    pub fn compute_bound(&self, intensity: f64) -> bool {
        intensity >= self.ridge()
    }

    /// A kernel's share of what its roof allows, from its FLOP, bytes and seconds: its FLOP
    /// rate against the roof at its intensity, or for a kernel without FLOP its bandwidth
    /// against the memory roof's.
    pub fn share(&self, flop: u64, bytes: u64, seconds: f64) -> f64 {
        if seconds <= 0.0 || bytes == 0 {
            return 0.0;
        }
        if flop == 0 {
            return bytes as f64 / seconds / self.bytes_per_s();
        }
        let intensity = flop as f64 / bytes as f64;
        flop as f64 / seconds / self.roof(intensity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roof_bends_at_the_ridge() {
        let p = Peaks {
            copy_bytes_per_s: 8e9,
            read_bytes_per_s: 10e9,
            flop_per_s: 100e9,
            empty_s: 1e-6,
        };
        assert_eq!(p.ridge(), 10.0);
        assert_eq!(p.roof(1.0), 10e9);
        assert_eq!(p.roof(50.0), 100e9);
        assert!(!p.compute_bound(2.0) && p.compute_bound(10.0));
        // 1 GFLOP over 0.1 GB at intensity 10 in 20 ms: 50 GFLOP/s of a 100 GFLOP/s roof.
        assert!((p.share(1_000_000_000, 100_000_000, 0.02) - 0.5).abs() < 1e-12);
        // A copy of 1 GB in 0.2 s: 5 GB/s of 10.
        assert!((p.share(0, 1_000_000_000, 0.2) - 0.5).abs() < 1e-12);
    }
}
