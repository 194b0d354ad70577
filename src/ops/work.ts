/**
 * A running count of the floating-point operations issued to the GEMM-like primitives (the three
 * conv2d passes and matmul), so long jobs can report their arithmetic throughput beside the kernel
 * benchmark's rates. Counting is a few multiplications per call; read differences, never reset.
 */
export const gemmWork = { flops: 0 };
