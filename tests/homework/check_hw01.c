/* check_hw01.c — grades hw01_online_softmax: softmax of each row of x in two passes through SRAM.
 * Correct y on ragged shapes, large logits and masked (-inf) entries, NaN-aware; x read exactly twice and y
 * written exactly once; SRAM exactly one tile and two row statistics (softmax_sram_need). HBM is guarded
 * (hw_guard.c): outside counted loads x's storage holds decoys, and y is what counted stores wrote. */
#include "hw_check.h"
#include "softmax.h"

const char homework_name[] = "hw01";
const char homework_title[] = "online softmax: two passes over x instead of three";

const char *const homework_allowed[] = {HW_ALLOW_MEMORY_MODEL, "softmax_sram_need", NULL};

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
    sm_case c;
    float *x, *dx, *y, *y_init;   /* input, its decoy, output (counted stores only), the output's garbage start */
    double *want;                 /* the double reference */
    io_count x_io, y_io, all;
} sm_run;

static void run(const sm_case *c, uint64_t seed, sm_run *r)
{
    memset(r, 0, sizeof *r);
    r->c = *c;
    size_t n = c->R * c->N;
    r->x = xmalloc(n * sizeof *r->x), r->dx = xmalloc(n * sizeof *r->dx);
    r->y = xmalloc(n * sizeof *r->y), r->y_init = xmalloc(n * sizeof *r->y_init);
    r->want = xmalloc(n * sizeof *r->want);
    rng_t g;
    rng_seed(&g, seed);
    rng_fill_normal(&g, r->x, n, c->stddev);
    for (size_t i = 0; i < c->R; i++)
        for (size_t j = 0; j < c->N; j++)
            if (j != i % c->N && rng_uniform(&g) < c->masked)   /* column i % N stays finite */
                r->x[i * c->N + j] = -INFINITY;
    rng_fill_normal(&g, r->dx, n, c->stddev);
    rng_fill_uniform(&g, r->y_init, n, 0.0f, 1.0f);
    double *xd = xmalloc(c->N * sizeof *xd);
    for (size_t i = 0; i < c->R; i++) {
        for (size_t j = 0; j < c->N; j++)
            xd[j] = r->x[i * c->N + j];
        ref_softmax(xd, c->N, r->want + i * c->N);
    }
    free(xd);

    mem_t *m = mem_create(softmax_sram_need(SOFTMAX_ONLINE, c->Br, c->Bc, DTYPE_FP32), false);
    hbm_tensor *X = hbm_alloc_mat(m, "x", DTYPE_FP32, c->R, c->N), *Y = hbm_alloc_mat(m, "y", DTYPE_FP32, c->R, c->N);
    hw_guard_add(X, r->x, r->dx);
    hw_guard_add(Y, NULL, r->y_init);
    hw_guard_begin();
    hw01_online_softmax(m, X, Y, c->Br, c->Bc);
    hw_guard_end();
    hbm_download(Y, r->y);
    hw_guard_reset();
    r->x_io = mem_io(m, "x", NULL);
    r->y_io = mem_io(m, "y", NULL);
    r->all = mem_io(m, NULL, NULL);
    mem_destroy(m);
}

static void run_free(sm_run *r)
{
    free(r->x), free(r->dx), free(r->y), free(r->y_init), free(r->want);
}

static bool close_to(float got, double want, size_t N)
{
    return !isnan(got) && fabs((double)got - want) <= SM_ATOL + SM_RTOL_PER_TERM * (double)N * want;
}

/* The mistakes a wrong y can show, each computed in double from the row (or its decoy). */
typedef enum { SM_DECOY, SM_UNNORMALIZED, SM_NO_RESCALE, SM_RAGGED_MISSING, SM_NKINDS } sm_kind;

static void mistake_row(sm_kind k, const float *x, size_t N, size_t Bc, double *out)
{
    size_t stats_end = k == SM_RAGGED_MISSING ? N - N % Bc : N;   /* pass 1 without the ragged last block */
    double m = -INFINITY, l = 0;
    for (size_t j0 = 0; j0 < stats_end; j0 += Bc) {
        size_t j1 = j0 + Bc < stats_end ? j0 + Bc : stats_end;
        double m_new = m;
        for (size_t j = j0; j < j1; j++)
            m_new = x[j] > m_new ? x[j] : m_new;
        if (k != SM_NO_RESCALE && m != -INFINITY)
            l *= exp(m - m_new);
        for (size_t j = j0; j < j1; j++)
            l += exp(x[j] - m_new);
        m = m_new;
    }
    for (size_t j = 0; j < N; j++)
        out[j] = k == SM_UNNORMALIZED ? exp(x[j] - m) : exp(x[j] - m) / l;
}

static bool mistake_matches(const sm_run *r, sm_kind k)
{
    const sm_case *c = &r->c;
    size_t n = c->R * c->N, ok = 0, bad = 0, bad_ok = 0;
    double *w = xmalloc(c->N * sizeof *w);
    for (size_t i = 0; i < c->R; i++) {
        mistake_row(k, (k == SM_DECOY ? r->dx : r->x) + i * c->N, c->N, c->Bc, w);
        for (size_t j = 0; j < c->N; j++) {
            float got = r->y[i * c->N + j];
            bool close = isfinite(got) && fabs(got - w[j]) <= 10 * SM_ATOL + HW_DIAG_RTOL * fabs(w[j]);
            bool wrong = !close_to(got, r->want[i * c->N + j], c->N);
            ok += close, bad += wrong, bad_ok += wrong && close;
        }
    }
    free(w);
    /* the mistake must match nearly everything, and explain nearly every wrong value */
    return (double)ok >= HW_DIAG_SHARE * (double)n && (double)bad_ok >= HW_DIAG_SHARE * (double)bad;
}

/* Is y right? If not, msg says what is wrong and what the mistake looks like. */
static bool output_ok(const sm_run *r, char *msg, size_t len)
{
    const sm_case *c = &r->c;
    size_t n = c->R * c->N, bad = 0, nan = 0, unset = 0, first_unset = 0, worst = 0;
    size_t last_r0 = (c->R - 1) / c->Br * c->Br, last_c0 = (c->N - 1) / c->Bc * c->Bc;
    bool bad_outside_last_rows = false;
    double err = 0;
    for (size_t i = 0; i < n; i++) {
        float got = r->y[i];
        if (!memcmp(&got, &r->y_init[i], sizeof got) && !unset++)
            first_unset = i;
        nan += isnan(got) != 0;
        if (!close_to(got, r->want[i], c->N)) {
            double e = isnan(got) ? INFINITY : fabs((double)got - r->want[i]);
            if (!bad++ || e > err)
                worst = i, err = e;
            bad_outside_last_rows |= i / c->N < last_r0;
        }
    }
    if (!bad)
        return true;
    char cs[128];
    snprintf(cs, sizeof cs, "R=%zu N=%zu Br=%zu Bc=%zu%s%s", c->R, c->N, c->Br, c->Bc,
             c->stddev > 100 ? " large-logits" : "", c->masked > 0 ? " masked" : "");
    if (unset == n) {
        snprintf(msg, len, "%s: nothing reached y — it holds what HBM held before your code ran: store each tile of "
                 "y with hbm_store_tile in pass 2", cs);
        return false;
    }
    if (unset) {
        size_t row = first_unset / c->N, col = first_unset % c->N;
        const char *why = col >= last_c0 && c->N % c->Bc ? "the last column block of a row is ragged: cols = "
                                                           "min(Bc, N - c0), and ceil(N/Bc) blocks per row"
                          : row >= last_r0 && c->R % c->Br ? "the last row block is ragged: rows = min(Br, R - r0), "
                                                             "and ceil(R/Br) row blocks"
                                                           : "every tile of y must be stored in pass 2";
        snprintf(msg, len, "%s: %zu of %zu values of y were never stored, the first y[row %zu, col %zu]: %s", cs,
                 unset, n, row, col, why);
        return false;
    }
    char hint[400];
    if (nan)
        snprintf(hint, sizeof hint, "%s", c->masked > 0
                 ? "A block whose values are all -inf has max -inf: while m is still -inf, e^(m - m_new) is "
                   "e^(-inf - (-inf)) = NaN. Rescale l only when m_old is finite (or subtract 0 instead of -inf)."
                 : c->stddev > 100 ? "With x in the ten thousands e^x is inf and inf/inf = NaN: only ever take exp of "
                                     "x - (running max)."
                                   : "NaN comes from 0/0, inf - inf or exp(-inf - (-inf)): start m at -inf and l at 0.");
    else if (mistake_matches(r, SM_DECOY))
        snprintf(hint, sizeof hint, "Your y is the softmax of the DECOY values: the test's HBM holds other numbers "
                 "outside counted loads, so your code read x some other way than hbm_load_tile (the tensor's storage "
                 "directly, or hbm_download). Such reads are not in the ledger: load tiles.");
    else if (mistake_matches(r, SM_UNNORMALIZED))
        snprintf(hint, sizeof hint, "y = e^(x - m) is right but not divided by l, the row's sum: pass 2 writes "
                 "y = e^(x - m) / l.");
    else if (c->N > c->Bc && mistake_matches(r, SM_NO_RESCALE))
        snprintf(hint, sizeof hint, "l is too large: when a block raises the running max, the sum so far must be "
                 "rescaled, l = l * e^(m - m_new) + sum of e^(x - m_new), or older terms count against an old max.");
    else if (c->N % c->Bc && c->N > c->Bc && mistake_matches(r, SM_RAGGED_MISSING))
        snprintf(hint, sizeof hint, "m and l leave out the last, ragged block of the row (columns %zu..%zu): pass 1 "
                 "visits ceil(N/Bc) blocks, the last one with cols = min(Bc, N - c0).", c->N - c->N % c->Bc, c->N - 1);
    else if (!bad_outside_last_rows && c->R % c->Br && last_r0 > 0)
        snprintf(hint, sizeof hint, "Only the last row block is wrong, and it is ragged: it holds rows %zu..%zu, "
                 "rows = min(Br, R - r0).", last_r0, c->R - 1);
    else
        snprintf(hint, sizeof hint, "Pass 1, per row: m_new = max(m, max of the block), l = l * e^(m - m_new) + sum "
                 "of e^(x - m_new), m = m_new. Pass 2: y = e^(x - m) / l.");
    snprintf(msg, len, "%s: %zu of %zu values of y are wrong%s; worst y[row %zu, col %zu] = %.7g but the double "
             "reference says %.7g. %s", cs, bad, n, nan ? " (NaN among them)" : "", worst / c->N, worst % c->N,
             (double)r->y[worst], r->want[worst], hint);
    return false;
}

static void check_case(const sm_case *c, uint64_t seed)
{
    sm_run r;
    char msg[HW_MSG_LEN];
    run(c, seed, &r);
    bool ok = output_ok(&r, msg, sizeof msg);
    run_free(&r);
    ck_assert_msg(ok, "%s", msg);
}

START_TEST(correct_on_shapes)
{
    check_case(&SHAPES[_i], 10 + (uint64_t)_i);
}
END_TEST

START_TEST(correct_with_large_logits)
{
    static const sm_case c = {3, 200, 2, 16, 1e4f, 0};   /* e^x overflows fp32 beyond x = 88.7 */
    check_case(&c, 21);
}
END_TEST

START_TEST(correct_with_masked_entries)
{
    static const sm_case c = {6, 90, 3, 8, 2, 0.7};    /* -inf entries: whole blocks of a row can be masked */
    check_case(&c, 22);
}
END_TEST

/* The point of online softmax: x crosses from HBM twice (statistics, then output), y once. */
START_TEST(two_passes_over_x)
{
    const sm_case *c = &SHAPES[_i];
    sm_run r;
    run(c, 30 + (uint64_t)_i, &r);
    io_count x = r.x_io, y = r.y_io;
    run_free(&r);
    uint64_t RN = (uint64_t)c->R * c->N;
    double passes = (double)x.rd_elems / (double)RN;
    const char *why = x.rd_elems == 3 * RN ? "three passes is safe softmax (max, then sum, then y): fuse the first "
                                             "two, l = l * e^(m - m_new) + sum of e^(x - m_new)"
                      : x.rd_elems == RN ? "one pass cannot write y: y needs the row's final m and l, which exist only "
                                           "after the whole row was read"
                      : x.rd_elems == 0 ? "nothing was loaded: hbm_load_tile(m, Xij, hbm_whole(x), r0, rows, c0, "
                                          "cols, \"Xij\")"
                                        : "load every tile once per pass, the ragged last ones with rows = min(Br, "
                                          "R - r0), cols = min(Bc, N - c0)";
    ck_assert_msg(x.rd_elems == 2 * RN, "R=%zu N=%zu Br=%zu Bc=%zu: x read %llu elements = %.2f passes; online "
                  "softmax reads x exactly twice (%llu): %s", c->R, c->N, c->Br, c->Bc,
                  (unsigned long long)x.rd_elems, passes, (unsigned long long)(2 * RN), why);
    ck_assert_msg(y.wr_elems == RN && y.rd_elems == 0, "R=%zu N=%zu: y written %llu and read %llu elements; "
                  "write each y exactly once (%llu) and never read it back", c->R, c->N,
                  (unsigned long long)y.wr_elems, (unsigned long long)y.rd_elems, (unsigned long long)RN);
    ck_assert_msg(x.wr_elems == 0, "x was written %llu elements: x is the input, leave it as it is",
                  (unsigned long long)x.wr_elems);
}
END_TEST

HW_TESTS(
    {"correct_on_shapes", correct_on_shapes, (int)NSHAPES},
    {"correct_with_large_logits", correct_with_large_logits, 1},
    {"correct_with_masked_entries", correct_with_masked_entries, 1},
    {"two_passes_over_x", two_passes_over_x, (int)NSHAPES}
)
