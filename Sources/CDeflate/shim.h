#ifndef DSRD_CDEFLATE_SHIM_H
#define DSRD_CDEFLATE_SHIM_H
#include <zlib.h>

/* deflateInit2 is a macro, which Swift cannot call. This starts a raw DEFLATE stream
   (RFC 1951, no zlib header or trailer): what a ZIP entry with method 8 holds. */
static inline int dsrd_deflate_init_raw(z_streamp stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
}
#endif
