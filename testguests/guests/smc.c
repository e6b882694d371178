/* smc: self-modifying code (SDM Vol. 3A 8.1.3 "Handling self- and
 * cross-modifying code": on P6 and later a store to an instruction that has
 * been fetched or is about to be executed takes effect, detection is by
 * physical address). A virtualizer that caches decoded or translated code
 * must notice every one of these writes. */
#include "systest.h"

static uint8_t codebuf[8192] __attribute__((aligned(4096)));
static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt0[1024] __attribute__((aligned(4096)));
static uint32_t pt1[1024] __attribute__((aligned(4096)));
#define VA_X 0x00400000u
#define VA_W 0x00401000u
#define FRAME 0x00280000u

/* Code that lives in .data so it can patch itself. */
uint32_t loop_fn(uint32_t), next_fn(uint32_t), op_fn(uint32_t), jmp_fn(uint32_t), fill_fn(uint32_t);
extern uint8_t patch_imm[], op_site[], jmp_disp[];
extern const uint8_t tmpl_a[], tmpl_b[];
__asm__(
    ".data\n"
    /* Adds 1, 2, 3, 4: the add's imm32 is incremented after each execution. */
    ".globl loop_fn, patch_imm\n"
    "loop_fn:\n  movl $1, patch_imm\n  xorl %edx, %edx\n  movl $4, %ecx\n"
    "1:\n  .byte 0x81, 0xC2\npatch_imm:\n  .long 1\n"       /* addl $imm32, %edx */
    "  incl patch_imm\n  loop 1b\n  movl %edx, %eax\n  ret\n"
    /* Stores the argument into the imm32 of the very next instruction. */
    ".globl next_fn\n"
    "next_fn:\n  movl 4(%esp), %ecx\n  movl %ecx, 1f+1\n1:\n  movl $0x11111111, %eax\n  ret\n"
    /* Turns two nops later in the same block into inc %eax; inc %eax. */
    ".globl op_fn, op_site\n"
    "op_fn:\n  xorl %eax, %eax\n  movw $0x4040, op_site\n  nop\n  nop\nop_site:\n  nop\n  nop\n  ret\n"
    /* jmp rel8 whose displacement the caller patches: 1 or 2. */
    ".globl jmp_fn, jmp_disp\n"
    "jmp_fn:\n  .byte 0xEB\njmp_disp:\n  .byte 0\n  movl $1, %eax\n  ret\n  movl $2, %eax\n  ret\n"
    ".section .rodata\n"
    ".globl tmpl_a, tmpl_b\n"
    "tmpl_a:\n  movl $0xAAAA0001, %eax\n  ret\n"
    "tmpl_b:\n  xorl %eax, %eax\n  decl %eax\n  shll $4, %eax\n  ret\n"
    ".text\n"
    /* rep movsb (arg = template address) 8 bytes into codebuf+0x100 and call it. */
    ".globl fill_fn\n"
    "fill_fn:\n  pushl %esi\n  pushl %edi\n  movl 12(%esp), %esi\n  movl $codebuf+0x100, %edi\n  movl $8, %ecx\n"
    "  cld\n  rep movsb\n  call codebuf+0x100\n  popl %edi\n  popl %esi\n  ret\n"
);

static uint32_t call(uint32_t addr)
{
    uint32_t (*fn)(void) = (uint32_t (*)(void))addr;
    return fn();
}
static void put_mov_ret(volatile uint8_t *p, uint32_t imm)
{
    p[0] = 0xB8;
    p[1] = (uint8_t)imm; p[2] = (uint8_t)(imm >> 8); p[3] = (uint8_t)(imm >> 16); p[4] = (uint8_t)(imm >> 24);
    p[5] = 0xC3;
}

int guest_main(void)
{
    puts("x86v-guest: smc\n");
    st_init();
    tap_plan(13);

    volatile uint8_t *c = codebuf;
    put_mov_ret(c, 0x12345678u);
    tap_ok(call((uint32_t)c) == 0x12345678u, "write mov eax, imm; ret into a buffer and run it");
    put_mov_ret(c, 0x9ABCDEF0u);
    tap_ok(call((uint32_t)c) == 0x9ABCDEF0u, "rewrite the imm32 of code already run: the new value is used");
    c[0] = 0x31; c[1] = 0xC0; c[2] = 0x40; c[3] = 0x40; c[4] = 0x40; c[5] = 0xC3;   /* xor eax,eax; inc x3; ret */
    tap_ok(call((uint32_t)c) == 3, "replace it with different instructions");

    uint32_t a = loop_fn(0), b = loop_fn(0);
    tap_ok(a == 10 && b == 10, "loop that increments the imm32 of an add it already executed: 1+2+3+4");
    uint32_t n1 = next_fn(5), n2 = next_fn(6), n3 = next_fn(0xFEEDFACEu);
    tap_ok(n1 == 5 && n2 == 6 && n3 == 0xFEEDFACEu, "store into the imm32 of the next instruction in the same block");
    op_site[0] = 0x90; op_site[1] = 0x90;
    uint32_t o1 = op_fn(0);
    op_site[0] = 0x90; op_site[1] = 0x90;
    uint32_t o2 = op_fn(0);
    tap_ok(o1 == 2 && o2 == 2, "store that turns later nops of the same block into inc eax");
    jmp_disp[0] = 0;
    uint32_t j1 = jmp_fn(0);
    jmp_disp[0] = 6;
    uint32_t j2 = jmp_fn(0);
    jmp_disp[0] = 0;
    uint32_t j3 = jmp_fn(0);
    tap_ok(j1 == 1 && j2 == 2 && j3 == 1, "patching a jmp rel8 displacement changes the path taken");

    tap_ok(fill_fn((uint32_t)tmpl_a) == 0xAAAA0001u, "code copied with rep movsb, then run");
    tap_ok(fill_fn((uint32_t)tmpl_b) == 0xFFFFFFF0u, "a different template copied over it with rep movsb runs");

    /* an instruction split across a page boundary; patch the part in the second page */
    volatile uint8_t *s = codebuf + 4096 - 2;
    put_mov_ret(s, 0x01020304u);
    uint32_t x1 = call((uint32_t)s);
    codebuf[4096 + 1] = 0x55;       /* bits 23:16 of the imm32 */
    uint32_t x2 = call((uint32_t)s);
    tap_ok(x1 == 0x01020304u && x2 == 0x01550304u, "instruction across a page boundary, patched in the second page");

    /* aliases: one physical page mapped at VA_X and VA_W */
    for (uint32_t i = 0; i < 1024; i++)
        pt0[i] = (i << 12) | 3;
    pd[0] = (uint32_t)pt0 | 3;
    pd[1] = (uint32_t)pt1 | 3;
    pt1[0] = FRAME | 3;
    pt1[1] = FRAME | 3;
    write_cr3((uint32_t)pd);
    write_cr0(read_cr0() | 0x80000000u);
    put_mov_ret((volatile uint8_t *)VA_W, 0x11110000u);
    uint32_t v1 = call(VA_X);
    put_mov_ret((volatile uint8_t *)VA_W, 0x22220000u);
    uint32_t v2 = call(VA_X);
    tap_ok(v1 == 0x11110000u && v2 == 0x22220000u, "code rewritten through a second virtual alias of its physical page");
    *(volatile uint32_t *)(VA_X + 1) = 0x33330000u;
    tap_ok(call(VA_W) == 0x33330000u && call(VA_X) == 0x33330000u, "written through the executing alias, run through the other");
    /* remap VA_X to a different frame holding different code */
    put_mov_ret((volatile uint8_t *)(FRAME + 0x1000), 0x44440000u);
    pt1[0] = (FRAME + 0x1000) | 3;
    invlpg(VA_X);
    tap_ok(call(VA_X) == 0x44440000u, "remapped code page (PTE edit + invlpg) runs the new frame's code");

    puts("# smc done\n");
    return tap_exit_code();
}
