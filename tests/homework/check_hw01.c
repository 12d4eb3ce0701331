/* check_hw01.c — grades hw01_online_softmax: softmax of each row of x in two passes through SRAM.
 * Correct y on ragged shapes, large logits and masked (-inf) entries, NaN-aware; x read exactly twice and y
 * written exactly once; SRAM exactly one tile and two row statistics (softmax_sram_need). */
#include "hw_check.h"
#include "softmax.h"

const char homework_name[] = "hw01";
const char homework_title[] = "online softmax: two passes over x instead of three";

/* y in [0, 1]: the fp32 sum of N terms carries up to ~N ulps of relative error. */
#define SM_ATOL 1e-7
#define SM_RTOL_PER_TERM (2.0 * FLT_EPSILON)

typedef struct {
    size_t R, N, Br, Bc;
    float stddev;      /* x ~ N(0, stddev^2) */
    double masked;     /* fraction of entries set to -inf (never a whole row) */
} sm_case;

static const sm_case SHAPES[] = {
    {1, 1, 1, 1, 1, 0},    {1, 10, 1, 3, 1, 0},    {3, 17, 2, 5, 1, 0},    {4, 64, 4, 16, 1, 0},
    {5, 100, 2, 7, 1, 0},  {2, 1000, 2, 64, 1, 0}, {7, 33, 3, 33, 3, 0},   {1, 50, 1, 50, 1, 0},
};
#define NSHAPES (sizeof SHAPES / sizeof SHAPES[0])

typedef struct {
    io_count x, y, all;
    size_t bad, nan, zeros, n, worst;
    double got, want, err;
} sm_run;

static void run(const sm_case *c, uint64_t seed, sm_run *r)
{
    memset(r, 0, sizeof *r);
    size_t n = c->R * c->N;
    float *x = xmalloc(n * sizeof *x), *y = xmalloc(n * sizeof *y);
    double *xd = xmalloc(c->N * sizeof *xd), *yd = xmalloc(c->N * sizeof *yd);
    rng_t g;
    rng_seed(&g, seed);
    rng_fill_normal(&g, x, n, c->stddev);
    for (size_t i = 0; i < c->R; i++)
        for (size_t j = 0; j < c->N; j++)
            if (j != i % c->N && rng_uniform(&g) < c->masked)   /* column i % N stays finite */
                x[i * c->N + j] = -INFINITY;
    mem_t *m = mem_create(softmax_sram_need(SOFTMAX_ONLINE, c->Br, c->Bc, DTYPE_FP32), false);
    hbm_tensor *X = hbm_alloc_mat(m, "x", DTYPE_FP32, c->R, c->N), *Y = hbm_alloc_mat(m, "y", DTYPE_FP32, c->R, c->N);
    hbm_upload(X, x);

    hw01_online_softmax(m, X, Y, c->Br, c->Bc);

    hbm_download(Y, y);
    r->x = mem_io(m, "x", NULL);
    r->y = mem_io(m, "y", NULL);
    r->all = mem_io(m, NULL, NULL);
    r->n = n;
    for (size_t i = 0; i < c->R; i++) {
        for (size_t j = 0; j < c->N; j++)
            xd[j] = x[i * c->N + j];
        ref_softmax(xd, c->N, yd);
        for (size_t j = 0; j < c->N; j++) {
            float got = y[i * c->N + j];
            double e = fabs((double)got - yd[j]);
            r->nan += isnan(got);
            r->zeros += got == 0.0f;
            if (isnan(got) || e > SM_ATOL + SM_RTOL_PER_TERM * (double)c->N * yd[j]) {
                if (!r->bad || isnan(got) || e > r->err)
                    r->worst = i * c->N + j, r->got = got, r->want = yd[j], r->err = isnan(got) ? INFINITY : e;
                r->bad++;
            }
        }
    }
    mem_destroy(m);
    free(x), free(y), free(xd), free(yd);
}

static void assert_correct(const sm_case *c, const sm_run *r, const char *hint)
{
    char cs[128];
    snprintf(cs, sizeof cs, "R=%zu N=%zu Br=%zu Bc=%zu%s%s", c->R, c->N, c->Br, c->Bc,
             c->stddev > 100 ? " large-logits" : "", c->masked > 0 ? " masked" : "");
    if (r->zeros == r->n)
        ck_abort_msg("%s: y is all zeros — nothing was stored to y (hbm_store_tile in pass 2)", cs);
    if (r->nan)
        ck_abort_msg("%s: %zu of %zu values of y are NaN: exp(-inf - (-inf)) when the running max is still -inf? "
                     "Rescale by e^(m_old - m_new) only when m_old is finite. %s", cs, r->nan, r->n, hint);
    if (r->bad)
        ck_abort_msg("%s: %zu of %zu values of y are wrong; worst y[row %zu, col %zu] = %.7g but the double "
                     "reference says %.7g. %s", cs, r->bad, r->n, r->worst / c->N, r->worst % c->N, r->got, r->want,
                     hint);
}

static const char HINT[] = "Pass 1, per row: m_new = max(m, max of the block), l = l * e^(m - m_new) + sum of "
                           "e^(x - m_new), m = m_new. Pass 2: y = e^(x - m) / l.";

START_TEST(correct_on_shapes)
{
    sm_run r;
    run(&SHAPES[_i], 10 + (uint64_t)_i, &r);
    assert_correct(&SHAPES[_i], &r, HINT);
}
END_TEST

START_TEST(correct_with_large_logits)
{
    static const sm_case c = {3, 200, 2, 16, 1e4f, 0};   /* e^x overflows fp32 beyond x = 88.7 */
    sm_run r;
    run(&c, 21, &r);
    assert_correct(&c, &r, "With x in the ten thousands e^x is inf: only ever take exp of x - (running max).");
}
END_TEST

START_TEST(correct_with_masked_entries)
{
    static const sm_case c = {6, 90, 3, 8, 2, 0.7};    /* -inf entries: whole blocks of a row can be masked */
    sm_run r;
    run(&c, 22, &r);
    assert_correct(&c, &r, "A block whose values are all -inf has max -inf: it must leave m and l unchanged.");
}
END_TEST

/* The point of online softmax: x crosses from HBM twice (statistics, then output), y once. */
START_TEST(two_passes_over_x)
{
    const sm_case *c = &SHAPES[_i];
    sm_run r;
    run(c, 30 + (uint64_t)_i, &r);
    uint64_t RN = (uint64_t)c->R * c->N;
    ck_assert_msg(r.x.rd_elems == 2 * RN, "R=%zu N=%zu Br=%zu Bc=%zu: x read %llu elements = %.2f passes; online "
                  "softmax reads x exactly twice (%llu): pass 1 for m and l together, pass 2 for y", c->R, c->N, c->Br,
                  c->Bc, (unsigned long long)r.x.rd_elems, (double)r.x.rd_elems / (double)RN,
                  (unsigned long long)(2 * RN));
    ck_assert_msg(r.y.wr_elems == RN && r.y.rd_elems == 0, "R=%zu N=%zu: y written %llu and read %llu elements; "
                  "write each y exactly once (%llu) and never read it back", c->R, c->N,
                  (unsigned long long)r.y.wr_elems, (unsigned long long)r.y.rd_elems, (unsigned long long)RN);
    ck_assert_msg(r.x.wr_elems == 0, "x was written %llu elements: x is the input, leave it as it is",
                  (unsigned long long)r.x.wr_elems);
}
END_TEST

Suite *homework_suite(void)
{
    Suite *s = suite_create(homework_name);
    struct { const char *name; const TTest *test; int loop; } T[] = {
        {"correct_on_shapes", correct_on_shapes, (int)NSHAPES},
        {"correct_with_large_logits", correct_with_large_logits, 0},
        {"correct_with_masked_entries", correct_with_masked_entries, 0},
        {"two_passes_over_x", two_passes_over_x, (int)NSHAPES},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        TCase *tc = tcase_create(T[i].name);
        if (T[i].loop)
            tcase_add_loop_test(tc, T[i].test, 0, T[i].loop);
        else
            tcase_add_test(tc, T[i].test);
        tcase_set_timeout(tc, HW_TIMEOUT_S);
        suite_add_tcase(s, tc);
    }
    return s;
}
