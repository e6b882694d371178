/* bench-x87: a double-precision floating-point benchmark for `make bench`
 * (Benchmarks/fpu/run.sh), built with -O2 -march=i686 -fno-math-errno, so
 * gcc emits x87 code (fld/fmul/faddp/fdivr/fsqrt/fstp, values kept on the
 * register stack). bench-sse2.c is this same file built with -O2
 * -march=pentium4 -msse2 -mfpmath=sse (scalar SSE2: mulsd/addsd/divsd/
 * sqrtsd).
 *
 * Each iteration is one time step of a 5-body gravity simulation (10 pairs:
 * differences, a squared distance, sqrt, a division, velocity updates; then
 * the positions), plus a degree-8 Horner polynomial of one coordinate
 * accumulated into a sum. The x87 precision control is set to 53 bits
 * (rt_fpu_init), and no value leaves the double range, so the x87 and the
 * SSE2 builds compute the same doubles bit for bit, and so does a native
 * x86-64 build: the checksum (the bits of every position and velocity and
 * of the sum at the end) is compared with the table below, which `make -C
 * testguests host-check` recomputes natively for both counts the Makefile
 * builds and fails unless each prints "ok". Output: TAP with "# iterations:
 * N" (read by Benchmarks/peers/run-peers.sh); exit code 0 only if the
 * checksum matches. Needs only serial output and port 0xF4, plus CR0/CR4
 * set up for the FPU and SSE. Instruction counts are in Benchmarks/fpu/run.sh's
 * output (x86v --stats, or Bochs's instruction count while x86v cannot run
 * them). */
#include "runtime.h"

#ifndef ITERATIONS
#define ITERATIONS 200000u
#endif
#ifndef BENCH_NAME
#define BENCH_NAME "bench-x87"
#endif

/* Checksums of a whole run, from the native build (make host-check). */
static const struct {
    uint32_t iterations;
    uint32_t checksum;
} expected[] = {
    { 200000u, 0x8a1da8b8u },
    { 1000u, 0x947d8f7cu },
};

#define NB 5

struct body {
    double x, y, z, vx, vy, vz, m;
};

static struct body bodies[NB] = {
    { 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 40.0 },
    { 4.0, 0.0, 0.5, 0.0, 3.1, 0.05, 0.05 },
    { -7.5, 1.0, -0.3, 0.2, -2.3, 0.0, 0.02 },
    { 0.5, 11.0, 0.1, -1.9, 0.1, 0.03, 0.01 },
    { -2.0, -14.0, 1.0, 1.6, -0.3, -0.02, 0.015 },
};

static const double poly[9] = {
    1.0, 0.5, 0.125, 0.0208333333333333333, 0.00260416666666666667,
    2.60416666666666667e-4, 2.17013888888888889e-5, 1.55009920634920635e-6, 9.68812003968253968e-8,
};

static double advance(double dt, double acc)
{
    for (int i = 0; i < NB; i++) {
        struct body *a = &bodies[i];
        for (int j = i + 1; j < NB; j++) {
            struct body *b = &bodies[j];
            double dx = a->x - b->x, dy = a->y - b->y, dz = a->z - b->z;
            double d2 = dx * dx + dy * dy + dz * dz + 0.01;
            double d = __builtin_sqrt(d2);
            double mag = dt / (d2 * d);
            double ma = a->m * mag, mb = b->m * mag;
            a->vx -= dx * mb;
            a->vy -= dy * mb;
            a->vz -= dz * mb;
            b->vx += dx * ma;
            b->vy += dy * ma;
            b->vz += dz * ma;
        }
    }
    for (int i = 0; i < NB; i++) {
        bodies[i].x += dt * bodies[i].vx;
        bodies[i].y += dt * bodies[i].vy;
        bodies[i].z += dt * bodies[i].vz;
    }
    /* Horner: exp(t/2)-like series of a bounded coordinate */
    double t = bodies[1].x * 0.25;
    double p = poly[8];
    for (int k = 7; k >= 0; k--)
        p = p * t + poly[k];
    return acc + p;
}

static uint32_t fold(uint32_t acc, uint32_t v)
{
    acc ^= v;
    acc = (acc << 7) | (acc >> 25);
    return acc * 0x01000193u + 0x7F4A7C15u;
}

static uint32_t fold_double(uint32_t acc, double d)
{
    uint32_t w[2];
    memcpy(w, &d, 8);
    return fold(fold(acc, w[0]), w[1]);
}

static void hex_into(char *out, uint32_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 15];
}

int guest_main(void)
{
#ifndef HOST_BUILD
    rt_fpu_init();                 /* x87 PC = 53 bits, SSE on */
#endif
    puts("x86v-guest: " BENCH_NAME "\n");
    tap_plan(1);
    puts("# iterations: ");
    putDec(ITERATIONS);
    putc('\n');

    double acc = 0.0;
    for (uint32_t n = 0; n < ITERATIONS; n++)
        acc = advance(0.001, acc);

    uint32_t sum = 0x811C9DC5u;
    for (int i = 0; i < NB; i++) {
        sum = fold_double(sum, bodies[i].x);
        sum = fold_double(sum, bodies[i].y);
        sum = fold_double(sum, bodies[i].z);
        sum = fold_double(sum, bodies[i].vx);
        sum = fold_double(sum, bodies[i].vy);
        sum = fold_double(sum, bodies[i].vz);
    }
    sum = fold_double(sum, acc);

    int known = 0;
    uint32_t want = 0;
    for (uint32_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        if (expected[i].iterations == ITERATIONS) {
            known = 1;
            want = expected[i].checksum;
        }
    if (!known)
        puts("# no expected checksum for this count (add it from make -C testguests host-check)\n");
    else if (sum != want) {
        puts("# expected 0x");
        putHex32(want);
        putc('\n');
    }
    static char desc[] = "checksum 0x........";
    hex_into(desc + 11, sum);
    tap_ok(known && sum == want, desc);
    puts("# " BENCH_NAME " done\n");   /* bochs/run-bochs.sh stops here */
    return tap_exit_code();
}
