/* runtime.cl - kernels the runtime itself needs.
 *   fill_u32 (dst (n) uint, n, value): dst[i] = value. Used instead of clEnqueueFillBuffer, whose
 *   writes Oclgrind's uninitialized-value checker does not track (later kernel stores to such a
 *   buffer were reported as uninitialized). */
__kernel void fill_u32(__global uint *dst, ulong n, uint value) {
    const size_t i = get_global_id(0);
    if (i < n) dst[i] = value;
}
