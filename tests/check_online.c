/* check_online.c — the online-softmax state: one update, the merge of two partial states, their algebra (any split,
 * any order), −inf entries, and the two-pass online softmax against the three-pass safe one on the memory model. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "check_util.h"
#include "rng.h"
#include "softmax.h"
#include "util.h"

/* (m, ℓ) of x in double: the truth for a state. */
static void truth(const float *x, size_t n, double *m, double *l)
{
    *m = -INFINITY;
    *l = 0;
    for (size_t k = 0; k < n; k++)
        *m = x[k] > *m ? x[k] : *m;
    for (size_t k = 0; k < n; k++)
        *l += exp((double)x[k] - *m);
}

/* ℓ in fp32 after up to 64 rescales and a few hundred additions of terms <= 1: 1e-5 relative is generous for
 * the ~N·eps (N <= 200, eps 6e-8) a sum can lose, plus eps·|x − m| per exponential (|x − m| <= 60 here). */
#define L_RTOL 2e-5

static void assert_state(softmax_state s, const float *x, size_t n)
{
    double m, l;
    truth(x, n, &m, &l);
    ck_assert_msg((double)s.m == m, "m = %g, want %g (a max is exact)", (double)s.m, m);
    ck_assert_msg(fabs((double)s.l - l) <= L_RTOL * l, "l = %.9g, want %.9g", (double)s.l, l);
}

/* Fold a row in blocks of random sizes: the state equals the whole row's, whatever the cuts. */
START_TEST(update_any_blocks)
{
    rng_t r;
    rng_seed(&r, 4000 + (uint64_t)_i);
    for (int t = 0; t < 200; t++) {
        size_t n = 1 + rng_below(&r, 200);
        float *x = malloc(n * sizeof *x);
        rng_fill_normal(&r, x, n, 1.0f + 10.0f * (float)rng_uniform(&r));
        softmax_state s = softmax_state_empty();
        for (size_t k = 0; k < n;) {
            size_t b = 1 + rng_below(&r, n - k);
            s = softmax_online_update(s, x + k, b);
            k += b;
        }
        assert_state(s, x, n);
        free(x);
    }
}
END_TEST

/* Cut a row in k parts, reduce each alone, merge them in a random order: the whole row's state. */
START_TEST(merge_any_order)
{
    rng_t r;
    rng_seed(&r, 5000 + (uint64_t)_i);
    for (int t = 0; t < 200; t++) {
        size_t n = 2 + rng_below(&r, 150), k = 1 + rng_below(&r, n < 8 ? n : 8), cut[9];
        float *x = malloc(n * sizeof *x);
        rng_fill_normal(&r, x, n, 5.0f);
        cut[0] = 0;
        cut[k] = n;
        for (size_t p = 1; p < k; p++)   /* k parts, each at least one value */
            cut[p] = cut[p - 1] + 1 + rng_below(&r, n - cut[p - 1] - (k - p));
        softmax_state part[8];
        for (size_t p = 0; p < k; p++)
            part[p] = softmax_online_update(softmax_state_empty(), x + cut[p], cut[p + 1] - cut[p]);
        for (size_t p = k - 1; p > 0; p--) {   /* shuffle */
            size_t q = rng_below(&r, p + 1);
            softmax_state tmp = part[p];
            part[p] = part[q];
            part[q] = tmp;
        }
        softmax_state s = softmax_state_empty();
        for (size_t p = 0; p < k; p++)
            s = softmax_merge(s, part[p]);
        assert_state(s, x, n);
        free(x);
    }
}
END_TEST

START_TEST(identities)
{
    float x[5] = {0.5f, -2.0f, 3.25f, 1.0f, 3.0f};
    softmax_state e = softmax_state_empty(), a = softmax_online_update(e, x, 5);
    ck_assert(isinf(e.m) && e.m < 0 && e.l == 0.0f);
    ck_assert(a.m == 3.25f);
    softmax_state b = softmax_online_update(a, x, 0);     /* an empty block changes nothing */
    ck_assert(b.m == a.m && b.l == a.l);
    b = softmax_merge(a, e);                              /* the empty state is the identity */
    ck_assert(b.m == a.m && b.l == a.l);
    b = softmax_merge(e, a);
    ck_assert(b.m == a.m && b.l == a.l);
    b = softmax_merge(e, e);
    ck_assert(isinf(b.m) && b.l == 0.0f && !isnan(b.l));
    softmax_state c = softmax_merge(a, softmax_online_update(e, x + 2, 1)), d = softmax_online_update(a, x + 2, 1);
    ck_assert(c.m == d.m);                                /* merge and update agree */
    ck_assert(fabsf(c.l - d.l) <= 1e-6f * d.l);
    /* the rescale: a new max multiplies the old sum by e^(m_old − m_new) */
    softmax_state one = softmax_online_update(e, (float[]){0.0f}, 1), two = softmax_online_update(one, (float[]){1.0f}, 1);
    ck_assert(one.m == 0.0f && one.l == 1.0f);
    ck_assert(two.m == 1.0f && fabsf(two.l - (expf(-1.0f) + 1.0f)) <= 1e-7f);
}
END_TEST

/* −inf entries (masked scores) add nothing; a block of nothing but −inf leaves the state as it was, no NaN. */
START_TEST(minus_infinity)
{
    float none[3] = {-INFINITY, -INFINITY, -INFINITY}, some[4] = {-INFINITY, 2.0f, -INFINITY, 1.0f};
    softmax_state s = softmax_online_update(softmax_state_empty(), none, 3);
    ck_assert(isinf(s.m) && s.m < 0 && s.l == 0.0f);
    s = softmax_online_update(s, some, 4);
    ck_assert(s.m == 2.0f && fabsf(s.l - (1.0f + expf(-1.0f))) <= 1e-7f);
    softmax_state t = softmax_online_update(s, none, 3);
    ck_assert(t.m == s.m && t.l == s.l);
    ck_assert(!isnan(softmax_merge(softmax_online_update(softmax_state_empty(), none, 3), s).l));
}
END_TEST

/* On the memory model: the two-pass online softmax equals the three-pass safe one, reads 2RN instead of 3RN, and
 * the probe sees every row's final state equal to the truth. */
typedef struct {
    softmax_state *final;
    size_t calls;
} probe_ctx;

static void probe(size_t r, size_t j, softmax_state before, softmax_state after, float m_block, void *ctx)
{
    probe_ctx *p = ctx;
    (void)j;
    ck_assert(after.m == fmaxf(before.m, m_block));
    p->final[r] = after;
    p->calls++;
}

/* Online vs safe in fp32: the same exponentials with different subtrahends (1e-5 covers |x − m| <= ~40), and ℓ
 * summed in two levels by both, (Bc + Tc) ulps each at worst. */
#define VS_SAFE_RTOL(Bc, Tc) (1e-5 + 2.0 * (double)((Bc) + (Tc)) * 0x1p-24)
#define VS_SAFE_ATOL 1e-30

START_TEST(online_equals_safe)
{
    rng_t r;
    rng_seed(&r, 6000 + (uint64_t)_i);
    for (int t = 0; t < 40; t++) {
        size_t R = 1 + rng_below(&r, 6), N = 1 + rng_below(&r, 120), Br = 1 + rng_below(&r, R),
               Bc = 1 + rng_below(&r, N), n = R * N;
        float *x = malloc(n * sizeof *x), *y1 = malloc(n * sizeof *y1), *y2 = malloc(n * sizeof *y2);
        rng_fill_normal(&r, x, n, 4.0f);
        softmax_state *final = calloc(R, sizeof *final);
        probe_ctx pc = {final, 0};
        uint64_t rd[2];
        for (int a = 0; a < 2; a++) {
            mem_t *m = mem_create(softmax_sram_need(SOFTMAX_SAFE, Br, Bc, DTYPE_FP32), false);
            hbm_tensor *X = hbm_alloc_mat(m, "x", DTYPE_FP32, R, N), *Y = hbm_alloc_mat(m, "y", DTYPE_FP32, R, N);
            hbm_upload(X, x);
            softmax_run(m, a ? SOFTMAX_SAFE : SOFTMAX_ONLINE, X, Y, Br, Bc, a ? NULL : probe, &pc);
            hbm_download(Y, a ? y2 : y1);
            rd[a] = mem_io(m, "x", NULL).rd_elems;
            mem_destroy(m);
        }
        ck_assert_uint_eq(rd[0], 2 * n);
        ck_assert_uint_eq(rd[1], 3 * n);
        ck_assert_uint_eq(pc.calls, R * ceil_div(N, Bc));
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(fabsf(y1[i] - y2[i]) <= VS_SAFE_ATOL + VS_SAFE_RTOL(Bc, ceil_div(N, Bc)) * fabsf(y2[i]) &&
                              !isnan(y1[i]),
                          "y[%zu]: online %.9g, safe %.9g", i, (double)y1[i], (double)y2[i]);
        for (size_t i = 0; i < R; i++)
            assert_state(final[i], x + i * N, N);
        free(x), free(y1), free(y2), free(final);
    }
}
END_TEST

Suite *online_suite(void)
{
    Suite *s = suite_create("online");
    TCASE(s, "State", 0, {update_any_blocks, .loops = 3}, {merge_any_order, .loops = 3}, {identities},
          {minus_infinity});
    TCASE(s, "Passes", 0, {online_equals_safe, .loops = 3});
    return s;
}
