#include <stdint.h>
/// Number of malloc/calloc/realloc/posix_memalign/aligned_alloc calls made by the calling thread so far.
uint64_t x86v_malloc_count(void);
