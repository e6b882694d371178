/* Per-variant entry: the only symbol left global after objcopy -G is
 * corpus_<VARIANT>_run, so five builds of the corpus can share one link. */
#include "corpus.h"

#define PASTE3(a, b, c) a##b##c
#define XPASTE3(a, b, c) PASTE3(a, b, c)
#define RUN_FN XPASTE3(corpus_, VARIANT, _run)

int RUN_FN(uint32_t *out);
int RUN_FN(uint32_t *out)
{
    int n = 0;
#define RUN_ONE(m) out[n++] = m##_selftest();
    CORPUS_MODULES(RUN_ONE)
#undef RUN_ONE
    return n;
}
