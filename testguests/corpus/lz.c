/* Compression round trips: an LZ77 coder with a hash-chain match finder
 * (LZ4-like token format), a PackBits-style RLE, and Huffman code lengths
 * built with a small binary heap. Byte-granular loads/stores, overlapping
 * copies, and bit packing. */
#include "corpus.h"

#define WINDOW 4096
#define HBITS 10
#define MIN_MATCH 4
#define MAX_MATCH 130

static int16_t head[1 << HBITS];
static int16_t chain[WINDOW];

static uint32_t hash4(const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return (v * 2654435761u) >> (32 - HBITS);
}

/* Format: literal-run byte L (1..128 as L-1 | 0x00..0x7F) followed by the
 * literals, or a match byte 0x80 | (len - MIN_MATCH - ... ) with a 2-byte
 * offset. Match lengths MIN_MATCH..MAX_MATCH map to 0x80..0xFE. */
static size_t lz_compress(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t o = 0, lit_start = 0, i = 0;
    for (int k = 0; k < (1 << HBITS); k++)
        head[k] = -1;
    while (i < n) {
        int best_len = 0, best_off = 0;
        if (i + MIN_MATCH <= n) {
            uint32_t hv = hash4(in + i);
            int cand = head[hv], tries = 16;
            while (cand >= 0 && tries-- && i - (size_t)cand < WINDOW) {
                int len = 0;
                while (i + (size_t)len < n && len < MAX_MATCH && in[cand + len] == in[i + (size_t)len])
                    len++;
                if (len > best_len) {
                    best_len = len;
                    best_off = (int)i - cand;
                }
                int next = chain[cand % WINDOW];
                if (next >= cand)
                    break;
                cand = next;
            }
            chain[i % WINDOW] = head[hv];
            head[hv] = (int16_t)i;
        }
        if (best_len >= MIN_MATCH) {
            /* flush pending literals */
            while (lit_start < i) {
                size_t run = i - lit_start > 128 ? 128 : i - lit_start;
                out[o++] = (uint8_t)(run - 1);
                cmemcpy(out + o, in + lit_start, run);
                o += run;
                lit_start += run;
            }
            out[o++] = (uint8_t)(0x80 | (best_len - MIN_MATCH));
            out[o++] = (uint8_t)best_off;
            out[o++] = (uint8_t)(best_off >> 8);
            /* index the skipped positions too */
            for (size_t k = i + 1; k < i + (size_t)best_len && k + MIN_MATCH <= n; k++) {
                uint32_t hv = hash4(in + k);
                chain[k % WINDOW] = head[hv];
                head[hv] = (int16_t)k;
            }
            i += (size_t)best_len;
            lit_start = i;
        } else {
            i++;
        }
    }
    while (lit_start < n) {
        size_t run = n - lit_start > 128 ? 128 : n - lit_start;
        out[o++] = (uint8_t)(run - 1);
        cmemcpy(out + o, in + lit_start, run);
        o += run;
        lit_start += run;
    }
    return o;
}

static size_t lz_decompress(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t t = in[i++];
        if (t & 0x80) {
            size_t len = (size_t)(t & 0x7F) + MIN_MATCH;
            size_t off = in[i] | (size_t)in[i + 1] << 8;
            i += 2;
            if (off == 0 || off > o || o + len > cap)
                return 0;
            for (size_t k = 0; k < len; k++, o++)   /* may overlap: byte copy */
                out[o] = out[o - off];
        } else {
            size_t run = (size_t)t + 1;
            if (o + run > cap)
                return 0;
            cmemcpy(out + o, in + i, run);
            i += run;
            o += run;
        }
    }
    return o;
}

/* PackBits: n>=0: n+1 literals follow; n<0: repeat next byte 1-n times. */
static size_t rle_encode(const uint8_t *in, size_t n, int8_t *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        size_t run = 1;
        while (i + run < n && run < 128 && in[i + run] == in[i])
            run++;
        if (run >= 3) {
            out[o++] = (int8_t)(1 - (int)run);
            out[o++] = (int8_t)in[i];
            i += run;
        } else {
            size_t start = i, lits = 0;
            while (i < n && lits < 128) {
                if (i + 2 < n && in[i] == in[i + 1] && in[i] == in[i + 2])
                    break;
                i++;
                lits++;
            }
            out[o++] = (int8_t)(lits - 1);
            for (size_t k = 0; k < lits; k++)
                out[o++] = (int8_t)in[start + k];
        }
    }
    return o;
}

static size_t rle_decode(const int8_t *in, size_t n, uint8_t *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        int c = in[i++];
        if (c >= 0) {
            for (int k = 0; k <= c; k++)
                out[o++] = (uint8_t)in[i++];
        } else {
            uint8_t v = (uint8_t)in[i++];
            for (int k = 0; k < 1 - c; k++)
                out[o++] = v;
        }
    }
    return o;
}

/* Huffman code lengths from symbol frequencies (min-heap of node ids). */
static void huffman_lengths(const uint32_t *freq, int nsym, uint8_t *len)
{
    uint32_t weight[512];
    int parent[512], heap[256], hn = 0, nodes = nsym;
    for (int i = 0; i < nsym; i++) {
        weight[i] = freq[i];
        parent[i] = -1;
        len[i] = 0;
        if (!freq[i])
            continue;
        /* push i */
        int k = hn++;
        while (k && weight[heap[(k - 1) / 2]] > weight[i]) {
            heap[k] = heap[(k - 1) / 2];
            k = (k - 1) / 2;
        }
        heap[k] = i;
    }
    while (hn > 1) {
        int pair[2];
        for (int p = 0; p < 2; p++) {
            pair[p] = heap[0];
            int last = heap[--hn], k = 0;
            for (;;) {
                int c = 2 * k + 1;
                if (c >= hn)
                    break;
                if (c + 1 < hn && weight[heap[c + 1]] < weight[heap[c]])
                    c++;
                if (weight[heap[c]] >= weight[last])
                    break;
                heap[k] = heap[c];
                k = c;
            }
            heap[k] = last;
        }
        int nn = nodes++;
        weight[nn] = weight[pair[0]] + weight[pair[1]];
        parent[nn] = -1;
        parent[pair[0]] = parent[pair[1]] = nn;
        int k = hn++;
        while (k && weight[heap[(k - 1) / 2]] > weight[nn]) {
            heap[k] = heap[(k - 1) / 2];
            k = (k - 1) / 2;
        }
        heap[k] = nn;
    }
    for (int i = 0; i < nsym; i++) {
        if (!freq[i])
            continue;
        int d = 0;
        for (int p = parent[i]; p >= 0; p = parent[p])
            d++;
        len[i] = (uint8_t)(d ? d : 1);
    }
}

static uint8_t src[6000], packed[7000], unpacked[6000];

uint32_t lz_selftest(void)
{
    uint32_t h = 0, bad = 0, s = 5150;
    /* Compressible input: repeated phrases with some noise and runs. */
    static const char *const phrases[] = {
        "mov eax, ebx; ", "add esp, 4; ", "call decode_modrm; ", "ret; ", "push ebp; ",
    };
    size_t n = 0;
    while (n < sizeof src - 64) {
        uint32_t r = xs32(&s);
        if ((r & 7) == 0) {
            size_t run = 3 + (r >> 8) % 40;
            for (size_t k = 0; k < run; k++)
                src[n++] = (uint8_t)(r >> 16);
        } else if ((r & 7) == 1) {
            src[n++] = (uint8_t)(r >> 24);
        } else {
            const char *p = phrases[(r >> 4) % 5];
            while (*p)
                src[n++] = (uint8_t)*p++;
        }
    }
    size_t clen = lz_compress(src, n, packed);
    size_t dlen = lz_decompress(packed, clen, unpacked, sizeof unpacked);
    CHECK(dlen == n && cmemcmp(src, unpacked, n) == 0);
    CHECK(clen < n / 2);
    h = mix32(h, (uint32_t)clen);
    for (size_t i = 0; i < clen; i += 61)
        h = mix32(h, packed[i]);

    size_t rlen = rle_encode(src, n, (int8_t *)packed);
    size_t rdec = rle_decode((const int8_t *)packed, rlen, unpacked);
    CHECK(rdec == n && cmemcmp(src, unpacked, n) == 0);
    h = mix32(h, (uint32_t)rlen);

    uint32_t freq[256];
    uint8_t len[256];
    cmemset(freq, 0, sizeof freq);
    for (size_t i = 0; i < n; i++)
        freq[src[i]]++;
    huffman_lengths(freq, 256, len);
    uint32_t bits = 0, kraft = 0;   /* Kraft sum scaled by 2^24 must be <= 2^24 */
    for (int i = 0; i < 256; i++) {
        if (!freq[i])
            continue;
        bits += freq[i] * len[i];
        if (len[i] <= 24)
            kraft += 1u << (24 - len[i]);
    }
    CHECK(kraft <= (1u << 24));
    CHECK(bits < n * 8);
    h = mix32(h, bits);
    return h ^ (bad << 20);
}
