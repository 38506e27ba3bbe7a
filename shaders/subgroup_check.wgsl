// The subgroup layout that the row kernels' subgroup form assumes, observed: each invocation
// of one 64-invocation workgroup writes its subgroup, its place in it, the subgroup size
// and the number of subgroups (src/backend/gpu/subgroups.rs checks them).
@group(0) @binding(0) var<storage, read_write> seen: array<vec4<u32>, 64>;

@compute @workgroup_size(64)
fn check(@builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) group: u32,
         @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) size: u32,
         @builtin(num_subgroups) count: u32) {
    seen[lid] = vec4<u32>(group, lane, size, count);
}
