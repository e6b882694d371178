/* echo: an interactive guest for the console tests (Tests/cli/check-console.py),
 * not a golden-file test: prints a banner on COM1, then echoes every byte it
 * receives there as "<XX>" (two hex digits), forever. The console test types
 * into it through a pseudo-terminal and ends the run with Ctrl-A x. */
#include "runtime.h"

#define COM1 0x3F8

int guest_main(void)
{
    puts("x86v-guest: echo (Ctrl-A x quits)\n");
    for (;;) {
        while (!(inb(COM1 + 5) & 0x01))
            ;
        uint8_t b = inb(COM1);
        static const char hex[] = "0123456789abcdef";
        putc('<');
        putc(hex[b >> 4]);
        putc(hex[b & 15]);
        putc('>');
        if (b == '\r')
            putc('\n');
    }
}
