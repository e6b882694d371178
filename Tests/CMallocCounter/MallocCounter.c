// Replaces the allocation entry points for the test process only, forwarding to glibc's
// internal implementations, so a test can prove a code path performs no heap allocation.
#include <stddef.h>
#include <stdint.h>
#include "MallocCounter.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

// Per thread: the test runner runs other tests concurrently, and their allocations must not count.
static _Thread_local uint64_t count;

uint64_t x86v_malloc_count(void) { return count; }

void *malloc(size_t n) { count++; return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { count++; return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { count++; return __libc_realloc(p, n); }
int posix_memalign(void **out, size_t align, size_t n) {
    count++;
    void *p = __libc_memalign(align, n);
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}
void *aligned_alloc(size_t align, size_t n) { count++; return __libc_memalign(align, n); }
