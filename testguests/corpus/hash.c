/* Hash tables: open addressing (linear probing, tombstones, growth) keyed
 * by strings, and separate chaining keyed by integers, both on static pools
 * instead of malloc. Exercised by counting words in a generated text. */
#include "corpus.h"

/* ---- string-keyed open addressing ---- */

#define OA_MAX 1024
#define KEY_MAX 16

struct oa_slot {
    char key[KEY_MAX];
    uint32_t hash;
    int32_t value;
    uint8_t state;        /* 0 empty, 1 used, 2 deleted */
};

struct oa_table {
    struct oa_slot slots[OA_MAX];
    uint32_t cap, used, tomb;
};

static struct oa_table oa, oa_tmp;

static uint32_t fnv1a(const char *s, uint32_t *len)
{
    uint32_t h = 2166136261u, n = 0;
    for (; s[n]; n++)
        h = (h ^ (uint8_t)s[n]) * 16777619u;
    *len = n;
    return h;
}

static int key_eq(const char *a, const char *b)
{
    for (int i = 0; i < KEY_MAX; i++) {
        if (a[i] != b[i])
            return 0;
        if (!a[i])
            return 1;
    }
    return 1;
}

static void oa_init(struct oa_table *t, uint32_t cap)
{
    cmemset(t->slots, 0, cap * sizeof t->slots[0]);
    t->cap = cap;
    t->used = t->tomb = 0;
}

static struct oa_slot *oa_find(struct oa_table *t, const char *key, uint32_t h, int for_insert)
{
    uint32_t mask = t->cap - 1, i = h & mask;
    struct oa_slot *first_tomb = 0;
    for (uint32_t probes = 0; probes < t->cap; probes++, i = (i + 1) & mask) {
        struct oa_slot *s = &t->slots[i];
        if (s->state == 0)
            return for_insert ? (first_tomb ? first_tomb : s) : 0;
        if (s->state == 2) {
            if (!first_tomb)
                first_tomb = s;
        } else if (s->hash == h && key_eq(s->key, key)) {
            return s;
        }
    }
    return for_insert ? first_tomb : 0;
}

static void oa_put(struct oa_table *t, const char *key, int32_t delta);

static void oa_grow(struct oa_table *t)
{
    uint32_t cap = t->cap * 2 > OA_MAX ? OA_MAX : t->cap * 2;
    oa_tmp.cap = t->cap;
    cmemcpy(oa_tmp.slots, t->slots, t->cap * sizeof t->slots[0]);
    oa_init(t, cap);
    for (uint32_t i = 0; i < oa_tmp.cap; i++)
        if (oa_tmp.slots[i].state == 1)
            oa_put(t, oa_tmp.slots[i].key, oa_tmp.slots[i].value);
}

static void oa_put(struct oa_table *t, const char *key, int32_t delta)
{
    if ((t->used + t->tomb + 1) * 4 > t->cap * 3 && t->cap < OA_MAX)
        oa_grow(t);
    uint32_t len, h = fnv1a(key, &len);
    struct oa_slot *s = oa_find(t, key, h, 1);
    if (!s)
        return;
    if (s->state == 1) {
        s->value += delta;
        return;
    }
    if (s->state == 2)
        t->tomb--;
    s->state = 1;
    s->hash = h;
    s->value = delta;
    uint32_t n = len < KEY_MAX - 1 ? len : KEY_MAX - 1;
    cmemcpy(s->key, key, n);
    s->key[n] = 0;
    t->used++;
}

static int oa_get(struct oa_table *t, const char *key, int32_t *out)
{
    uint32_t len, h = fnv1a(key, &len);
    struct oa_slot *s = oa_find(t, key, h, 0);
    if (!s)
        return 0;
    *out = s->value;
    return 1;
}

static int oa_del(struct oa_table *t, const char *key)
{
    uint32_t len, h = fnv1a(key, &len);
    struct oa_slot *s = oa_find(t, key, h, 0);
    if (!s)
        return 0;
    s->state = 2;
    t->used--;
    t->tomb++;
    return 1;
}

/* ---- integer-keyed chaining ---- */

#define CH_BUCKETS 64
#define CH_NODES 512

struct ch_node {
    uint32_t key;
    uint32_t value;
    struct ch_node *next;
};

static struct ch_node ch_pool[CH_NODES];
static struct ch_node *ch_free, *ch_bucket[CH_BUCKETS];

static uint32_t murmur_fmix(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static void ch_init(void)
{
    cmemset(ch_bucket, 0, sizeof ch_bucket);
    ch_free = 0;
    for (int i = CH_NODES - 1; i >= 0; i--) {
        ch_pool[i].next = ch_free;
        ch_free = &ch_pool[i];
    }
}

static int ch_insert(uint32_t key, uint32_t value)
{
    struct ch_node **b = &ch_bucket[murmur_fmix(key) % CH_BUCKETS];
    for (struct ch_node *n = *b; n; n = n->next)
        if (n->key == key) {
            n->value = value;
            return 1;
        }
    if (!ch_free)
        return 0;
    struct ch_node *n = ch_free;
    ch_free = n->next;
    n->key = key;
    n->value = value;
    n->next = *b;
    *b = n;
    return 1;
}

static int ch_remove(uint32_t key)
{
    struct ch_node **pp = &ch_bucket[murmur_fmix(key) % CH_BUCKETS];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->key == key) {
            struct ch_node *n = *pp;
            *pp = n->next;
            n->next = ch_free;
            ch_free = n;
            return 1;
        }
    }
    return 0;
}

static struct ch_node *ch_lookup(uint32_t key)
{
    for (struct ch_node *n = ch_bucket[murmur_fmix(key) % CH_BUCKETS]; n; n = n->next)
        if (n->key == key)
            return n;
    return 0;
}

/* ---- self test ---- */

static const char *const syllables[] = {
    "ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "qua", "zen", "x", "yo",
};

uint32_t hash_selftest(void)
{
    uint32_t s = 777, h = 0, bad = 0;
    char word[KEY_MAX];
    oa_init(&oa, 16);

    /* Word counting: 1500 pseudo-random words of 1-3 syllables. */
    for (int i = 0; i < 1500; i++) {
        int nsyl = 1 + (int)(xs32(&s) % 3), len = 0;
        for (int k = 0; k < nsyl; k++) {
            const char *sy = syllables[xs32(&s) % 12];
            while (*sy && len < KEY_MAX - 1)
                word[len++] = *sy++;
        }
        word[len] = 0;
        oa_put(&oa, word, 1);
    }
    int32_t total = 0;
    uint32_t distinct = 0;
    for (uint32_t i = 0; i < oa.cap; i++) {
        if (oa.slots[i].state == 1) {
            total += oa.slots[i].value;
            distinct++;
            /* order-independent combination */
            h += murmur_fmix(oa.slots[i].hash ^ (uint32_t)oa.slots[i].value);
        }
    }
    CHECK(total == 1500);
    CHECK(distinct == oa.used);
    h = mix32(h, distinct);

    /* Delete every word that occurs an odd number of times, then re-check. */
    static char keys[OA_MAX][KEY_MAX];
    uint32_t nkeys = 0;
    for (uint32_t i = 0; i < oa.cap; i++)
        if (oa.slots[i].state == 1 && (oa.slots[i].value & 1))
            cmemcpy(keys[nkeys++], oa.slots[i].key, KEY_MAX);
    for (uint32_t i = 0; i < nkeys; i++)
        CHECK(oa_del(&oa, keys[i]));
    for (uint32_t i = 0; i < nkeys; i++) {
        int32_t v;
        CHECK(!oa_get(&oa, keys[i], &v));
        oa_put(&oa, keys[i], 1000);    /* reuses tombstones */
        CHECK(oa_get(&oa, keys[i], &v) && v == 1000);
    }
    h = mix32(h, nkeys);
    h = mix32(h, oa.cap);

    /* Chaining: insert, overwrite, remove, look up. */
    ch_init();
    for (uint32_t i = 0; i < 400; i++)
        CHECK(ch_insert(i * 2654435761u, i));
    for (uint32_t i = 0; i < 400; i += 3)
        CHECK(ch_insert(i * 2654435761u, i ^ 0xFFFF));
    for (uint32_t i = 0; i < 400; i += 5)
        CHECK(ch_remove(i * 2654435761u));
    for (uint32_t i = 0; i < 400; i++) {
        struct ch_node *n = ch_lookup(i * 2654435761u);
        if (i % 5 == 0) {
            CHECK(!n);
        } else {
            CHECK(n && n->value == (i % 3 == 0 ? (i ^ 0xFFFF) : i));
            if (n)
                h = mix32(h, n->value);
        }
    }
    uint32_t longest = 0;
    for (int b = 0; b < CH_BUCKETS; b++) {
        uint32_t len = 0;
        for (struct ch_node *n = ch_bucket[b]; n; n = n->next)
            len++;
        longest = len > longest ? len : longest;
    }
    h = mix32(h, longest);
    return h ^ (bad << 20);
}
