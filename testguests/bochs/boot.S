/* Floppy boot sector that plays multiboot loader for Bochs (which has none):
 * reads the guest's flat image (objcopy -O binary of the ELF, starting at its
 * load address) from sectors 1..n to 0x10000, enables A20, enters 32-bit
 * protected mode with flat segments, copies the image to its load address,
 * zeroes up to the end of .bss, writes a multiboot info structure
 * (mem_lower/mem_upper) at 0x9000 and jumps to the entry point with
 * EAX = 0x2BADB002, EBX = 0x9000. The parameters at 0x1E8 are patched in by
 * run-bochs.sh. GNU as, assembled for 0x7C00. */
    .code16
    .text
    .globl start
start:
    cli
    xorw %ax, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw $0x7C00, %sp
    sti
    movb %dl, drive
    movw nsect, %si
    movw $1, lba
    movw $0x1000, %ax
    movw %ax, %es
1:  movw lba, %ax            /* LBA -> CHS for 18 sectors/track, 2 heads */
    xorw %dx, %dx
    movw $18, %cx
    divw %cx
    movb %dl, %cl
    incb %cl                 /* sector */
    xorw %dx, %dx
    movw $2, %di
    divw %di
    movb %al, %ch            /* cylinder */
    movb %dl, %dh            /* head */
    movb drive, %dl
    xorw %bx, %bx
    movw $0x0201, %ax
    int $0x13
    jc 1b                    /* retry (Bochs does not fail reads) */
    movw %es, %ax
    addw $0x20, %ax
    movw %ax, %es
    incw lba
    decw %si
    jnz 1b

    inb $0x92, %al           /* fast A20 */
    orb $2, %al
    andb $0xFE, %al
    outb %al, $0x92
    cli
    lgdtl gdtr
    movl %cr0, %eax
    orb $1, %al
    movl %eax, %cr0
    ljmpl $0x08, $pm

    .code32
pm:
    movl $0x10, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl $0x7C00, %esp
    cld
    movl $0x10000, %esi
    movl load_addr, %edi
    movl image_size, %ecx
    rep movsb
    movl bss_end, %ecx
    subl %edi, %ecx
    jbe 2f
    xorl %eax, %eax
    rep stosb
2:  movl $0x9000, %edi
    movl $22, %ecx
    xorl %eax, %eax
    rep stosl
    movl $1, 0x9000          /* flags: mem_lower/mem_upper */
    movl $640, 0x9004
    movl $(63 * 1024), 0x9008
    movl $0x2BADB002, %eax
    movl $0x9000, %ebx
    jmp *entry

    .align 8
gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF   /* 0x08: flat code */
    .quad 0x00CF92000000FFFF   /* 0x10: flat data */
gdtr:
    .word 23
    .long gdt
drive:
    .byte 0
lba:
    .word 0

    .org 0x1E8
nsect:      .word 0, 0
load_addr:  .long 0
image_size: .long 0
bss_end:    .long 0
entry:      .long 0
    .org 0x1FE
    .byte 0x55, 0xAA
