/* runtime.cl - kernels the runtime itself needs.
 *   fill_u32 (dst, dst_off (elements), n, value): dst[dst_off + i] = value for i < n. The one
 *   zero-fill of clft (clft_buf_fill_zero, clft_zero, GEMM scratch), used instead of
 *   clEnqueueFillBuffer, whose writes Oclgrind's uninitialized-value checker does not track (later
 *   kernel stores to such a buffer were reported as uninitialized). */
__kernel void fill_u32(__global uint *dst, ulong dst_off, ulong n, uint value) {
    const size_t i = get_global_id(0);
    if (i < n) dst[dst_off + i] = value;
}
