/* String algorithms: naive and KMP search, Levenshtein distance and longest
 * common subsequence (2-D dynamic programming), tokenizing, case-folding
 * compare, number parsing/printing, base64 round trip, word reversal. */
#include "corpus.h"

static size_t slen(const char *s)
{
    const char *p = s;
    while (*p)
        p++;
    return (size_t)(p - s);
}

static int scmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (uint8_t)*a - (uint8_t)*b;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int scasecmp(const char *a, const char *b)
{
    int d;
    while ((d = lower((uint8_t)*a) - lower((uint8_t)*b)) == 0 && *a)
        a++, b++;
    return d;
}

static const char *naive_find(const char *hay, const char *needle)
{
    size_t n = slen(needle);
    if (!n)
        return hay;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] == needle[i])
            i++;
        if (i == n)
            return hay;
    }
    return 0;
}

static int kmp_find(const char *hay, const char *needle)
{
    int fail[64];
    int m = (int)slen(needle);
    if (m == 0)
        return 0;
    if (m > 64)
        return -2;
    fail[0] = 0;
    for (int i = 1, k = 0; i < m; i++) {
        while (k > 0 && needle[i] != needle[k])
            k = fail[k - 1];
        if (needle[i] == needle[k])
            k++;
        fail[i] = k;
    }
    for (int i = 0, k = 0; hay[i]; i++) {
        while (k > 0 && hay[i] != needle[k])
            k = fail[k - 1];
        if (hay[i] == needle[k])
            k++;
        if (k == m)
            return i - m + 1;
    }
    return -1;
}

static int min3(int a, int b, int c)
{
    int m = a < b ? a : b;
    return m < c ? m : c;
}

static int levenshtein(const char *a, const char *b)
{
    int la = (int)slen(a), lb = (int)slen(b);
    int row[65];
    if (lb > 64)
        return -1;
    for (int j = 0; j <= lb; j++)
        row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = row[j];
            row[j] = min3(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1]));
            diag = up;
        }
    }
    return row[lb];
}

static int lcs_len(const char *a, const char *b)
{
    static uint8_t dp[65][65];
    int la = (int)slen(a), lb = (int)slen(b);
    if (la > 64 || lb > 64)
        return -1;
    for (int i = 0; i <= la; i++)
        for (int j = 0; j <= lb; j++) {
            if (!i || !j)
                dp[i][j] = 0;
            else if (a[i - 1] == b[j - 1])
                dp[i][j] = (uint8_t)(dp[i - 1][j - 1] + 1);
            else
                dp[i][j] = dp[i - 1][j] > dp[i][j - 1] ? dp[i - 1][j] : dp[i][j - 1];
        }
    return dp[la][lb];
}

/* strtok_r-like: splits in place on any of delims. */
static char *tok(char **save, const char *delims)
{
    char *s = *save;
    for (;;) {
        if (!*s)
            return 0;
        const char *d = delims;
        while (*d && *d != *s)
            d++;
        if (!*d)
            break;
        s++;
    }
    char *start = s;
    for (; *s; s++) {
        const char *d = delims;
        while (*d && *d != *s)
            d++;
        if (*d) {
            *s++ = 0;
            break;
        }
    }
    *save = s;
    return start;
}

static int32_t parse_long(const char *s, const char **end, int base)
{
    int neg = 0;
    int32_t v = 0;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (base == 0) {
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
            base = 16;
            s += 2;
        } else if (s[0] == '0') {
            base = 8;
        } else {
            base = 10;
        }
    }
    for (;; s++) {
        int c = (uint8_t)*s, d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'z') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'Z') d = c - 'A' + 10;
        else break;
        if (d >= base)
            break;
        v = v * base + d;
    }
    if (end)
        *end = s;
    return neg ? -v : v;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = 0;
    return o;
}

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

static size_t b64_decode(const char *in, uint8_t *out)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        int v = b64_value((uint8_t)*in);
        if (v < 0)
            continue;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return o;
}

static void reverse_range(char *a, char *b)
{
    while (a < b) {
        char t = *a;
        *a++ = *b;
        *b-- = t;
    }
}

/* "the quick fox" -> "fox quick the" */
static void reverse_words(char *s)
{
    size_t n = slen(s);
    if (!n)
        return;
    reverse_range(s, s + n - 1);
    char *w = s;
    for (char *p = s;; p++) {
        if (*p == ' ' || !*p) {
            if (p > w)
                reverse_range(w, p - 1);
            w = p + 1;
            if (!*p)
                break;
        }
    }
}

static int is_palindrome(const char *s)
{
    const char *e = s + slen(s);
    while (s < e) {
        while (s < e && !((*s | 32) >= 'a' && (*s | 32) <= 'z')) s++;
        while (s < e && !((e[-1] | 32) >= 'a' && (e[-1] | 32) <= 'z')) e--;
        if (s < e && lower((uint8_t)*s) != lower((uint8_t)e[-1]))
            return 0;
        if (s < e) {
            s++;
            e--;
        }
    }
    return 1;
}

static uint32_t shash(uint32_t h, const char *s)
{
    while (*s)
        h = (h << 5) - h + (uint8_t)*s++;
    return h;
}

uint32_t strings_selftest(void)
{
    uint32_t h = 0, bad = 0;
    static const char text[] = "it was the best of times, it was the worst of times, "
                               "it was the age of wisdom, it was the age of foolishness";
    CHECK(naive_find(text, "worst") == text + kmp_find(text, "worst"));
    CHECK(kmp_find(text, "foolish") == 97 && kmp_find(text, "fooled") == -1);
    CHECK(kmp_find("aabaaabaaaab", "aaab") == 3);
    CHECK(levenshtein("kitten", "sitting") == 3 && levenshtein("", "abc") == 3);
    CHECK(lcs_len("AGGTAB", "GXTXAYB") == 4);
    CHECK(scasecmp("Hello", "hELLO") == 0 && scmp("abc", "abd") < 0 && scmp("b", "a") > 0);

    char buf[160];
    cmemcpy(buf, text, sizeof text);
    char *save = buf, *t;
    int words = 0;
    while ((t = tok(&save, " ,")) != 0) {
        words++;
        h = shash(h, t);
    }
    CHECK(words == 24);

    const char *end;
    CHECK(parse_long(" -0x1F", &end, 0) == -31 && *end == 0);
    CHECK(parse_long("0755", 0, 0) == 493 && parse_long("zz", 0, 36) == 1295);
    CHECK(parse_long("123abc", &end, 10) == 123 && *end == 'a');

    static const char *const b64_in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *const b64_out[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
    for (int i = 0; i < 7; i++) {
        char enc[16];
        uint8_t dec[16];
        size_t n = slen(b64_in[i]);
        b64_encode((const uint8_t *)b64_in[i], n, enc);
        CHECK(scmp(enc, b64_out[i]) == 0);
        CHECK(b64_decode(enc, dec) == n && cmemcmp(dec, b64_in[i], n) == 0);
    }
    uint8_t raw[96];
    char enc[140];
    uint8_t back[96];
    uint32_t s = 2024;
    for (int i = 0; i < 96; i++)
        raw[i] = (uint8_t)xs32(&s);
    b64_encode(raw, 96, enc);
    CHECK(b64_decode(enc, back) == 96 && cmemcmp(raw, back, 96) == 0);
    h = shash(h, enc);

    char rw[] = "the quick brown fox";
    reverse_words(rw);
    CHECK(scmp(rw, "fox brown quick the") == 0);
    CHECK(is_palindrome("A man, a plan, a canal: Panama") && !is_palindrome("x86v"));

    /* Pairwise distances over a word list. */
    static const char *const list[] = {
        "decode", "decoder", "encode", "encoder", "opcode", "prefix", "modrm", "displacement",
    };
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
            h = h * 7 + (uint32_t)levenshtein(list[i], list[j]) * 16 + (uint32_t)lcs_len(list[i], list[j]);
    return h ^ (bad << 20);
}
