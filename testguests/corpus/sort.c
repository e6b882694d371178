/* Sorting algorithms over int32 arrays and a generic (size + comparator)
 * sort, each checked for sortedness. Indirect calls through comparators,
 * recursion, and lots of loads/stores/compares. */
#include "corpus.h"

#define N 512

typedef int (*cmp_fn)(const void *, const void *);

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_u16_desc(const void *a, const void *b)
{
    uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
    return (int)y - (int)x;
}

struct pair {
    uint32_t key;
    char tag[6];
    int16_t val;
};

static int cmp_pair(const void *a, const void *b)
{
    const struct pair *p = a, *q = b;
    if (p->key != q->key)
        return p->key < q->key ? -1 : 1;
    return p->val - q->val;
}

static void insertion_sort(int32_t *a, int n)
{
    for (int i = 1; i < n; i++) {
        int32_t v = a[i];
        int j = i;
        while (j > 0 && a[j - 1] > v) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

static void shell_sort(int32_t *a, int n)
{
    static const int gaps[] = { 701, 301, 132, 57, 23, 10, 4, 1 };
    for (unsigned g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
        int gap = gaps[g];
        for (int i = gap; i < n; i++) {
            int32_t v = a[i];
            int j = i;
            for (; j >= gap && a[j - gap] > v; j -= gap)
                a[j] = a[j - gap];
            a[j] = v;
        }
    }
}

static void sift_down(int32_t *a, int start, int end)
{
    int root = start;
    while (2 * root + 1 <= end) {
        int child = 2 * root + 1, swap = root;
        if (a[swap] < a[child])
            swap = child;
        if (child + 1 <= end && a[swap] < a[child + 1])
            swap = child + 1;
        if (swap == root)
            return;
        int32_t t = a[root];
        a[root] = a[swap];
        a[swap] = t;
        root = swap;
    }
}

static void heap_sort(int32_t *a, int n)
{
    for (int start = (n - 2) / 2; start >= 0; start--)
        sift_down(a, start, n - 1);
    for (int end = n - 1; end > 0; end--) {
        int32_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end - 1);
    }
}

static void quick_sort(int32_t *a, int lo, int hi)
{
    while (lo < hi) {
        if (hi - lo < 12) {
            insertion_sort(a + lo, hi - lo + 1);
            return;
        }
        int mid = lo + (hi - lo) / 2;
        /* median of three into a[mid] */
        if (a[mid] < a[lo]) { int32_t t = a[mid]; a[mid] = a[lo]; a[lo] = t; }
        if (a[hi] < a[lo]) { int32_t t = a[hi]; a[hi] = a[lo]; a[lo] = t; }
        if (a[hi] < a[mid]) { int32_t t = a[hi]; a[hi] = a[mid]; a[mid] = t; }
        int32_t pivot = a[mid];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                int32_t t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        }
        /* recurse into the smaller half, loop on the larger */
        if (j - lo < hi - i) {
            quick_sort(a, lo, j);
            lo = i;
        } else {
            quick_sort(a, i, hi);
            hi = j;
        }
    }
}

static int32_t scratch[N];

static void merge_sort(int32_t *a, int n)
{
    for (int width = 1; width < n; width *= 2) {
        for (int lo = 0; lo < n; lo += 2 * width) {
            int mid = lo + width < n ? lo + width : n;
            int hi = lo + 2 * width < n ? lo + 2 * width : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                scratch[k++] = a[j] < a[i] ? a[j++] : a[i++];
            while (i < mid) scratch[k++] = a[i++];
            while (j < hi) scratch[k++] = a[j++];
        }
        cmemcpy(a, scratch, (size_t)n * sizeof *a);
    }
}

/* LSD radix sort on the sign-flipped keys, one byte per pass. */
static void radix_sort(int32_t *a, int n)
{
    uint32_t *src = (uint32_t *)a, *dst = (uint32_t *)scratch;
    for (int shift = 0; shift < 32; shift += 8) {
        uint32_t count[257];
        cmemset(count, 0, sizeof count);
        for (int i = 0; i < n; i++)
            count[(((src[i] ^ 0x80000000u) >> shift) & 0xFF) + 1]++;
        for (int i = 0; i < 256; i++)
            count[i + 1] += count[i];
        for (int i = 0; i < n; i++)
            dst[count[((src[i] ^ 0x80000000u) >> shift) & 0xFF]++] = src[i];
        uint32_t *t = src; src = dst; dst = t;
    }
    /* four passes: result is back in a */
}

static void swap_bytes(uint8_t *a, uint8_t *b, size_t size)
{
    while (size--) {
        uint8_t t = *a;
        *a++ = *b;
        *b++ = t;
    }
}

/* Generic comb sort (any element size), like a minimal qsort. */
static void generic_sort(void *base, size_t n, size_t size, cmp_fn cmp)
{
    uint8_t *b = base;
    size_t gap = n;
    int swapped = 1;
    while (gap > 1 || swapped) {
        gap = gap * 10 / 13;
        if (gap == 9 || gap == 10)
            gap = 11;
        if (gap < 1)
            gap = 1;
        swapped = 0;
        for (size_t i = 0; i + gap < n; i++) {
            if (cmp(b + i * size, b + (i + gap) * size) > 0) {
                swap_bytes(b + i * size, b + (i + gap) * size, size);
                swapped = 1;
            }
        }
    }
}

static int is_sorted(const int32_t *a, int n)
{
    for (int i = 1; i < n; i++)
        if (a[i - 1] > a[i])
            return 0;
    return 1;
}

static uint32_t sum_hash(const int32_t *a, int n)
{
    uint32_t h = 0;
    for (int i = 0; i < n; i++)
        h = h * 31 + (uint32_t)a[i];
    return h;
}

static int32_t data[N], work[N];
static uint16_t shorts[N];
static struct pair pairs[64];

uint32_t sort_selftest(void)
{
    uint32_t s = 0xC0FFEE, h = 0, bad = 0;
    for (int i = 0; i < N; i++)
        data[i] = (int32_t)xs32(&s) >> (i & 15);

    void (*algos[])(int32_t *, int) = { insertion_sort, shell_sort, heap_sort, merge_sort, radix_sort };
    uint32_t ref = 0;
    for (unsigned k = 0; k < sizeof algos / sizeof algos[0]; k++) {
        cmemcpy(work, data, sizeof work);
        algos[k](work, N);
        CHECK(is_sorted(work, N));
        uint32_t sh = sum_hash(work, N);
        if (k == 0)
            ref = sh;
        CHECK(sh == ref);
    }
    cmemcpy(work, data, sizeof work);
    quick_sort(work, 0, N - 1);
    CHECK(is_sorted(work, N) && sum_hash(work, N) == ref);
    h = mix32(h, ref);

    cmemcpy(work, data, sizeof work);
    generic_sort(work, N, sizeof work[0], cmp_i32);
    CHECK(sum_hash(work, N) == ref);

    for (int i = 0; i < N; i++)
        shorts[i] = (uint16_t)xs32(&s);
    generic_sort(shorts, N, sizeof shorts[0], cmp_u16_desc);
    for (int i = 1; i < N; i++)
        CHECK(shorts[i - 1] >= shorts[i]);
    for (int i = 0; i < N; i += 7)
        h = mix32(h, shorts[i]);

    for (int i = 0; i < 64; i++) {
        pairs[i].key = xs32(&s) & 7;
        pairs[i].val = (int16_t)(xs32(&s) & 0x7FF);
        cfmt(pairs[i].tag, sizeof pairs[i].tag, "t%d", i);
    }
    generic_sort(pairs, 64, sizeof pairs[0], cmp_pair);
    for (int i = 0; i < 64; i++) {
        h = mix32(h, pairs[i].key * 4096 + (uint32_t)pairs[i].val);
        h = mix32(h, (uint8_t)pairs[i].tag[1]);
        if (i)
            CHECK(cmp_pair(&pairs[i - 1], &pairs[i]) <= 0);
    }
    return h ^ (bad << 20);
}
