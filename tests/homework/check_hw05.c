/* check_hw05.c — grades hw05_flash2_forward: FlashAttention-2 (Dao 2023, Algorithm 1) on the memory model.
 * Correct O and L (log-sum-exp) on ragged shapes, causal or not (with Br > Bc some rows of a tile are entirely
 * masked: NaN is caught), several heads, large logits; O and L written exactly once; reads within the closed form,
 * which for causal counts only the key blocks a query block needs; and the same O and L as flash_attn_func (the API a
 * learner calls next, flash_api.h) returns for the same q, k, v, softmax_scale and causal. */
#include "flash_api.h"
#include "hw_check.h"

const char homework_name[] = "hw05";
const char homework_title[] = "FlashAttention-2 (Dao 2023, Algorithm 1): query blocks outside, O and L written once";

const char *const homework_allowed[] = {HW_ALLOW_MEMORY_MODEL, "attn_sram_plan", "attn_sram_need",
                                        "attn_io_closed_form", "attn_tile_skipped", "attn_algo_name", NULL};

static const hw_case SHAPES[] = {
    {1, 1, 1, 1, 1, 1, false, 1, 0},      {1, 7, 1, 3, 2, 3, false, 1, 0},      {1, 16, 1, 16, 4, 8, false, 1, 0},
    {1, 33, 1, 5, 8, 4, false, 1, 0},     {1, 100, 1, 80, 16, 32, false, 1, 0}, {1, 129, 1, 64, 64, 32, false, 1, 0},
    {1, 257, 1, 3, 17, 5, false, 1, 0},   {1, 7, 1, 3, 2, 3, true, 1, 0},       {1, 33, 1, 5, 8, 4, true, 1, 0},
    {1, 100, 1, 80, 32, 16, true, 1, 0},  {1, 129, 1, 64, 64, 32, true, 1, 0},  {1, 257, 1, 3, 5, 17, true, 1, 0},
    {1, 64, 1, 16, 16, 16, true, 1, 0},
};
#define NSHAPES (sizeof SHAPES / sizeof SHAPES[0])

static void check_output(const hw_case *c, uint64_t seed)
{
    hw_attn_check(c, ATTN_FLASH2, hw05_flash2_forward, seed, hw_output_ok, hw_lse_ok);
}

START_TEST(correct_on_shapes)
{
    check_output(&SHAPES[_i], 500 + (uint64_t)_i);
}
END_TEST

START_TEST(correct_with_heads)
{
    static const hw_case c = {2, 19, 3, 8, 5, 4, true, 1, 0};
    check_output(&c, 9);
}
END_TEST

START_TEST(correct_with_large_logits)
{
    static const hw_case c = {1, 70, 1, 16, 16, 8, true, 30, 0};
    check_output(&c, 10);
}
END_TEST

#define U(x) ((unsigned long long)(x))

/* FlashAttention-2's point about writes: O and L leave SRAM once per row, never re-read. */
static bool writes_ok(const hw_run *r, char *msg, size_t len)
{
    const hw_case *c = &r->c;
    const char *cs = r->cs;
    uint64_t Nd = (uint64_t)c->B * c->H * c->N * c->d, NL = (uint64_t)c->B * c->H * c->N;
    uint64_t Tc = (c->N + c->Bc - 1) / c->Bc;
    if (r->o_io.wr_elems != Nd)
        snprintf(msg, len, "%s: O written %llu elements; FlashAttention-2 writes each Oi once, after the inner loop: "
                 "exactly B*H*N*d = %llu. %s", cs, U(r->o_io.wr_elems), U(Nd),
                 r->o_io.wr_elems < Nd ? "Some rows of O were never stored (the ragged last query block?)."
                 : Tc > 1 && r->o_io.wr_elems >= Tc * Nd / 2 ? "That is about once per key block: the store of Oi "
                   "is inside the loop over j; move it after the loop (FA2 line 14)."
                 : "Store every Oi exactly once (FA2 line 14).");
    else if (r->o_io.rd_elems)
        snprintf(msg, len, "%s: O read %llu elements back from HBM; in FlashAttention-2 Oi stays in SRAM for the "
                 "whole inner loop and is never read (FA2 line 5 starts it at 0 on chip)", cs, U(r->o_io.rd_elems));
    else if (r->l_io.wr_elems != NL)
        snprintf(msg, len, "%s: L written %llu elements; exactly B*H*N = %llu, once per row after the inner loop (FA2 "
                 "line 15)", cs, U(r->l_io.wr_elems), U(NL));
    else if (r->io.wr_elems != Nd + NL)
        snprintf(msg, len, "%s: %llu elements written in all, but only O and L (%llu) should be", cs,
                 U(r->io.wr_elems), U(Nd + NL));
    else
        return true;
    return false;
}

START_TEST(writes_o_and_l_exactly_once)
{
    hw_attn_check(&SHAPES[_i], ATTN_FLASH2, hw05_flash2_forward, 600 + (uint64_t)_i, writes_ok, NULL);
}
END_TEST

static bool reads_ok(const hw_run *r, char *msg, size_t len)
{
    const hw_case *c = &r->c;
    const char *cs = r->cs;
    uint64_t Nd = (uint64_t)c->B * c->H * c->N * c->d, K = hw_cf(&r->cf, "K").rd;
    if (r->q_io.rd_elems != Nd)
        snprintf(msg, len, "%s: Q read %llu elements; FA2 loads each Qi once, before the inner loop (line 4): %llu. "
                 "%s", cs, U(r->q_io.rd_elems), U(Nd),
                 r->q_io.rd_elems > Nd ? "Is the load of Qi inside the loop over key blocks?"
                                       : "Every query block must be loaded (the last one is ragged: rows = min(Br, "
                                         "N - i*Br)).");
    else if (r->k_io.rd_elems < Nd || r->v_io.rd_elems < Nd)
        snprintf(msg, len, "%s: every element of K and V must be loaded at least once (K %llu, V %llu of %llu)", cs,
                 U(r->k_io.rd_elems), U(r->v_io.rd_elems), U(Nd));
    else if (r->k_io.rd_elems > K || r->v_io.rd_elems > K)
        snprintf(msg, len, "%s: K read %llu, V read %llu elements, more than FA2's %llu each: load Kj, Vj once per "
                 "tile (line 7)%s", cs, U(r->k_io.rd_elems), U(r->v_io.rd_elems), U(K),
                 c->causal ? "; with the causal mask, stop the inner loop at the first key block that starts after "
                             "the query block's last row: those tiles are entirely masked (attn_tile_skipped)" : "");
    else
        return true;
    return false;
}

START_TEST(reads_within_closed_form)
{
    hw_attn_check(&SHAPES[_i], ATTN_FLASH2, hw05_flash2_forward, 700 + (uint64_t)_i, reads_ok, NULL);
}
END_TEST

/* flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale, causal) on the same (B, N, H, d) inputs and blocks: the
 * student's forward is what it runs. softmax_scale 0 is Python's None (1/sqrt(d)); the others are given. */
static const hw_case API[] = {
    {2, 37, 3, 16, 8, 4, true, 1, 0.0},  {1, 50, 2, 8, 16, 8, false, 1, 0.25}, {1, 33, 1, 5, 4, 8, true, 1, 0.6},
    {1, 64, 2, 32, 16, 16, false, 1, 0.0},
};
#define NAPI (sizeof API / sizeof API[0])

/* O and L of flash_attn_func on r's inputs, into out (B, N, H, d) and lse (B, H, N). */
static void library_call(const hw_run *r, float *out, float *lse)
{
    const hw_case *c = &r->c;
    char err[256];
    mem_t *m = mem_create(attn_sram_need(ATTN_FLASH2, false, c->Br, c->Bc, c->d, DTYPE_FP32), false);
    hbm_tensor *q = hbm_alloc_bnhd(m, "Q", DTYPE_FP32, c->B, c->N, c->H, c->d);
    hbm_tensor *k = hbm_alloc_bnhd(m, "K", DTYPE_FP32, c->B, c->N, c->H, c->d);
    hbm_tensor *v = hbm_alloc_bnhd(m, "V", DTYPE_FP32, c->B, c->N, c->H, c->d);
    hbm_upload(q, r->q), hbm_upload(k, r->k), hbm_upload(v, r->v);
    flash_attn fa = {.Br = c->Br, .Bc = c->Bc};
    ck_assert_msg(!flash_attn_func(m, q, k, v, 0.0, c->scale, c->causal, &fa, err, sizeof err), "internal: %s", err);
    hbm_download(fa.out, out);
    hbm_download(fa.lse, lse);
    flash_attn_release(m, &fa);
    mem_destroy(m);
}

static bool same_as_library(const hw_run *r, char *msg, size_t len)
{
    const hw_case *c = &r->c;
    size_t n = c->B * c->N * c->H * c->d, nl = c->B * c->H * c->N, bad = 0, at = 0, bad_l = 0, at_l = 0;
    float *out = xmalloc(n * sizeof *out), *lse = xmalloc(nl * sizeof *lse);
    library_call(r, out, lse);
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(r->o[i] - out[i]) <= r->atol + HW_RTOL * fabsf(out[i])) && !bad++)
            at = i;
    for (size_t i = 0; i < nl; i++)
        if (!(fabsf(r->l[i] - lse[i]) <= r->atol + HW_RTOL * fabsf(lse[i])) && !bad_l++)
            at_l = i;
    char scale[32];
    snprintf(scale, sizeof scale, c->scale > 0 ? "%g" : "None", c->scale);
    if (bad)
        snprintf(msg, len, "%s: out = flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=%s, causal=%s) differs "
                 "from your O in %zu of %zu elements, the first O[b=%zu, row %zu, h=%zu, col %zu] = %.6g where it "
                 "returns %.6g. Your function is what it runs: q, k, v, out are (B, N, H, d); softmax_scale is "
                 "p->scale (None is 0: 1/sqrt(d)); causal is p->causal.", r->cs, scale, c->causal ? "True" : "False",
                 bad, n, at / c->d / c->H / c->N, at / c->d / c->H % c->N, at / c->d % c->H, at % c->d,
                 (double)r->o[at], (double)out[at]);
    else if (bad_l)
        snprintf(msg, len, "%s: flash_attn_func's softmax_lse differs from your L in %zu of %zu values, the first "
                 "L[b=%zu, h=%zu, row %zu] = %.6g where it returns %.6g: Li = mi + log(li), in the scaled scores.",
                 r->cs, bad_l, nl, at_l / c->N / c->H, at_l / c->N % c->H, at_l % c->N, (double)r->l[at_l],
                 (double)lse[at_l]);
    free(out);
    free(lse);
    return !bad && !bad_l;
}

START_TEST(matches_flash_attn_func)
{
    hw_attn_check(&API[_i], ATTN_FLASH2, hw05_flash2_forward, 800 + (uint64_t)_i, hw_output_ok, same_as_library);
}
END_TEST

HW_TESTS(
    {"correct_on_shapes", correct_on_shapes, (int)NSHAPES},
    {"correct_with_heads", correct_with_heads, 1},
    {"correct_with_large_logits", correct_with_large_logits, 1},
    {"writes_o_and_l_exactly_once", writes_o_and_l_exactly_once, (int)NSHAPES},
    {"reads_within_closed_form", reads_within_closed_form, (int)NSHAPES},
    {"matches_flash_attn_func", matches_flash_attn_func, (int)NAPI}
)
