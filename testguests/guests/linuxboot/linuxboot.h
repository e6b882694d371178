/* The setup header this test kernel carries (setup.S writes it, kernel.c checks that the loader
 * copied it into boot_params): one place for the values both sides know. Field meanings are
 * Linux's Documentation/x86/boot.rst ("The real-mode kernel header"). */
#ifndef LINUXBOOT_H
#define LINUXBOOT_H

#define LB_PROTOCOL          0x020F       /* boot protocol 2.15 */
#define LB_SETUP_SECTS       1            /* boot sector + 1 setup sector: 1024 bytes */
#define LB_LOADED_HIGH       0x01         /* loadflags bit 0: protected-mode code at 1 MiB */
#define LB_CODE32_START      0x00100000
#define LB_PREF_ADDRESS      0x00100000
#define LB_KERNEL_ALIGNMENT  0x00100000   /* informational: not relocatable */
#define LB_MIN_ALIGNMENT     12           /* log2 */
#define LB_CMDLINE_SIZE      2047
#define LB_INITRD_ADDR_MAX   0x7FFFFFFF
#define LB_KERNEL_VERSION    "0.0.0-linuxboot (x86v test guest)"

/* boot_params ("zero page", arch/x86/include/uapi/asm/bootparam.h) offsets. */
#define BP_EXT_MEM_K         0x002        /* screen_info.ext_mem_k */
#define BP_VIDEO_COLS        0x007        /* screen_info.orig_video_cols */
#define BP_VIDEO_LINES       0x00E        /* screen_info.orig_video_lines */
#define BP_VIDEO_IS_VGA      0x00F
#define BP_ALT_MEM_K         0x1E0
#define BP_E820_ENTRIES      0x1E8
#define BP_SENTINEL          0x1EF
#define BP_HDR               0x1F1        /* struct setup_header starts here */
#define BP_HEADER_MAGIC      0x202        /* "HdrS" */
#define BP_VERSION           0x206
#define BP_TYPE_OF_LOADER    0x210
#define BP_LOADFLAGS         0x211
#define BP_CODE32_START      0x214
#define BP_RAMDISK_IMAGE     0x218
#define BP_RAMDISK_SIZE      0x21C
#define BP_CMD_LINE_PTR      0x228
#define BP_INITRD_ADDR_MAX   0x22C
#define BP_KERNEL_ALIGNMENT  0x230
#define BP_RELOCATABLE       0x234
#define BP_CMDLINE_SIZE      0x238
#define BP_PREF_ADDRESS      0x258
#define BP_INIT_SIZE         0x260
#define BP_E820_TABLE        0x2D0        /* 128 entries of 20 bytes */
#define BP_E820_MAX          128

#endif
