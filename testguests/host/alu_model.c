/* C model of guests/alu_loop.S: prints the checksum alu_loop(n) returns
 * (default n = 10,000,000, the value hard-coded in guests/alu.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint32_t rol(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

int main(int argc, char **argv)
{
    uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], 0, 0) : 10000000u;
    uint32_t table[256] = { 0 }, x = 0x12345678u, acc = 0, ecx = n;
    do {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        uint32_t d = rol(table[x & 255] + x, 3);
        table[x & 255] = d;
        if (x & 0x100) {
            acc += d;
        } else {
            acc -= d;
            acc ^= ecx;
        }
        acc *= 0x9E3779B1u;
    } while (--ecx);
    for (ecx = 256; ecx; ecx--)
        acc = rol(acc ^ table[ecx - 1], 1);
    printf("alu_loop(%u) = 0x%08x\n", n, acc);
    return 0;
}
