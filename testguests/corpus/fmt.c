/* A small printf-style formatter: flags, width, precision, length
 * modifiers (hh, h, l, ll), %d %i %u %x %X %o %b %c %s %p %%.
 * 64-bit conversions go through udiv64() (no libgcc). */
#include "corpus.h"

struct out {
    char *buf;
    size_t cap, len;
};

static void emit(struct out *o, char c)
{
    if (o->len + 1 < o->cap)
        o->buf[o->len] = c;
    o->len++;
}

static void emit_n(struct out *o, char c, int n)
{
    while (n-- > 0)
        emit(o, c);
}

enum {
    F_LEFT = 1, F_ZERO = 2, F_PLUS = 4, F_SPACE = 8, F_ALT = 16, F_UPPER = 32,
};

/* Convert v to digits (reversed) in tmp; returns digit count. */
static int to_digits(char *tmp, uint64_t v, uint32_t base, int upper)
{
    const char *dig = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    int n = 0;
    if ((v >> 32) == 0) {
        uint32_t w = (uint32_t)v;       /* fast path: 32-bit div only */
        do {
            tmp[n++] = dig[w % base];
            w /= base;
        } while (w);
        return n;
    }
    while (v) {
        uint32_t r;
        v = udiv64(v, base, &r);
        tmp[n++] = dig[r];
    }
    return n;
}

static void fmt_int(struct out *o, uint64_t v, int neg, uint32_t base,
                    int flags, int width, int prec)
{
    char tmp[72];
    int n = (v == 0 && prec == 0) ? 0 : to_digits(tmp, v, base, flags & F_UPPER);
    char sign = neg ? '-' : (flags & F_PLUS) ? '+' : (flags & F_SPACE) ? ' ' : 0;
    const char *prefix = "";
    if ((flags & F_ALT) && v != 0) {
        if (base == 16)
            prefix = (flags & F_UPPER) ? "0X" : "0x";
        else if (base == 2)
            prefix = "0b";
        else if (base == 8 && (prec <= n))
            prefix = "0";
    }
    int plen = 0;
    while (prefix[plen])
        plen++;
    int zeros = prec > n ? prec - n : 0;
    int total = n + zeros + plen + (sign ? 1 : 0);
    if (prec < 0 && (flags & F_ZERO) && !(flags & F_LEFT) && width > total) {
        zeros += width - total;
        total = width;
    }
    if (!(flags & F_LEFT))
        emit_n(o, ' ', width - total);
    if (sign)
        emit(o, sign);
    for (int i = 0; i < plen; i++)
        emit(o, prefix[i]);
    emit_n(o, '0', zeros);
    while (n)
        emit(o, tmp[--n]);
    if (flags & F_LEFT)
        emit_n(o, ' ', width - total);
}

static void fmt_str(struct out *o, const char *s, int flags, int width, int prec)
{
    if (!s)
        s = "(null)";
    int n = 0;
    while (s[n] && (prec < 0 || n < prec))
        n++;
    if (!(flags & F_LEFT))
        emit_n(o, ' ', width - n);
    for (int i = 0; i < n; i++)
        emit(o, s[i]);
    if (flags & F_LEFT)
        emit_n(o, ' ', width - n);
}

int cvfmt(char *buf, size_t cap, const char *fmt, va_list ap)
{
    struct out o = { buf, cap, 0 };
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(&o, *fmt);
            continue;
        }
        fmt++;
        int flags = 0, width = 0, prec = -1, len = 0;
        for (;; fmt++) {
            if (*fmt == '-') flags |= F_LEFT;
            else if (*fmt == '0') flags |= F_ZERO;
            else if (*fmt == '+') flags |= F_PLUS;
            else if (*fmt == ' ') flags |= F_SPACE;
            else if (*fmt == '#') flags |= F_ALT;
            else break;
        }
        if (*fmt == '*') {
            width = va_arg(ap, int);
            if (width < 0) {
                flags |= F_LEFT;
                width = -width;
            }
            fmt++;
        } else {
            while (*fmt >= '0' && *fmt <= '9')
                width = width * 10 + (*fmt++ - '0');
        }
        if (*fmt == '.') {
            fmt++;
            prec = 0;
            if (*fmt == '*') {
                prec = va_arg(ap, int);
                fmt++;
            } else {
                while (*fmt >= '0' && *fmt <= '9')
                    prec = prec * 10 + (*fmt++ - '0');
            }
        }
        /* len: -2 hh, -1 h, 0 int, 1 l, 2 ll */
        if (*fmt == 'h') {
            len = -1;
            if (*++fmt == 'h') {
                len = -2;
                fmt++;
            }
        } else if (*fmt == 'l') {
            len = 1;
            if (*++fmt == 'l') {
                len = 2;
                fmt++;
            }
        }
        char c = *fmt;
        if (!c)
            break;
        switch (c) {
        case 'd':
        case 'i': {
            int64_t v;
            if (len == 2) v = va_arg(ap, int64_t);
            else if (len == 1) v = va_arg(ap, long);
            else v = va_arg(ap, int);
            if (len == -1) v = (short)v;
            if (len == -2) v = (signed char)v;
            uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
            fmt_int(&o, mag, v < 0, 10, flags, width, prec);
            break;
        }
        case 'u': case 'x': case 'X': case 'o': case 'b': {
            uint64_t v;
            if (len == 2) v = va_arg(ap, uint64_t);
            else if (len == 1) v = va_arg(ap, unsigned long);
            else v = va_arg(ap, unsigned int);
            if (len == -1) v = (unsigned short)v;
            if (len == -2) v = (unsigned char)v;
            uint32_t base = c == 'u' ? 10 : c == 'o' ? 8 : c == 'b' ? 2 : 16;
            if (c == 'X')
                flags |= F_UPPER;
            fmt_int(&o, v, 0, base, flags & ~(F_PLUS | F_SPACE), width, prec);
            break;
        }
        case 'p':
            fmt_int(&o, (uintptr_t)va_arg(ap, void *), 0, 16, F_ALT | F_ZERO, 10, -1);
            break;
        case 'c': {
            char ch = (char)va_arg(ap, int);
            char s[2] = { ch, 0 };
            fmt_str(&o, s, flags, width, 1);
            break;
        }
        case 's':
            fmt_str(&o, va_arg(ap, const char *), flags, width, prec);
            break;
        case '%':
            emit(&o, '%');
            break;
        default:   /* unknown: print it verbatim */
            emit(&o, '%');
            emit(&o, c);
            break;
        }
    }
    if (cap)
        buf[o.len < cap ? o.len : cap - 1] = 0;
    return (int)o.len;
}

int cfmt(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = cvfmt(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}

static uint32_t hash_str(uint32_t h, const char *s)
{
    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

static int str_eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

uint32_t fmt_selftest(void)
{
    char buf[128];
    uint32_t h = 2166136261u, bad = 0;

    cfmt(buf, sizeof buf, "[%d|%5d|%-5d|%05d|%+d|% d]", -42, 42, 42, -42, 7, 7);
    CHECK(str_eq(buf, "[-42|   42|42   |-0042|+7| 7]"));
    h = hash_str(h, buf);
    cfmt(buf, sizeof buf, "[%x|%X|%#x|%#o|%o|%b|%#b]", 0xbeefu, 0xbeefu, 255u, 8u, 8u, 5u, 5u);
    CHECK(str_eq(buf, "[beef|BEEF|0xff|010|10|101|0b101]"));
    h = hash_str(h, buf);
    cfmt(buf, sizeof buf, "[%.3d|%8.3d|%-8.3x|%.0d|%s|%.2s|%6s|%-6s|%c%c]",
         7, -7, 0xau, 0, "str", "string", "ab", "ab", 'o', 'k');
    CHECK(str_eq(buf, "[007|    -007|00a     ||str|st|    ab|ab    |ok]"));
    h = hash_str(h, buf);
    cfmt(buf, sizeof buf, "[%lld|%llu|%llx|%lld]", (long long)-1234567890123LL,
         18446744073709551615ULL, 0x123456789abcdefULL, (long long)(-9223372036854775807LL - 1));
    CHECK(str_eq(buf, "[-1234567890123|18446744073709551615|123456789abcdef|-9223372036854775808]"));
    h = hash_str(h, buf);
    cfmt(buf, sizeof buf, "[%hhd|%hd|%hhu|%hx|%*d|%-*d|%.*s|%%|%q]",
         300, 70000, 257, 0x12345, 6, 1, 6, 2, 3, "abcdef");
    CHECK(str_eq(buf, "[44|4464|1|2345|     1|2     |abc|%|%q]"));
    h = hash_str(h, buf);
    int n = cfmt(buf, 8, "%s", "truncated output");
    CHECK(n == 16 && str_eq(buf, "truncat"));
    h = hash_str(h, buf);

    /* Bulk: a table of numbers in several bases. */
    uint32_t s = 12345;
    for (int i = 0; i < 200; i++) {
        uint32_t v = xs32(&s);
        cfmt(buf, sizeof buf, "%u %d %08x %o %12.9u %-+7d", v, (int32_t)v, v, v >> 7, v & 0xFFFF, (int32_t)(v % 2000) - 1000);
        h = hash_str(h, buf);
        cfmt(buf, sizeof buf, "%llu %llx", ((uint64_t)v << 29) * 3u + i, (uint64_t)v * v);
        h = hash_str(h, buf);
    }
    return h ^ (bad << 24);
}
