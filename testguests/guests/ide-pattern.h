/* ide-pattern: the bytes of the ide guest's disk image (build/ide-disk.img, made by
 * host/ide-disk.c) and of the sectors the guest writes, shared by both so they agree.
 *
 * The image is IDE_DISK_SECTORS sectors of 512 bytes; sector n starts with n as a
 * little-endian 32-bit word (so a sector read from the wrong place names where it came
 * from), the other bytes mix n and the offset. Sector 0 does not end in 55 AA: QEMU would
 * take that for a partition table and guess another geometry. Sectors the guest writes use
 * the same layout with a tag in the mix. */
#ifndef IDE_PATTERN_H
#define IDE_PATTERN_H

#include <stdint.h>

#define IDE_DISK_SECTORS 2048u            /* 1 MiB */
/* The sectors the persistence run (mode=write) writes and mode=read checks. */
#define IDE_PERSIST_LBA 10u
#define IDE_PERSIST_COUNT 4u
#define IDE_PERSIST_TAG 0x3Cu

static inline uint8_t ide_pattern(uint32_t lba, uint32_t i, uint8_t tag)
{
    if (i < 4)
        return (uint8_t)(lba >> (8 * i));
    return (uint8_t)(((lba * 31u + i * 7u + (lba >> 8)) ^ 0xA5u) + tag);
}

#endif
