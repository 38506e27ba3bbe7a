// The parameters that the matrix product kernels share (matmul.wgsl, matmul_blocked.wgsl and
// matmul_shared.wgsl are each rendered after this prelude): src/ops/matmul/gpu.rs's
// `MatmulParams`, the batch dimensions' shape and each operand's strides along them, the
// product's sizes and tiles, and each operand's offset and matrix strides.
struct Params {
    batch_shape: array<vec4<u32>, 2>,
    a_batch_strides: array<vec4<u32>, 2>,
    b_batch_strides: array<vec4<u32>, 2>,
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    tiles_m: u32,
    tiles_n: u32,
    // In vectors of 4 in matmul_blocked.wgsl, in elements elsewhere.
    a_offset: u32,
    b_offset: u32,
    a_row_stride: u32,
    a_col_stride: u32,
    b_row_stride: u32,
    b_col_stride: u32,
    batch_rank: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
