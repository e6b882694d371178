/* A tiny backtracking regex matcher (after Pike/Kernighan, extended):
 * literals, '.', '^', '$', '*', '+', '?', character classes [a-z] [^...],
 * escapes \d \w \s and \. ; plus a glob matcher ('*', '?', '[...]').
 * Lots of byte loads, compares and short data-dependent branches. */
#include "corpus.h"

/* Length of the atom at re (a single char, escape, or class). */
static int atom_len(const char *re)
{
    if (re[0] == '\\' && re[1])
        return 2;
    if (re[0] == '[') {
        int i = 1;
        if (re[i] == '^')
            i++;
        if (re[i] == ']')
            i++;
        while (re[i] && re[i] != ']')
            i++;
        return re[i] ? i + 1 : i;
    }
    return 1;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_word(int c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int class_match(const char *cls, int len, int c)
{
    int i = 1, neg = 0, hit = 0;
    if (cls[i] == '^') {
        neg = 1;
        i++;
    }
    int end = len - 1;
    for (int first = 1; i < end; first = 0) {
        if (cls[i] == ']' && !first)
            break;
        if (i + 2 < end && cls[i + 1] == '-') {
            if (c >= (uint8_t)cls[i] && c <= (uint8_t)cls[i + 2])
                hit = 1;
            i += 3;
        } else {
            if (c == (uint8_t)cls[i])
                hit = 1;
            i++;
        }
    }
    return hit ^ neg;
}

static int atom_match(const char *re, int len, int c)
{
    if (!c)
        return 0;
    if (re[0] == '\\') {
        switch (re[1]) {
        case 'd': return is_digit(c);
        case 'D': return !is_digit(c);
        case 'w': return is_word(c);
        case 'W': return !is_word(c);
        case 's': return is_space(c);
        case 'S': return !is_space(c);
        case 'n': return c == '\n';
        case 't': return c == '\t';
        default:  return c == (uint8_t)re[1];
        }
    }
    if (re[0] == '[')
        return class_match(re, len, c);
    return re[0] == '.' || c == (uint8_t)re[0];
}

static uint32_t steps;   /* backtracking work counter, part of the checksum */

static int match_here(const char *re, const char *text);

/* atom{min,} greedily, then backtrack. */
static int match_repeat(const char *atom, int alen, int min, int max, const char *rest, const char *text)
{
    const char *t = text;
    int n = 0;
    while ((max < 0 || n < max) && atom_match(atom, alen, (uint8_t)*t)) {
        t++;
        n++;
    }
    for (; n >= min; n--, t--) {
        steps++;
        if (match_here(rest, t))
            return 1;
    }
    return 0;
}

static int match_here(const char *re, const char *text)
{
    for (;;) {
        steps++;
        if (!re[0])
            return 1;
        if (re[0] == '$' && !re[1])
            return !*text;
        int alen = atom_len(re);
        char q = re[alen];
        if (q == '*')
            return match_repeat(re, alen, 0, -1, re + alen + 1, text);
        if (q == '+')
            return match_repeat(re, alen, 1, -1, re + alen + 1, text);
        if (q == '?')
            return match_repeat(re, alen, 0, 1, re + alen + 1, text);
        if (!atom_match(re, alen, (uint8_t)*text))
            return 0;
        re += alen;
        text++;
    }
}

/* Returns match start offset or -1. */
static int re_search(const char *re, const char *text)
{
    if (re[0] == '^')
        return match_here(re + 1, text) ? 0 : -1;
    const char *t = text;
    do {
        if (match_here(re, t))
            return (int)(t - text);
    } while (*t++);
    return -1;
}

/* Glob: '*' any run, '?' any char, '[...]' class; iterative with one
 * backtrack point (linear for typical patterns). */
static int glob_match(const char *pat, const char *str)
{
    const char *star_p = 0, *star_s = 0;
    while (*str) {
        if (*pat == '*') {
            star_p = ++pat;
            star_s = str;
            continue;
        }
        if (*pat == '[') {
            int len = atom_len(pat);
            if (class_match(pat, len, (uint8_t)*str)) {
                pat += len;
                str++;
                continue;
            }
        } else if (*pat == '?' || (*pat && *pat == *str)) {
            pat++;
            str++;
            continue;
        }
        if (!star_p)
            return 0;
        pat = star_p;
        str = ++star_s;
    }
    while (*pat == '*')
        pat++;
    return !*pat;
}

struct re_case {
    const char *re, *text;
    int8_t want;   /* expected offset, -1 = no match */
};

static const struct re_case re_cases[] = {
    { "abc", "xxabcxx", 2 },
    { "^abc", "xxabc", -1 },
    { "^ab*c$", "abbbbc", 0 },
    { "a.c", "a-c", 0 },
    { "colou?r", "the color red", 4 },
    { "colou?r", "the colour red", 4 },
    { "\\d+-\\d+", "call 555-1234 now", 5 },
    { "[A-Z][a-z]+", "hello World", 6 },
    { "[^aeiou ]+", "aei xyz", 4 },
    { "\\w+@\\w+\\.com", "mail: bob@example.com!", 6 },
    { "x*y*z*$", "abc", 3 },
    { "a+b+c+", "aaabbbccc", 0 },
    { "a+b+c+", "aaabbb", -1 },
    { "(", "a(b", 1 },
    { "\\s\\S", "ab  c", 3 },
    { "[0-9a-f]+$", "val=0xdeadbeef", 6 },
    { "a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaa", -1 },   /* backtracking-heavy */
    { ".*end", "the very end", 0 },
    { "[]]", "a]b", 1 },
    { "^$", "", 0 },
};

struct glob_case {
    const char *pat, *str;
    int8_t want;
};

static const struct glob_case glob_cases[] = {
    { "*.c", "main.c", 1 },
    { "*.c", "main.h", 0 },
    { "m??n.*", "main.c", 1 },
    { "[a-m]*", "kernel", 1 },
    { "[!a-m]*", "kernel", 0 },
    { "*a*b*c*", "xxaxxbxxcxx", 1 },
    { "*a*b*c*", "xxaxxcxxbxx", 0 },
    { "", "", 1 },
    { "*", "anything", 1 },
    { "a*", "", 0 },
};

uint32_t regex_selftest(void)
{
    uint32_t h = 0, bad = 0;
    steps = 0;
    for (unsigned i = 0; i < sizeof re_cases / sizeof re_cases[0]; i++) {
        int got = re_search(re_cases[i].re, re_cases[i].text);
        CHECK(got == re_cases[i].want);
        h = mix32(h, (uint32_t)got);
    }
    for (unsigned i = 0; i < sizeof glob_cases / sizeof glob_cases[0]; i++) {
        /* glob uses '!' for negation: map to the regex '^' syntax */
        char pat[32];
        int k = 0;
        for (const char *p = glob_cases[i].pat; *p && k < 31; p++) {
            char c = *p;
            if (c == '!' && k > 0 && pat[k - 1] == '[')
                c = '^';
            pat[k++] = c;
        }
        pat[k] = 0;
        int got = glob_match(pat, glob_cases[i].str);
        CHECK(got == glob_cases[i].want);
        h = mix32(h, (uint32_t)got);
    }
    /* Scan a generated log for matching lines. */
    char line[48];
    uint32_t s = 99, hits = 0;
    for (int i = 0; i < 200; i++) {
        uint32_t v = xs32(&s);
        cfmt(line, sizeof line, "%s id=%u code=%x", (v & 1) ? "ERROR" : "info", v >> 20, v & 0xFFF);
        if (re_search("^ERROR id=\\d+ code=[0-9a-f]*f$", line) >= 0)
            hits++;
        if (glob_match("info*=?*", line))
            hits += 0x10000;
    }
    h = mix32(h, hits);
    h = mix32(h, steps);
    return h ^ (bad << 20);
}
