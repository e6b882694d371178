/* The real-mode part of the linuxboot bzImage: the boot sector and one setup sector, laid out as
 * Linux's arch/x86/boot/header.S lays out its own (Documentation/x86/boot.rst). A loader reads
 * the setup header at 0x1F1; this kernel is booted through the 32-bit boot protocol only, so
 * nothing here ever runs under x86v (it enters at code32_start): the code is a hlt loop that a
 * BIOS boot or a 16-bit entry would stop in.
 *
 * The Makefile passes what depends on the protected-mode kernel it was built with:
 *   LB_KERNEL_SIZE         bytes of the flat protected-mode image (syssize = that / 16)
 *   LB_INIT_SIZE           bytes it needs from pref_address while it runs: image + bss
 *   LB_KERNEL_INFO_OFFSET  kernel_info's offset in the protected-mode image (protocol 2.15) */
#include "linuxboot.h"

    .code16
    .text
    .globl _start
_start:
    cli
1:  hlt
    jmp 1b

    .org 0x1F1
setup_sects:        .byte LB_SETUP_SECTS
root_flags:         .word 0
syssize:            .long (LB_KERNEL_SIZE + 15) / 16
ram_size:           .word 0
vid_mode:           .word 0xFFFF             /* NORMAL_VGA */
root_dev:           .word 0
boot_flag:          .word 0xAA55

    .org 0x200
    /* A short jump over the header: its displacement also says where the header ends. */
    .byte 0xEB, setup_code - 1f
1:
header:             .ascii "HdrS"
version:            .word LB_PROTOCOL
realmode_swtch:     .long 0
start_sys_seg:      .word 0x1000
kernel_version:     .word kernel_version_text - _start - 0x200
type_of_loader:     .byte 0
loadflags:          .byte LB_LOADED_HIGH
setup_move_size:    .word 0x8000
code32_start:       .long LB_CODE32_START
ramdisk_image:      .long 0
ramdisk_size:       .long 0
bootsect_kludge:    .long 0
heap_end_ptr:       .word 0
ext_loader_ver:     .byte 0
ext_loader_type:    .byte 0
cmd_line_ptr:       .long 0
initrd_addr_max:    .long LB_INITRD_ADDR_MAX
kernel_alignment:   .long LB_KERNEL_ALIGNMENT
relocatable_kernel: .byte 0
min_alignment:      .byte LB_MIN_ALIGNMENT
xloadflags:         .word 0
cmdline_size:       .long LB_CMDLINE_SIZE
hardware_subarch:   .long 0
hardware_subarch_data: .quad 0
payload_offset:     .long 0
payload_length:     .long 0
setup_data:         .quad 0
pref_address:       .quad LB_PREF_ADDRESS
init_size:          .long LB_INIT_SIZE
handover_offset:    .long 0
kernel_info_offset: .long LB_KERNEL_INFO_OFFSET

    /* 0x26C: where the jump lands (the 16-bit entry at setup segment + 0x20:0). */
setup_code:
    cli
2:  hlt
    jmp 2b

kernel_version_text:
    .asciz LB_KERNEL_VERSION

    .org (LB_SETUP_SECTS + 1) * 512
