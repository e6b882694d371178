/* corpus.elf entry: runs every corpus module in each of the five compiled
 * variants and checks that all variants agree with the checksum from a
 * native x86-64 host build (make host-check prints them). The same ELF
 * doubles as a large body of compiler-generated code for decoder tests. */
#include "runtime.h"
#include "corpus.h"

#define DECLARE_RUN(v) int corpus_##v##_run(uint32_t *out);
#define VARIANTS(X) X(O0) X(O2) X(Os) X(p3) X(p4)
VARIANTS(DECLARE_RUN)

static const struct {
    const char *name;
    int (*run)(uint32_t *out);
} variants[] = {
#define VARIANT_ENTRY(v) { #v, corpus_##v##_run },
    VARIANTS(VARIANT_ENTRY)
};
#define NVARIANTS (sizeof variants / sizeof variants[0])

static const char *const module_names[] = {
#define MODULE_NAME(m) #m,
    CORPUS_MODULES(MODULE_NAME)
};

/* Native host results, in CORPUS_MODULES order. */
static const uint32_t expected[CORPUS_NMODULES] = {
    0x43641853, /* fmt */
    0xf1f3ac83, /* sort */
    0x6fd0228f, /* hash */
    0xff49a63c, /* bignum */
    0xe2e484f5, /* regex */
    0x3f412be8, /* crypto */
    0x6fde510d, /* matrix */
    0xf1408fd0, /* strings */
    0x49f302c9, /* lz */
    0x4c6ad66a, /* vm */
    0x3bc3d7ce, /* bits */
    0x52e9b4af, /* tree */
};

static uint32_t results[NVARIANTS][CORPUS_NMODULES];

int guest_main(void)
{
    puts("x86v-guest: corpus\n");
    rt_cpu_init();    /* report faults instead of triple-faulting */
    rt_fpu_init();    /* x87 + SSE2 for the floating-point module */
    tap_plan(CORPUS_NMODULES);
    for (unsigned v = 0; v < NVARIANTS; v++) {
        int n = variants[v].run(results[v]);
        if (n != CORPUS_NMODULES) {
            puts("Bail out! wrong module count\n");
            return 1;
        }
    }
    for (int m = 0; m < CORPUS_NMODULES; m++) {
        int all = 1;
        puts("#");
        for (unsigned v = 0; v < NVARIANTS; v++) {
            puts(" ");
            puts(variants[v].name);
            puts("=");
            putHex32(results[v][m]);
            all &= results[v][m] == expected[m];
        }
        putc('\n');
        tap_ok(all, module_names[m]);
    }
    return tap_exit_code();
}
