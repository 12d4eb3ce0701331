/* blocks.c — block sizes from the SRAM capacity: the paper's rule (or its transpose), then fitted to what really
 * stays resident. */
#include "blocks.h"

#include <stdio.h>

#include "util.h"

int blocks_choose(size_t M_bytes, size_t N, size_t d, dtype_t dt, size_t Br_req, size_t Bc_req, sram_need_fn need,
                  block_choice *out, char *err, size_t errlen)
{
    return blocks_choose_rule(M_bytes, N, d, dt, Br_req, Bc_req, need, BLOCK_RULE_KV_OUTER, out, err, errlen);
}

/* A plain need function as a context one. */
typedef struct {
    sram_need_fn fn;
} plain_need;
static size_t call_plain(const void *ctx, size_t Br, size_t Bc, size_t d, dtype_t dt)
{
    return ((const plain_need *)ctx)->fn(Br, Bc, d, dt);
}

int blocks_choose_rule(size_t M_bytes, size_t N, size_t d, dtype_t dt, size_t Br_req, size_t Bc_req,
                       sram_need_fn need, block_rule rule, block_choice *out, char *err, size_t errlen)
{
    plain_need ctx = {need};
    return blocks_choose_ctx(M_bytes, N, d, dt, Br_req, Bc_req, call_plain, &ctx, rule, out, err, errlen);
}

/* The rule's sentence once the blocks are known; the KV-outer wording is the paper's and lessons quote it. */
static void say_rule(block_choice *out, block_rule rule, size_t Br_req, size_t Bc_req, size_t M_bytes,
                     size_t paper_need)
{
    bool q = rule == BLOCK_RULE_Q_OUTER;
    const char *o = q ? "Br" : "Bc", *in = q ? "Bc" : "Br";
    size_t ov = q ? out->Br : out->Bc, iv = q ? out->Bc : out->Br;
    size_t o0 = q ? out->paper_Br : out->paper_Bc, i0 = q ? out->paper_Bc : out->paper_Br;
    if (Br_req || Bc_req)
        snprintf(out->rule, sizeof out->rule, "%s=%zu as given; %s=%zu is the largest that fits (%zu of M=%zu "
                 "bytes)", Br_req ? "Br" : "Bc", Br_req ? Br_req : Bc_req, Br_req ? "Bc" : "Br",
                 Br_req ? out->Bc : out->Br, out->need_bytes, M_bytes);
    else if (!q && !out->fitted)
        snprintf(out->rule, sizeof out->rule, "paper's rule: Bc=ceil(M/4d)=%zu, Br=min(Bc,d)=%zu (clamped to N); "
                 "uses %zu of M=%zu bytes", ov, iv, out->need_bytes, M_bytes);
    else if (!q)
        snprintf(out->rule, sizeof out->rule, "paper's rule Bc=%zu, Br=%zu needs %zu bytes > M=%zu once S_ij and "
                 "the row statistics are counted; shrunk to the largest Bc that fits, Br=min(Bc,d): Bc=%zu, "
                 "Br=%zu (%zu bytes)", o0, i0, paper_need, M_bytes, ov, iv, out->need_bytes);
    else if (!out->fitted)
        snprintf(out->rule, sizeof out->rule, "FlashAttention-2's loop order keeps Qi resident: the paper's rule "
                 "transposed, %s=ceil(M/4d)=%zu, %s=min(%s,d)=%zu (clamped to N); uses %zu of M=%zu bytes", o, ov,
                 in, o, iv, out->need_bytes, M_bytes);
    else
        snprintf(out->rule, sizeof out->rule, "FlashAttention-2's loop order keeps Qi resident: the paper's rule "
                 "transposed, %s=%zu, %s=%zu, needs %zu bytes > M=%zu once S_ij and the row statistics are counted; "
                 "shrunk to the largest %s that fits, %s=min(%s,d): %s=%zu, %s=%zu (%zu bytes)", o, o0, in, i0,
                 paper_need, M_bytes, o, in, o, o, ov, in, iv, out->need_bytes);
}

int blocks_choose_ctx(size_t M_bytes, size_t N, size_t d, dtype_t dt, size_t Br_req, size_t Bc_req,
                      sram_need_ctx_fn need, const void *ctx, block_rule rule, block_choice *out, char *err,
                      size_t errlen)
{
    /* The outer loop's block is the big one: ⌈M/4d⌉ (Alg.1 line 1's Bc); the inner one is min(outer, d). */
    bool q = rule == BLOCK_RULE_Q_OUTER;
    size_t M_el = M_bytes / dtype_size(dt);
    size_t o0 = min_size(ceil_div(M_el, 4 * d), N);   /* Alg.1 line 1: Bc = ⌈M/4d⌉ (transposed: Br) */
    size_t i0 = min_size(min_size(o0, d), N);         /*               Br = min(⌈M/4d⌉, d) (transposed: Bc) */
    size_t br0 = q ? o0 : i0, bc0 = q ? i0 : o0;
    *out = (block_choice){.paper_Br = br0, .paper_Bc = bc0};

    if (Br_req > N || Bc_req > N) {
        snprintf(err, errlen, "block %s = %zu is larger than the sequence length N = %zu",
                 Br_req > N ? "rows Br" : "cols Bc", Br_req > N ? Br_req : Bc_req, N);
        return -1;
    }
    if (Br_req && Bc_req) {
        size_t b = need(ctx, Br_req, Bc_req, d, dt);
        if (b > M_bytes) {
            snprintf(err, errlen, "SRAM too small: blocks Br=%zu x Bc=%zu with d=%zu (%s) need %zu bytes of SRAM, "
                     "M = %zu; they fit from -M %zu (or choose smaller blocks)", Br_req, Bc_req, d, dtype_name(dt), b,
                     M_bytes, b);
            return -1;
        }
        *out = (block_choice){Br_req, Bc_req, br0, bc0, b, false, ""};
        snprintf(out->rule, sizeof out->rule, "Br=%zu and Bc=%zu as given; they use %zu of M=%zu bytes", Br_req,
                 Bc_req, b, M_bytes);
        return 0;
    }

    /* Walk the outer block down from the rule's value (or the inner one, when the outer was given) until the
     * footprint fits. */
    size_t o_req = q ? Br_req : Bc_req, i_req = q ? Bc_req : Br_req;
    size_t top = o_req ? min_size(min_size(o_req, d), N) : (o0 ? o0 : 1);
    for (size_t b = top; b >= 1; b--) {
        size_t in = i_req ? i_req : (o_req ? b : min_size(min_size(b, d), N));
        size_t ou = o_req ? o_req : b;
        size_t Br = q ? ou : in, Bc = q ? in : ou;
        size_t bytes = need(ctx, Br, Bc, d, dt);
        if (bytes > M_bytes)
            continue;
        out->Br = Br;
        out->Bc = Bc;
        out->need_bytes = bytes;
        out->fitted = (Br != br0 && !Br_req) || (Bc != bc0 && !Bc_req);
        say_rule(out, rule, Br_req, Bc_req, M_bytes, need(ctx, br0 ? br0 : 1, bc0 ? bc0 : 1, d, dt));
        return 0;
    }
    size_t least = need(ctx, Br_req ? Br_req : 1, Bc_req ? Bc_req : 1, d, dt);
    snprintf(err, errlen, "SRAM too small: M = %zu bytes cannot hold even %zu x %zu blocks with d=%zu (%s), which "
             "need %zu bytes: the smallest SRAM that fits is -M %zu", M_bytes, Br_req ? Br_req : 1,
             Bc_req ? Bc_req : 1, d, dtype_name(dt), least, least);
    return -1;
}
