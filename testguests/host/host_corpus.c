/* Native (x86-64, hosted) driver for the corpus: prints each module's
 * checksum. These are the values hard-coded in corpus/driver.c, so rerun
 * this (make host-check) after changing a module. Built with
 * -DCORPUS_HOST_DEBUG, failing CHECK()s print their file and line. */
#include <stdio.h>
#include "corpus.h"

int main(void)
{
#define PRINT_ONE(m) printf("    0x%08x, /* " #m " */\n", m##_selftest());
    CORPUS_MODULES(PRINT_ONE)
    return 0;
}
