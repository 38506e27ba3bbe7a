//! The transforms of one tile, on eight lanes at a time: B, G and A of F(2×2, 3×3).

use crate::ops::conv::winograd::eight_lanes::F8;

/// G g Gᵀ of one 3×3 filter.
#[inline(always)]
pub(super) fn filter_tile(g: [[F8; 3]; 3]) -> [[F8; 4]; 4] {
    let times_g = |[a, b, e]: [F8; 3]| [a, (a + b + e).half(), (a - b + e).half(), e];
    let [c0, c1, c2] = [times_g(g[0]), times_g(g[1]), times_g(g[2])];
    let mut u = [[F8::ZERO; 4]; 4];
    for j in 0..4 {
        let [i0, i1, i2, i3] = times_g([c0[j], c1[j], c2[j]]);
        (u[0][j], u[1][j], u[2][j], u[3][j]) = (i0, i1, i2, i3);
    }
    u
}

/// Bᵀ d B of one 4×4 window.
#[inline(always)]
pub(super) fn input_tile(d: [[F8; 4]; 4]) -> [[F8; 4]; 4] {
    let times_b = |[d0, d1, d2, d3]: [F8; 4]| [d0 - d2, d1 + d2, d2 - d1, d1 - d3];
    let [r0, r1, r2, r3] = [times_b(d[0]), times_b(d[1]), times_b(d[2]), times_b(d[3])];
    let mut v = [[F8::ZERO; 4]; 4];
    for j in 0..4 {
        let [i0, i1, i2, i3] = times_b([r0[j], r1[j], r2[j], r3[j]]);
        (v[0][j], v[1][j], v[2][j], v[3][j]) = (i0, i1, i2, i3);
    }
    v
}

/// Aᵀ M A of one tile's 16 products, [xi]: its 2×2 outputs.
#[inline(always)]
pub(super) fn output_tile(m: [F8; 16]) -> [[F8; 2]; 2] {
    let mut down = [[F8::ZERO; 4]; 2];
    for j in 0..4 {
        down[0][j] = m[j] + m[4 + j] + m[8 + j];
        down[1][j] = m[4 + j] - m[8 + j] - m[12 + j];
    }
    let times_a = |[a0, a1, a2, a3]: [F8; 4]| [a0 + a1 + a2, a1 - a2 - a3];
    [times_a(down[0]), times_a(down[1])]
}

/// A g Aᵀ of one tile's 2×2 output gradients g: the gradient of its 16 products (the
/// adjoint of `output_tile`).
#[inline(always)]
pub(super) fn gradient_tile(g: [[F8; 2]; 2]) -> [[F8; 4]; 4] {
    let times_at = |[a, b]: [F8; 2]| [a, a + b, a - b, -b];
    let [r0, r1] = [times_at(g[0]), times_at(g[1])];
    let mut z = [[F8::ZERO; 4]; 4];
    for j in 0..4 {
        let [i0, i1, i2, i3] = times_at([r0[j], r1[j]]);
        (z[0][j], z[1][j], z[2][j], z[3][j]) = (i0, i1, i2, i3);
    }
    z
}

/// Gᵀ ∂U G: the gradient of a 3×3 filter from that of its transform (the adjoint of
/// `filter_tile`).
#[inline(always)]
pub(super) fn filter_gradient_tile(du: [[F8; 4]; 4]) -> [[F8; 3]; 3] {
    let times_gt = |[m0, m1, m2, m3]: [F8; 4]| {
        let (sum, difference) = (m1 + m2, m1 - m2);
        [m0 + sum.half(), difference.half(), sum.half() + m3]
    };
    let [r0, r1, r2] = {
        let column = |j: usize| times_gt([du[0][j], du[1][j], du[2][j], du[3][j]]);
        let [c0, c1, c2, c3] = [column(0), column(1), column(2), column(3)];
        [
            [c0[0], c1[0], c2[0], c3[0]],
            [c0[1], c1[1], c2[1], c3[1]],
            [c0[2], c1[2], c2[2], c3[2]],
        ]
    };
    [times_gt(r0), times_gt(r1), times_gt(r2)]
}
