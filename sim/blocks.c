/* blocks.c — block sizes from the SRAM capacity: the paper's rule, then fitted to what really stays resident. */
#include "blocks.h"

#include <stdio.h>

#include "util.h"

int blocks_choose(size_t M_bytes, size_t N, size_t d, dtype_t dt, size_t Br_req, size_t Bc_req, sram_need_fn need,
                  block_choice *out, char *err, size_t errlen)
{
    size_t M_el = M_bytes / dtype_size(dt);
    size_t bc0 = min_size(ceil_div(M_el, 4 * d), N);   /* Alg.1 line 1: Bc = ⌈M/4d⌉ */
    size_t br0 = min_size(min_size(bc0, d), N);        /*               Br = min(⌈M/4d⌉, d) */
    *out = (block_choice){.paper_Br = br0, .paper_Bc = bc0};

    if (Br_req > N || Bc_req > N) {
        snprintf(err, errlen, "block %s = %zu is larger than the sequence length N = %zu",
                 Br_req > N ? "rows Br" : "cols Bc", Br_req > N ? Br_req : Bc_req, N);
        return -1;
    }
    if (Br_req && Bc_req) {
        size_t b = need(Br_req, Bc_req, d, dt);
        if (b > M_bytes) {
            snprintf(err, errlen, "SRAM too small: blocks Br=%zu x Bc=%zu with d=%zu (%s) need %zu bytes of SRAM, "
                     "M = %zu", Br_req, Bc_req, d, dtype_name(dt), b, M_bytes);
            return -1;
        }
        *out = (block_choice){Br_req, Bc_req, br0, bc0, b, false, ""};
        snprintf(out->rule, sizeof out->rule, "Br=%zu and Bc=%zu as given; they use %zu of M=%zu bytes", Br_req,
                 Bc_req, b, M_bytes);
        return 0;
    }

    /* Walk Bc down from the paper's value (or Br down, when Bc was given) until the footprint fits. */
    size_t top = Bc_req ? min_size(min_size(Bc_req, d), N) : (bc0 ? bc0 : 1);
    for (size_t b = top; b >= 1; b--) {
        size_t Br = Br_req ? Br_req : (Bc_req ? b : min_size(min_size(b, d), N));
        size_t Bc = Bc_req ? Bc_req : b;
        size_t bytes = need(Br, Bc, d, dt);
        if (bytes > M_bytes)
            continue;
        out->Br = Br;
        out->Bc = Bc;
        out->need_bytes = bytes;
        out->fitted = (Br != br0 && !Br_req) || (Bc != bc0 && !Bc_req);
        if (Br_req || Bc_req)
            snprintf(out->rule, sizeof out->rule, "%s=%zu as given; %s=%zu is the largest that fits (%zu of M=%zu "
                     "bytes)", Br_req ? "Br" : "Bc", Br_req ? Br_req : Bc_req, Br_req ? "Bc" : "Br",
                     Br_req ? Bc : Br, bytes, M_bytes);
        else if (!out->fitted)
            snprintf(out->rule, sizeof out->rule, "paper's rule: Bc=ceil(M/4d)=%zu, Br=min(Bc,d)=%zu (clamped to N); "
                     "uses %zu of M=%zu bytes", Bc, Br, bytes, M_bytes);
        else
            snprintf(out->rule, sizeof out->rule, "paper's rule Bc=%zu, Br=%zu needs %zu bytes > M=%zu once S_ij and "
                     "the row statistics are counted; shrunk to the largest Bc that fits, Br=min(Bc,d): Bc=%zu, "
                     "Br=%zu (%zu bytes)", bc0, br0, need(br0 ? br0 : 1, bc0 ? bc0 : 1, d, dt), M_bytes, Bc, Br,
                     bytes);
        return 0;
    }
    snprintf(err, errlen, "SRAM too small: M = %zu bytes cannot hold even 1 x 1 blocks with d=%zu (%s), which need "
             "%zu bytes", M_bytes, d, dtype_name(dt), need(Br_req ? Br_req : 1, Bc_req ? Bc_req : 1, d, dt));
    return -1;
}
