/* bench-sse2: the loop of bench-x87.c (a 5-body gravity step plus a Horner
 * polynomial per iteration, double precision), built with -O2
 * -march=pentium4 -msse2 -mfpmath=sse -fno-math-errno so gcc emits scalar
 * SSE2 (movsd/mulsd/addsd/subsd/divsd/sqrtsd) instead of x87. It computes
 * the same doubles as the x87 build (x87 precision control 53 bits, no
 * value outside the double range) and so has the same checksums; see
 * bench-x87.c. For `make bench` (Benchmarks/fpu/run.sh). */
#define BENCH_NAME "bench-sse2"
#include "bench-x87.c"
