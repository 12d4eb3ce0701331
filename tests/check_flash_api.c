/* check_flash_api.c — flash_attn_func and flash_attn_backward (flash_api.h): the same passes as attention.h's
 * FlashAttention-2 (bitwise the same outputs, the same counts), flash_attn_func's argument meanings (layout
 * (B, N, H, d), softmax_scale 0 or negative = 1/sqrt(d), causal), against the fp64 reference; every refusal (dropout,
 * a bad scale, shapes, layouts, dtypes, SRAM, order of calls) is -1 with one line and leaves the model untouched. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flash_api.h"
#include "reference.h"
#include "rng.h"
#include "util.h"

/* fp32 through FlashAttention-2 against fp64: N = 50 keys summed in float, ~N ulps of the outputs' size 1. */
#define REF_TOL 1e-5

typedef struct {
    size_t B, N, H, d;
} shape;

static float *inputs(const shape *s, unsigned seed)
{
    size_t n = s->B * s->N * s->H * s->d;
    float *x = malloc(4 * n * sizeof *x);
    rng_t r;
    rng_seed(&r, seed);
    rng_fill_normal(&r, x, 4 * n, 1.0f);
    return x;   /* q, k, v, dout one after the other */
}

static float *download(const hbm_tensor *t)
{
    float *x = malloc(hbm_numel(t) * sizeof *x);
    hbm_download(t, x);
    return x;
}

static bool same_floats(const float *a, const float *b, size_t n) { return !memcmp(a, b, n * sizeof *a); }

/* The call and attention.h's own run on one model each, same blocks: identical outputs, gradients and ledgers. */
START_TEST(same_as_attention)
{
    static const shape S[] = {{1, 37, 1, 8}, {2, 50, 3, 5}, {1, 64, 2, 16}};
    const shape *s = &S[_i % 3];
    bool causal = _i >= 3;
    size_t n = s->B * s->N * s->H * s->d, M = 8 * 1024;
    float *x = inputs(s, 11 + (unsigned)_i);

    mem_t *ma = mem_create(M, false);
    hbm_tensor *q = hbm_alloc_bnhd(ma, "Q", DTYPE_FP32, s->B, s->N, s->H, s->d);
    hbm_tensor *k = hbm_alloc_bnhd(ma, "K", DTYPE_FP32, s->B, s->N, s->H, s->d);
    hbm_tensor *v = hbm_alloc_bnhd(ma, "V", DTYPE_FP32, s->B, s->N, s->H, s->d);
    hbm_upload(q, x), hbm_upload(k, x + n), hbm_upload(v, x + 2 * n);
    flash_attn fa = {0};
    char err[256] = "";
    ck_assert_msg(flash_attn_func(ma, q, k, v, 0.0, 0.0, causal, &fa, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(fa.fwd.algo, ATTN_FLASH2);
    io_count fwd_api = mem_io(ma, NULL, NULL);

    mem_t *mb = mem_create(M, false);
    attn_params p = fa.fwd;
    attn_tensors t = attn_alloc(mb, &p, DTYPE_FP32, true);
    hbm_upload(t.q, x), hbm_upload(t.k, x + n), hbm_upload(t.v, x + 2 * n), hbm_upload(t.dout, x + 3 * n);
    attn_forward(mb, &p, &t);
    io_count fwd_att = mem_io(mb, NULL, NULL);
    ck_assert_uint_eq(fwd_api.rd_elems, fwd_att.rd_elems);
    ck_assert_uint_eq(fwd_api.wr_elems, fwd_att.wr_elems);
    ck_assert_uint_eq(mem_flops(ma, NULL), mem_flops(mb, NULL));
    float *oa = download(fa.out), *ob = download(t.out), *la = download(fa.lse), *lb = download(t.lse);
    ck_assert(same_floats(oa, ob, n));
    ck_assert(same_floats(la, lb, s->B * s->H * s->N));

    /* the fp64 reference: the layout is (batch, seqlen, nheads, headdim) and the default scale 1/sqrt(d) */
    double *ref = malloc(n * sizeof *ref);
    ref_attention_bnhd(x, x + n, x + 2 * n, s->B, s->N, s->H, s->d, 1 / sqrt((double)s->d), causal, ref, NULL);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(oa[i] - ref[i]) <= REF_TOL, "out[%zu] = %g, reference %g", i, oa[i], ref[i]);

    /* the backward: the API's blocks are FlashAttention-2's backward rule; attention.h with the same blocks */
    hbm_tensor *dout = hbm_alloc_bnhd(ma, "dO", DTYPE_FP32, s->B, s->N, s->H, s->d);
    hbm_upload(dout, x + 3 * n);
    mem_ledger_reset(ma), mem_ledger_reset(mb);
    ck_assert_msg(flash_attn_backward(ma, &fa, dout, err, sizeof err) == 0, "%s", err);
    attn_params pb = p;
    pb.Br = fa.bwd.Br, pb.Bc = fa.bwd.Bc;
    attn_backward(mb, &pb, &t);
    ck_assert_uint_eq(mem_io(ma, NULL, NULL).rd_elems, mem_io(mb, NULL, NULL).rd_elems);
    ck_assert_uint_eq(mem_io(ma, NULL, NULL).wr_elems, mem_io(mb, NULL, NULL).wr_elems);
    ck_assert_uint_eq(mem_flops(ma, NULL), mem_flops(mb, NULL));
    hbm_tensor *ga[3] = {fa.dq, fa.dk, fa.dv}, *gb[3] = {t.dq, t.dk, t.dv};
    for (int g = 0; g < 3; g++) {
        float *a = download(ga[g]), *b = download(gb[g]);
        ck_assert(same_floats(a, b, n));
        free(a), free(b);
    }
    ck_assert_int_ne(flash_attn_backward(ma, &fa, dout, err, sizeof err), 0);   /* once per call */
    ck_assert_ptr_nonnull(strstr(err, "already"));

    flash_attn_release(ma, &fa);
    ck_assert_ptr_null(fa.out);
    hbm_download(q, oa);   /* the caller's tensors are still there */
    ck_assert(same_floats(oa, x, n));
    free(oa), free(ob), free(la), free(lb), free(ref), free(x);
    attn_free(mb, &t);
    mem_destroy(ma), mem_destroy(mb);
}
END_TEST

/* softmax_scale: 0 and negative mean 1/sqrt(d) (Python's None); another value scales q k^T. */
START_TEST(softmax_scale)
{
    shape s = {1, 20, 2, 9};
    size_t n = s.B * s.N * s.H * s.d;
    float *x = inputs(&s, 5), *out[4];
    double given[4] = {0.0, -1.0, 1 / sqrt(9.0), 0.7};
    for (int c = 0; c < 4; c++) {
        mem_t *m = mem_create(4096, false);
        hbm_tensor *q = hbm_alloc_bnhd(m, "Q", DTYPE_FP32, s.B, s.N, s.H, s.d);
        hbm_tensor *k = hbm_alloc_bnhd(m, "K", DTYPE_FP32, s.B, s.N, s.H, s.d);
        hbm_tensor *v = hbm_alloc_bnhd(m, "V", DTYPE_FP32, s.B, s.N, s.H, s.d);
        hbm_upload(q, x), hbm_upload(k, x + n), hbm_upload(v, x + 2 * n);
        flash_attn fa = {0};
        char err[256];
        ck_assert_int_eq(flash_attn_func(m, q, k, v, 0.0, given[c], true, &fa, err, sizeof err), 0);
        out[c] = download(fa.out);
        mem_destroy(m);
    }
    ck_assert(same_floats(out[0], out[1], n));
    ck_assert(same_floats(out[0], out[2], n));
    double *ref = malloc(n * sizeof *ref);
    ref_attention_bnhd(x, x + n, x + 2 * n, s.B, s.N, s.H, s.d, 0.7, true, ref, NULL);
    for (size_t i = 0; i < n; i++)
        ck_assert(fabs(out[3][i] - ref[i]) <= REF_TOL);
    for (int c = 0; c < 4; c++)
        free(out[c]);
    free(ref), free(x);
}
END_TEST

/* Every refusal: -1, one line naming the cause (no newline), no tensor allocated, no traffic. */
START_TEST(refusals)
{
    mem_t *m = mem_create(2048, false);
    hbm_tensor *q = hbm_alloc_bnhd(m, "Q", DTYPE_FP16, 2, 16, 2, 8);
    hbm_tensor *k = hbm_alloc_bnhd(m, "K", DTYPE_FP16, 2, 16, 2, 8);
    hbm_tensor *v = hbm_alloc_bnhd(m, "V", DTYPE_FP16, 2, 16, 2, 8);
    hbm_tensor *k_short = hbm_alloc_bnhd(m, "Ks", DTYPE_FP16, 2, 15, 2, 8);
    hbm_tensor *v_fp32 = hbm_alloc_bnhd(m, "V32", DTYPE_FP32, 2, 16, 2, 8);
    hbm_tensor *mat = hbm_alloc_mat(m, "X", DTYPE_FP16, 32, 8);
    size_t before = mem_ntensors(m);
    const struct {
        hbm_tensor *q, *k, *v;
        double dropout, scale;
        const char *says;
    } bad[] = {
        {q, k, v, 0.1, 0.0, "dropout_p = 0.1: only 0"}, {q, k, v, NAN, 0.0, "dropout_p = nan"},
        {q, k, v, 1.0, 0.0, "dropout_p = 1"},            {q, k, v, 0.0, INFINITY, "softmax_scale = inf"},
        {q, k, v, 0.0, NAN, "softmax_scale = nan"},      {q, k_short, v, 0.0, 0.0, "but k is (2, 15, 2, 8)"},
        {q, k, v_fp32, 0.0, 0.0, "q is fp16 but v is fp32"}, {mat, k, v, 0.0, 0.0, "q must be a (batch, seqlen"},
        {q, NULL, v, 0.0, 0.0, "k is missing"},
    };
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        flash_attn fa = {0};
        char err[256] = "";
        ck_assert_int_eq(flash_attn_func(m, bad[c].q, bad[c].k, bad[c].v, bad[c].dropout, bad[c].scale, false, &fa,
                                         err, sizeof err), -1);
        ck_assert_msg(strstr(err, bad[c].says) != NULL, "case %zu: '%s' does not say '%s'", c, err, bad[c].says);
        ck_assert_ptr_null(strchr(err, '\n'));
        ck_assert_ptr_null(fa.out);
    }
    /* blocks that do not fit M (2 KiB), and a block longer than N */
    flash_attn big = {.Br = 16, .Bc = 16}, longer = {.Br = 17};
    char err[256] = "";
    ck_assert_int_eq(flash_attn_func(m, q, k, v, 0.0, 0.0, false, &big, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "flash_attn_func: "));
    ck_assert_int_eq(flash_attn_func(m, q, k, v, 0.0, 0.0, false, &longer, err, sizeof err), -1);
    /* the backward before any forward */
    flash_attn none = {0};
    ck_assert_int_eq(flash_attn_backward(m, &none, q, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "needs the result of flash_attn_func"));
    ck_assert_uint_eq(mem_ntensors(m), before);
    ck_assert_uint_eq(mem_io(m, NULL, NULL).rd_elems + mem_io(m, NULL, NULL).wr_elems, 0);
    /* a dout of another shape after a good forward */
    flash_attn fa = {0};
    ck_assert_int_eq(flash_attn_func(m, q, k, v, 0.0, 0.0, false, &fa, err, sizeof err), 0);
    ck_assert_int_eq(flash_attn_backward(m, &fa, k_short, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "dout"));
    ck_assert_ptr_null(fa.dq);
    flash_attn_release(m, &fa);
    mem_destroy(m);
}
END_TEST

Suite *flash_api_suite(void)
{
    Suite *s = suite_create("flash_api");
    TCase *tc = tcase_create("Api");
    tcase_add_loop_test(tc, same_as_attention, 0, 6);
    tcase_add_test(tc, softmax_scale);
    tcase_add_test(tc, refusals);
    suite_add_tcase(s, tc);
    return s;
}
