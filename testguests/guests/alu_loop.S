/* alu_loop: fixed-shape integer benchmark kernel (Intel syntax).
 *
 * uint32_t alu_loop(uint32_t n)   -- cdecl, n >= 1
 *
 * Each iteration: xorshift32 step, a load/modify/store into a 256-entry
 * table, a data-dependent branch whose two paths have the same number of
 * instructions, an imul mix, and the loop branch. Because both branch paths
 * are equally long, the dynamic instruction count does not depend on data:
 *
 *   prologue  8  (4 push, 3 mov, 1 xor)
 *   loop     22 * n
 *   fold      1 + 4 * 256 = 1025
 *   epilogue  6  (mov, 4 pop, ret)
 *   total    22 * n + 1039     -> n = 10,000,000: 220,001,039 instructions
 *
 * (Counted from the first instruction of alu_loop through its ret; verified
 * with qemu -singlestep -d exec on a small-n build.) alu_table lives in
 * .bss, so it relies on the loader zeroing .bss and must only run once. */
    .intel_syntax noprefix
    .text
    .globl alu_loop
    .type alu_loop, @function
alu_loop:
    push ebp
    push ebx
    push esi
    push edi
    mov ecx, [esp + 20]            /* n */
    mov eax, 0x12345678            /* xorshift32 state */
    xor esi, esi                   /* accumulator */
    mov edi, OFFSET alu_table
1:
    /* xorshift32: x ^= x << 13; x ^= x >> 17; x ^= x << 5   (9) */
    mov edx, eax
    shl edx, 13
    xor eax, edx
    mov edx, eax
    shr edx, 17
    xor eax, edx
    mov edx, eax
    shl edx, 5
    xor eax, edx
    /* table[x & 255] = rol(table[x & 255] + x, 3)             (6) */
    mov ebx, eax
    and ebx, 255
    mov edx, [edi + ebx * 4]
    add edx, eax
    rol edx, 3
    mov [edi + ebx * 4], edx
    /* branch on bit 8 of x; both paths are 4 instructions      (4) */
    test eax, 0x100
    jz 2f
    add esi, edx
    jmp 3f
2:  sub esi, edx
    xor esi, ecx
3:
    imul esi, esi, 0x9E3779B1      /*                          (1) */
    dec ecx                        /*                          (2) */
    jnz 1b

    /* Fold the table into the accumulator: 1 + 4 * 256 instructions. */
    mov ecx, 256
4:  xor esi, [edi + ecx * 4 - 4]
    rol esi, 1
    dec ecx
    jnz 4b

    mov eax, esi
    pop edi
    pop esi
    pop ebx
    pop ebp
    ret
    .size alu_loop, . - alu_loop

    .bss
    .align 16
alu_table:
    .skip 1024

    .section .note.GNU-stack, "", @progbits
