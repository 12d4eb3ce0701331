/* check_hw06.c — grades hw06_split_merge: the merge step of split-KV decoding (lesson11, Flash-Decoding's kernel 2)
 * on the memory model. Correct O and L against a double reference on seeded random inputs (S from 1 to 40, ragged
 * row blocks, d not a power of two, splits that saw no key, log-sum-exps in the thousands), NaN-aware; every partial
 * read exactly once and O, L written exactly once (S·R·(d+1) read, R·d + R written); SRAM exactly
 * HW06_SRAM_BYTES(Br, d) (more stops the program: sram_alloc); shapes that disagree refused with -1 and no traffic.
 * HBM is guarded (hw_guard.c): outside counted loads the partials' storage holds decoys. */
#include "hw_check.h"

const char homework_name[] = "hw06";
const char homework_title[] = "the split-KV merge (Flash-Decoding's kernel 2): S partials into one, each read once";

const char *const homework_allowed[] = {HW_ALLOW_MEMORY_MODEL, NULL};

/* O is a convex combination of partials of size ~1, so fp32 is held to the other exercises' HW_ATOL + HW_RTOL;
 * o's storage dtype rounds once more, by its unit roundoff (dtype_eps: 2^-11 fp16, 2^-8 bf16). L = m + log ℓ is
 * one fp32 rounding of a value up to ~10^4 plus log ℓ <= log S: MG_L_ULPS ulps of L, no looser, so that L = m
 * (log ℓ forgotten) fails even in the thousands. */
#define MG_L_ULPS 8.0

typedef struct {
    size_t S, R, d, Br;
    float center, spread;   /* L_s ~ center + N(0, spread^2) */
    double empty;           /* share of (split, row) that saw no key (L = -inf, O = 0); rows r % 3 == 0 keep one */
    dtype_t dt;             /* o's storage dtype */
    bool lse;               /* L asked for (lse not NULL) */
} mg_case;

static const mg_case SHAPES[] = {
    {1, 1, 1, 1, 0, 2, 0, DTYPE_FP32, true},    {2, 3, 3, 2, 0, 2, 0, DTYPE_FP32, true},
    {4, 7, 5, 3, 0, 3, 0, DTYPE_FP32, true},    {8, 16, 16, 4, 0, 3, 0, DTYPE_FP32, true},
    {3, 10, 80, 4, 0, 1, 0, DTYPE_FP32, false}, {16, 5, 7, 5, 0, 4, 0, DTYPE_FP32, true},
    {5, 9, 64, 2, 0, 2, 0, DTYPE_FP16, true},   {33, 6, 3, 4, 0, 2, 0, DTYPE_BF16, true},
    {1, 9, 8, 4, 0, 2, 0, DTYPE_FP32, false},
};
#define NSHAPES (sizeof SHAPES / sizeof SHAPES[0])

/* Splits that saw no key: a share of them, and every third row with all splits but one empty. */
static const mg_case EMPTY[] = {
    {6, 12, 8, 5, 0, 2, 0.5, DTYPE_FP32, true}, {2, 7, 3, 3, 0, 2, 0.5, DTYPE_FP32, true},
    {9, 10, 5, 4, 0, 3, 0.8, DTYPE_FP32, true},
};
#define NEMPTY (sizeof EMPTY / sizeof EMPTY[0])

/* e^L_s overflows fp32 beyond L_s = 88.7 and underflows to 0 below -103: a merge must subtract the running max. */
static const mg_case LARGE[] = {
    {4, 8, 16, 3, 3000, 30, 0, DTYPE_FP32, true},  {4, 8, 16, 3, -3000, 30, 0, DTYPE_FP32, true},
    {7, 10, 5, 4, 0, 2000, 0.3, DTYPE_FP32, true}, {12, 5, 9, 2, 8000, 3, 0, DTYPE_FP32, true},
};
#define NLARGE (sizeof LARGE / sizeof LARGE[0])

typedef struct {
    mg_case c;
    char cs[160];                 /* c for messages */
    int ret;                      /* what the student's function returned */
    float *os, *ls, *dos, *dls;   /* the partials (S·R x d, S·R) and their decoys */
    float *o, *o_init, *l, *l_init;   /* what counted stores wrote, and the garbage HBM held before */
    double *o_ref, *l_ref;        /* the double reference */
    io_count os_io, ls_io, o_io, l_io, all;
} mg_run;

#define U(x) ((unsigned long long)(x))

static void case_str(const mg_case *c, char *buf, size_t len)
{
    snprintf(buf, len, "S=%zu R=%zu d=%zu Br=%zu o:%s%s%s%s", c->S, c->R, c->d, c->Br, dtype_name(c->dt),
             c->lse ? "" : " lse=NULL", c->empty > 0 ? " empty-splits" : "",
             fabsf(c->center) + c->spread > 80 ? " large-lse" : "");
}

/* The merge in double: L = m + log Σ e^(L_s - m), O = Σ e^(L_s - L) O_s. */
static void merge_ref(const float *os, const float *ls, size_t S, size_t R, size_t d, double *o, double *l)
{
    for (size_t r = 0; r < R; r++) {
        double m = -INFINITY, sum = 0;
        for (size_t s = 0; s < S; s++)
            m = fmax(m, ls[s * R + r]);
        for (size_t s = 0; s < S; s++)
            sum += exp(ls[s * R + r] - m);
        l[r] = m + log(sum);
        for (size_t x = 0; x < d; x++) {
            double acc = 0;
            for (size_t s = 0; s < S; s++)
                if (ls[s * R + r] > -INFINITY)
                    acc += exp(ls[s * R + r] - l[r]) * os[(s * R + r) * d + x];
            o[r * d + x] = acc;
        }
    }
}

static void fill_partials(rng_t *g, const mg_case *c, float *os, float *ls)
{
    size_t S = c->S, R = c->R, d = c->d;
    rng_fill_normal(g, os, S * R * d, 1.0f);
    for (size_t i = 0; i < S * R; i++)
        ls[i] = c->center + c->spread * (float)rng_normal(g);
    if (c->empty <= 0)
        return;
    for (size_t r = 0; r < R; r++) {
        size_t keep = (size_t)rng_below(g, S);
        for (size_t s = 0; s < S; s++)
            if (s != keep && (r % 3 == 0 || rng_uniform(g) < c->empty)) {
                ls[s * R + r] = -INFINITY;
                memset(os + (s * R + r) * d, 0, d * sizeof *os);
            }
    }
}

static float *alloc_f(size_t n) { return xmalloc((n ? n : 1) * sizeof(float)); }

static void run(const mg_case *c, uint64_t seed, mg_run *r)
{
    memset(r, 0, sizeof *r);
    r->c = *c;
    case_str(c, r->cs, sizeof r->cs);
    size_t S = c->S, R = c->R, d = c->d;
    rng_t g;
    rng_seed(&g, seed);
    r->os = alloc_f(S * R * d), r->ls = alloc_f(S * R), r->dos = alloc_f(S * R * d), r->dls = alloc_f(S * R);
    fill_partials(&g, c, r->os, r->ls);
    fill_partials(&g, c, r->dos, r->dls);
    r->o = alloc_f(R * d), r->o_init = alloc_f(R * d), r->l = alloc_f(R), r->l_init = alloc_f(R);
    rng_fill_uniform(&g, r->o_init, R * d, -1.0f, 1.0f);
    for (size_t i = 0; i < R * d; i++)   /* representable, so that "never stored" is seen bit for bit */
        r->o_init[i] = dtype_round(c->dt, r->o_init[i]);
    rng_fill_uniform(&g, r->l_init, R, -1.0f, 1.0f);
    r->o_ref = xmalloc(R * d * sizeof *r->o_ref), r->l_ref = xmalloc(R * sizeof *r->l_ref);
    merge_ref(r->os, r->ls, S, R, d, r->o_ref, r->l_ref);

    mem_t *m = mem_create(HW06_SRAM_BYTES(c->Br, d), false);
    hbm_tensor *OS = hbm_alloc_mat(m, "O_split", DTYPE_FP32, S * R, d);
    hbm_tensor *LS = hbm_alloc_mat(m, "L_split", DTYPE_FP32, S * R, 1);
    hbm_tensor *O = hbm_alloc_mat(m, "O", c->dt, R, d);
    hbm_tensor *L = c->lse ? hbm_alloc_mat(m, "L", DTYPE_FP32, R, 1) : NULL;
    hw_guard_add(OS, r->os, r->dos);
    hw_guard_add(LS, r->ls, r->dls);
    hw_guard_add(O, NULL, r->o_init);
    if (L)
        hw_guard_add(L, NULL, r->l_init);
    hw_guard_begin();
    r->ret = hw06_split_merge(m, OS, LS, O, L, c->Br);
    hw_guard_end();
    hbm_download(O, r->o);
    if (L)
        hbm_download(L, r->l);
    hw_guard_reset();
    r->os_io = mem_io(m, "O_split", NULL), r->ls_io = mem_io(m, "L_split", NULL);
    r->o_io = mem_io(m, "O", NULL), r->l_io = mem_io(m, "L", NULL), r->all = mem_io(m, NULL, NULL);
    mem_destroy(m);
}

static void run_free(mg_run *r)
{
    free(r->os), free(r->ls), free(r->dos), free(r->dls), free(r->o), free(r->o_init), free(r->l), free(r->l_init);
    free(r->o_ref), free(r->l_ref);
}

static bool o_close(float got, double want, dtype_t dt)
{
    return !isnan(got) && fabs((double)got - want) <= HW_ATOL + (HW_RTOL + dtype_eps(dt)) * fabs(want);
}

static bool l_close(float got, double want)
{
    return !isnan(got) && fabs((double)got - want) <= HW_ATOL + MG_L_ULPS * FLT_EPSILON * fabs(want);
}

/* ---- what a wrong answer shows ---------------------------------------------------------------------------------- */
typedef enum { MG_DECOY, MG_AVERAGE, MG_AVERAGE_KEYED, MG_UNNORMALIZED, MG_L_IS_MAX, MG_NKINDS } mg_kind;

/* What a mistake computes for O (or, MG_L_IS_MAX, for L) in double, from the partials (or their decoys). */
static void mistake(const mg_run *r, mg_kind k, double *o, double *l)
{
    const mg_case *c = &r->c;
    size_t S = c->S, R = c->R, d = c->d;
    const float *os = k == MG_DECOY ? r->dos : r->os, *ls = k == MG_DECOY ? r->dls : r->ls;
    merge_ref(os, ls, S, R, d, o, l);
    for (size_t row = 0; row < R; row++) {
        double m = -INFINITY;
        size_t keyed = 0;
        for (size_t s = 0; s < S; s++) {
            m = fmax(m, ls[s * R + row]);
            keyed += ls[s * R + row] > -INFINITY;
        }
        if (k == MG_L_IS_MAX)
            l[row] = m;
        for (size_t x = 0; x < d && k != MG_DECOY && k != MG_L_IS_MAX; x++) {
            double acc = 0;
            for (size_t s = 0; s < S; s++) {
                double w = ls[s * R + row] > -INFINITY ? exp(ls[s * R + row] - m) : 0;
                acc += (k == MG_UNNORMALIZED ? w : 1.0) * os[(s * R + row) * d + x];
            }
            o[row * d + x] = k == MG_AVERAGE ? acc / (double)S : k == MG_AVERAGE_KEYED ? acc / (double)keyed : acc;
        }
    }
}

/* Does the answer (O, or L when on_l) look like mistake k: close on nearly every element, explaining nearly every
 * wrong one? */
static bool mistake_matches(const mg_run *r, mg_kind k, bool on_l)
{
    const mg_case *c = &r->c;
    size_t n = on_l ? c->R : c->R * c->d, ok = 0, bad = 0, bad_ok = 0;
    double *o = xmalloc(c->R * c->d * sizeof *o), *l = xmalloc(c->R * sizeof *l);
    mistake(r, k, o, l);
    for (size_t i = 0; i < n; i++) {
        float got = on_l ? r->l[i] : r->o[i];
        double w = on_l ? l[i] : o[i];
        bool close = isfinite(got) && fabs(got - w) <= 10 * HW_ATOL + HW_DIAG_RTOL * fabs(w);
        bool wrong = on_l ? !l_close(got, r->l_ref[i]) : !o_close(got, r->o_ref[i], c->dt);
        ok += close, bad += wrong, bad_ok += wrong && close;
    }
    free(o), free(l);
    return (double)ok >= HW_DIAG_SHARE * (double)n && (double)bad_ok >= HW_DIAG_SHARE * (double)bad;
}

static const char *nan_hint(const mg_case *c)
{
    return fabsf(c->center) + c->spread > 80
               ? "With log-sum-exps in the thousands, e^(L_s) is inf (or 0), and inf/inf or 0/0 is NaN: only ever take "
                 "e^(L_s - m), m the running max (a = e^(m - m_new), c = e^(L_s - m_new))."
           : c->empty > 0 ? "A split that saw no key has L_s = -inf: while m is still -inf, e^(m - m_new) is "
                            "e^(-inf - (-inf)) = NaN. Subtract 0 instead of -inf (the reference's sub())."
                          : "NaN comes from 0/0, inf - inf or e^(-inf - (-inf)): start m at -inf, l and Oi at 0.";
}

/* Is O right? If not, msg says what is wrong and what the mistake looks like. */
static bool output_ok(const mg_run *r, char *msg, size_t len)
{
    const mg_case *c = &r->c;
    size_t n = c->R * c->d, bad = 0, nan = 0, unset = 0, first_unset = 0, worst = 0;
    double err = 0;
    if (r->ret != 0) {
        snprintf(msg, len, "%s: your function returned %d for shapes that agree (o_split %zu x %zu, l_split %zu x 1, "
                 "o %zu x %zu): return 0 after the merge, -1 only for the bad shapes of the header", r->cs, r->ret,
                 c->S * c->R, c->d, c->S * c->R, c->R, c->d);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        float got = r->o[i];
        if (!memcmp(&got, &r->o_init[i], sizeof got) && !unset++)
            first_unset = i;
        nan += isnan(got) != 0;
        if (!o_close(got, r->o_ref[i], c->dt)) {
            double e = isnan(got) ? INFINITY : fabs((double)got - r->o_ref[i]);
            if (!bad++ || e > err)
                worst = i, err = e;
        }
    }
    if (!bad)
        return true;
    if (unset == n) {
        snprintf(msg, len, "%s: nothing reached O — it holds what HBM held before your code ran: store each block of "
                 "rows with hbm_store_rows(m, hbm_whole(o), r0, rows, Oi, \"Oi\")", r->cs);
        return false;
    }
    if (unset) {
        size_t row = first_unset / c->d;
        snprintf(msg, len, "%s: %zu of %zu values of O were never stored, the first O[row %zu, col %zu]: %s", r->cs,
                 unset, n, row, first_unset % c->d,
                 c->R % c->Br && row >= c->R / c->Br * c->Br ? "the last block of rows is ragged: rows = min(Br, "
                                                               "R - r0), and ceil(R/Br) blocks"
                                                             : "every block of rows must be stored");
        return false;
    }
    char hint[400];
    if (nan)
        snprintf(hint, sizeof hint, "%s", nan_hint(c));
    else if (mistake_matches(r, MG_DECOY, false))
        snprintf(hint, sizeof hint, "Your O is the merge of the DECOY values: the test's HBM holds other numbers "
                 "outside counted loads, so your code read the partials some other way than hbm_load_rows (the "
                 "tensor's storage directly, or hbm_download). Such reads are not in the ledger: load them.");
    else if (mistake_matches(r, MG_AVERAGE, false) || mistake_matches(r, MG_AVERAGE_KEYED, false))
        snprintf(hint, sizeof hint, "O is the unweighted average of the partials: each split's O_s is normalized "
                 "over its own keys only, so it weighs in by its share of the whole softmax's sum, "
                 "e^(L_s - L). A split whose keys score higher counts more.");
    else if (mistake_matches(r, MG_UNNORMALIZED, false))
        snprintf(hint, sizeof hint, "O = Σ e^(L_s - m) O_s is right but not divided by l = Σ e^(L_s - m): the "
                 "weights must sum to 1 (O = Oi / l at the end).");
    else
        snprintf(hint, sizeof hint, "Per split, per row: m_new = max(m, L_s), a = e^(m - m_new), c = e^(L_s - m_new), "
                 "l = a l + c, Oi = a Oi + c O_s, m = m_new; at the end O = Oi / l.");
    snprintf(msg, len, "%s: %zu of %zu values of O are wrong%s; worst O[row %zu, col %zu] = %.7g but the double "
             "reference says %.7g. %s", r->cs, bad, n, nan ? " (NaN among them)" : "", worst / c->d, worst % c->d,
             (double)r->o[worst], r->o_ref[worst], hint);
    return false;
}

/* Is L right (when asked for)? */
static bool lse_ok(const mg_run *r, char *msg, size_t len)
{
    const mg_case *c = &r->c;
    if (!c->lse)
        return true;
    size_t bad = 0, nan = 0, unset = 0, worst = 0;
    double err = 0;
    for (size_t i = 0; i < c->R; i++) {
        unset += !memcmp(&r->l[i], &r->l_init[i], sizeof r->l[i]);
        nan += isnan(r->l[i]) != 0;
        if (!l_close(r->l[i], r->l_ref[i])) {
            double e = isnan(r->l[i]) ? INFINITY : fabs((double)r->l[i] - r->l_ref[i]);
            if (!bad++ || e > err)
                worst = i, err = e;
        }
    }
    if (!bad)
        return true;
    const char *hint = unset == c->R ? "Nothing reached L: when lse is not NULL, store L = m + log l of each block "
                                       "of rows with hbm_store_rows(m, hbm_whole(lse), r0, rows, mi, \"Li\")."
                       : unset ? "Some rows of L were never stored: every block of rows, the ragged last one too."
                       : nan ? nan_hint(c)
                       : mistake_matches(r, MG_L_IS_MAX, true) ? "L is the largest L_s, without log l: L = m + log l, "
                                                                 "l = Σ e^(L_s - m)."
                       : "L = log Σ e^(L_s) = m + log l, with m the largest L_s and l = Σ e^(L_s - m).";
    snprintf(msg, len, "%s: %zu of %zu values of L are wrong%s; worst L[row %zu] = %.9g but the double reference "
             "says %.9g. %s", r->cs, bad, c->R, nan ? " (NaN among them)" : "", worst, (double)r->l[worst],
             r->l_ref[worst], hint);
    return false;
}

static void check_case(const mg_case *c, uint64_t seed)
{
    mg_run r;
    char msg[HW_MSG_LEN];
    run(c, seed, &r);
    bool ok = output_ok(&r, msg, sizeof msg) && lse_ok(&r, msg, sizeof msg);
    run_free(&r);
    ck_assert_msg(ok, "%s", msg);
}

START_TEST(correct_on_shapes)
{
    check_case(&SHAPES[_i], 1000 + (uint64_t)_i);
}
END_TEST

START_TEST(correct_with_empty_splits)
{
    check_case(&EMPTY[_i], 1100 + (uint64_t)_i);
}
END_TEST

START_TEST(correct_with_large_lse)
{
    check_case(&LARGE[_i], 1200 + (uint64_t)_i);
}
END_TEST

/* Shapes drawn from the iteration's seed: S = 1 .. 40, R = 1 .. 24, d = 1 .. 100, Br up to R + 3, any dtype. */
#define NRANDOM 8
START_TEST(correct_on_random_shapes)
{
    static const float centers[] = {0, 2500, -2500}, spreads[] = {1, 3, 300};
    rng_t g;
    rng_seed(&g, 1300 + (uint64_t)_i);
    mg_case c;
    c.S = 1 + (size_t)rng_below(&g, 40), c.R = 1 + (size_t)rng_below(&g, 24), c.d = 1 + (size_t)rng_below(&g, 100);
    c.Br = 1 + (size_t)rng_below(&g, c.R + 3);
    c.center = centers[rng_below(&g, 3)], c.spread = spreads[rng_below(&g, 3)];
    c.empty = rng_below(&g, 2) ? 0.4 : 0.0;
    c.dt = (dtype_t)rng_below(&g, 3);
    c.lse = rng_below(&g, 4) != 0;
    check_case(&c, rng_next(&g));
}
END_TEST

/* Flash-Decoding's kernel 2 reads each split's partial once: S·R·(d+1) elements, and writes R·d (+ R). */
static bool ledger_ok(const mg_run *r, char *msg, size_t len)
{
    const mg_case *c = &r->c;
    uint64_t SR = (uint64_t)c->S * c->R, Rd = (uint64_t)c->R * c->d, R = c->R, wl = c->lse ? R : 0;
    const char *cs = r->cs;
    if (r->ret != 0)
        snprintf(msg, len, "%s: your function returned %d for shapes that agree: 0 after the merge", cs, r->ret);
    else if (r->os_io.rd_elems != SR * c->d || r->ls_io.rd_elems != SR)
        snprintf(msg, len, "%s: O_split read %llu and L_split %llu elements; every partial is read exactly once: "
                 "S·R·d = %llu and S·R = %llu. %s", cs, U(r->os_io.rd_elems), U(r->ls_io.rd_elems), U(SR * c->d),
                 U(SR),
                 r->ls_io.rd_elems >= 2 * SR || r->os_io.rd_elems >= 2 * SR * c->d
                     ? "That is two passes over the splits (the max first, then the sums): the online merge "
                       "rescales what it has when the max grows, l = e^(m - m_new) l + e^(L_s - m_new), and needs one."
                 : r->os_io.rd_elems < SR * c->d || r->ls_io.rd_elems < SR
                     ? "Some partials were never loaded: every split s, rows s·R + r0 .. s·R + r0 + rows - 1, the "
                       "ragged last block too."
                     : "Load each split's rows of a block once, Os and Ls together.");
    else if (r->o_io.wr_elems != Rd || r->o_io.rd_elems)
        snprintf(msg, len, "%s: O written %llu and read %llu elements; write each row once, after its last split "
                 "(R·d = %llu), and never read it: Oi stays in SRAM", cs, U(r->o_io.wr_elems), U(r->o_io.rd_elems),
                 U(Rd));
    else if (r->l_io.wr_elems != wl || r->l_io.rd_elems)
        snprintf(msg, len, "%s: L written %llu and read %llu elements; %s", cs, U(r->l_io.wr_elems),
                 U(r->l_io.rd_elems), c->lse ? "write L = m + log l once per row (R) and never read it"
                                             : "lse is NULL: L is not wanted, store nothing there");
    else if (r->os_io.wr_elems || r->ls_io.wr_elems)
        snprintf(msg, len, "%s: O_split written %llu and L_split %llu elements: the partials are the input, leave "
                 "them as they are", cs, U(r->os_io.wr_elems), U(r->ls_io.wr_elems));
    else if (r->all.rd_elems != SR * (c->d + 1) || r->all.wr_elems != Rd + wl)
        snprintf(msg, len, "%s: %llu elements read and %llu written in all; the merge's closed form is S·R·(d+1) = "
                 "%llu read and R·d%s = %llu written", cs, U(r->all.rd_elems), U(r->all.wr_elems),
                 U(SR * (c->d + 1)), c->lse ? " + R" : "", U(Rd + wl));
    else
        return true;
    return false;
}

START_TEST(reads_each_partial_once)
{
    mg_run r;
    char msg[HW_MSG_LEN];
    run(&SHAPES[_i], 1400 + (uint64_t)_i, &r);
    bool ok = ledger_ok(&r, msg, sizeof msg);
    run_free(&r);
    ck_assert_msg(ok, "%s", msg);
}
END_TEST

/* Shapes that disagree, as the header lists them. The good shape runs first (so doing nothing never passes), then
 * the bad one must return -1 before any load or store. */
typedef struct {
    size_t os_rows, os_cols, ls_rows, ls_cols, o_rows, o_cols, lse_rows, lse_cols, Br;   /* lse_rows 0: NULL */
    const char *what;
} mg_bad;

static const mg_bad BAD[] = {
    {12, 5, 12, 1, 4, 5, 4, 1, 0, "Br = 0"},
    {10, 5, 10, 1, 4, 5, 4, 1, 2, "o_split has 10 rows, not a multiple of o's 4"},
    {12, 5, 12, 1, 16, 5, 16, 1, 2, "o_split has 12 rows, fewer than o's 16 (S would be 0)"},
    {12, 6, 12, 1, 4, 5, 4, 1, 2, "o_split has 6 columns, o has 5"},
    {12, 5, 11, 1, 4, 5, 4, 1, 2, "l_split has 11 rows, o_split 12"},
    {12, 5, 12, 2, 4, 5, 0, 1, 2, "l_split has 2 columns"},
    {12, 5, 12, 1, 4, 5, 3, 1, 2, "lse has 3 rows, o has 4"},
    {12, 5, 12, 1, 4, 5, 4, 2, 2, "lse has 2 columns"},
};
#define NBAD (sizeof BAD / sizeof BAD[0])

START_TEST(refuses_bad_shapes)
{
    static const mg_case good = {3, 4, 5, 2, 0, 2, 0, DTYPE_FP32, true};
    check_case(&good, 1500 + (uint64_t)_i);
    const mg_bad *b = &BAD[_i];
    mem_t *m = mem_create(HW06_SRAM_BYTES(b->Br ? b->Br : 1, b->o_cols > b->os_cols ? b->o_cols : b->os_cols), false);
    hbm_tensor *OS = hbm_alloc_mat(m, "O_split", DTYPE_FP32, b->os_rows, b->os_cols);
    hbm_tensor *LS = hbm_alloc_mat(m, "L_split", DTYPE_FP32, b->ls_rows, b->ls_cols);
    hbm_tensor *O = hbm_alloc_mat(m, "O", DTYPE_FP32, b->o_rows, b->o_cols);
    hbm_tensor *L = b->lse_rows ? hbm_alloc_mat(m, "L", DTYPE_FP32, b->lse_rows, b->lse_cols) : NULL;
    int ret = hw06_split_merge(m, OS, LS, O, L, b->Br);
    io_count all = mem_io(m, NULL, NULL);
    mem_destroy(m);
    ck_assert_msg(ret == -1, "%s: your function returned %d; shapes that disagree are refused with -1 (o %zu x %zu, "
                  "o_split %zu x %zu, l_split %zu x %zu, lse %s)", b->what, ret, b->o_rows, b->o_cols, b->os_rows,
                  b->os_cols, b->ls_rows, b->ls_cols, L ? "given" : "NULL");
    ck_assert_msg(!all.rd_elems && !all.wr_elems, "%s: refused, but only after %llu elements were read and %llu "
                  "written: check the shapes before any load or store", b->what, U(all.rd_elems),
                  U(all.wr_elems));
}
END_TEST

HW_TESTS(
    {"correct_on_shapes", correct_on_shapes, (int)NSHAPES},
    {"correct_with_empty_splits", correct_with_empty_splits, (int)NEMPTY},
    {"correct_with_large_lse", correct_with_large_lse, (int)NLARGE},
    {"correct_on_random_shapes", correct_on_random_shapes, NRANDOM},
    {"reads_each_partial_once", reads_each_partial_once, (int)NSHAPES},
    {"refuses_bad_shapes", refuses_bad_shapes, (int)NBAD}
)
