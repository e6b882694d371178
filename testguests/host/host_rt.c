/* Native stand-in for the parts of the guest runtime that cwork uses, so
 * guests/cwork.c can run on the host to derive its expected values. */
#include <stdint.h>
#include <unistd.h>

void putc(char c);
void puts(const char *s);
void putHex32(uint32_t v);
void putDec(uint32_t v);
void tap_plan(int n);
int tap_ok(int cond, const char *desc);
int tap_exit_code(void);
int guest_main(void);

void putc(char c) { (void)!write(1, &c, 1); }
void puts(const char *s) { while (*s) putc(*s++); }
void putHex32(uint32_t v) { for (int s = 28; s >= 0; s -= 4) putc("0123456789abcdef"[(v >> s) & 15]); }
void putDec(uint32_t v)
{
    char b[12];
    int i = 0;
    do { b[i++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (i) putc(b[--i]);
}

static int count, failed;
void tap_plan(int n) { puts("1.."); putDec((uint32_t)n); putc('\n'); }
int tap_ok(int cond, const char *desc)
{
    count++;
    if (!cond) { failed++; puts("not "); }
    puts("ok "); putDec((uint32_t)count); puts(" - "); puts(desc); putc('\n');
    return cond;
}
int tap_exit_code(void) { return failed ? 1 : 0; }

int main(void) { return guest_main(); }
