/* Writes the ide guest's disk image: ide-disk OUT [--written]
 * (guests/ide-pattern.h). --written: the image as the guest leaves it after its
 * mode=write run (sectors IDE_PERSIST_LBA.. with IDE_PERSIST_TAG), which
 * Tests/cli/check-drive.sh compares with the file x86v wrote. */
#include <stdio.h>
#include <string.h>
#include "../guests/ide-pattern.h"

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: ide-disk OUT [--written]\n"); return 2; }
    int written = argc > 2 && strcmp(argv[2], "--written") == 0;
    FILE *f = fopen(argv[1], "wb");
    if (!f) { perror(argv[1]); return 1; }
    for (uint32_t n = 0; n < IDE_DISK_SECTORS; n++) {
        uint8_t tag = written && n >= IDE_PERSIST_LBA && n < IDE_PERSIST_LBA + IDE_PERSIST_COUNT ? IDE_PERSIST_TAG : 0;
        uint8_t s[512];
        for (uint32_t i = 0; i < 512; i++) s[i] = ide_pattern(n, i, tag);
        if (fwrite(s, 1, 512, f) != 512) { perror(argv[1]); return 1; }
    }
    return fclose(f) == 0 ? 0 : 1;
}
