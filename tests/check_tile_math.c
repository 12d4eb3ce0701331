/* check_tile_math.c — the fast tile kernels against plain double loops, on ragged shapes, in every kernel set this
 * CPU runs (AVX-512, AVX2, the portable one): products within the float error bound of their sums and exact on small
 * integers; the vector exp within TILE_EXP_MAX_ULP of exp over its whole range, with its special values; the row
 * softmax pieces and FA2's tile update against their formulas; NaN never turned into a number. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "rng.h"
#include "tile_math.h"

/* A float sum of n terms (each product rounded once or fused) errs by at most about (n + 2) u sum|term|, u = 2^-24
 * (the classic gamma_n bound); 2 u more covers a final scaling. */
static double sum_tol(size_t n, double mag) { return (double)(n + 4) * 0x1p-24 * mag + 1e-30; }

/* Shapes with every remainder: 1 row or column, one short of a vector or a register block, one past, past the
 * packed depth of Kj^T (128), and the sizes the algorithms use. */
static const size_t ROWS[] = {1, 5, 6, 7, 13, 64, 97};
static const size_t COLS[] = {1, 3, 15, 16, 17, 33, 64, 65, 130};
static const size_t DEPTH[] = {1, 4, 15, 16, 17, 64, 129, 300};
#define LEN(a) (sizeof a / sizeof a[0])

static size_t nbad;          /* mismatches so far in this test (expect_close) */
static char first_bad[256];

/* The i-th kernel set this CPU runs (tests loop over them); NULL past the last. */
static const char *runnable(int i)
{
    for (int k = 0; tile_math_isa_name(k); k++)
        if (tile_math_select(tile_math_isa_name(k)) == 0 && i-- == 0)
            return tile_math_isa_name(k);
    return NULL;
}

static int nrunnable(void)
{
    int n = 0;
    while (runnable(n))
        n++;
    tile_math_select("auto");
    return n;
}

/* Select the i-th kernel set this CPU runs, for one test (and seed r when given); returns its name. */
static const char *use(int i, rng_t *r, uint64_t seed)
{
    const char *name = runnable(i);
    ck_assert_ptr_nonnull(name);
    ck_assert_int_eq(tile_math_select(name), 0);
    ck_assert_str_eq(tile_math_isa(), name);
    nbad = 0;
    if (r)
        rng_seed(r, seed);
    return name;
}

static float *randv(rng_t *r, size_t n, bool integers)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = integers ? (float)((int)rng_below(r, 17) - 8) : (float)rng_normal(r);
    return x;
}

/* got within tol of ref (tol 0: exactly ref); NaN fails. Mismatches are counted and the first one kept, then
 * expect_none reports them once: a ck_assert per element would cost a write to the test runner each. */

static void expect_close(const char *what, const char *isa, size_t i, double got, double ref, double tol)
{
    if (got == ref || (!isnan(got) && fabs(got - ref) <= tol))
        return;
    if (nbad++ == 0)
        snprintf(first_bad, sizeof first_bad, "%s [%s] element %zu: got %.9g, want %.9g (tol %.3g)", what, isa, i,
                 got, ref, tol);
}

static void expect_none(void)
{
    ck_assert_msg(nbad == 0, "%zu mismatches, the first: %s", nbad, first_bad);
}

/* The end of a test that used expect_close: no mismatch was recorded, and the library picks its kernels again. */
static void done(void)
{
    expect_none();
    tile_math_select("auto");
}

/* ---- products ---------------------------------------------------------------------------------------------------- */

/* S = scale A B^T. */
static void check_qkt(const char *isa, rng_t *r, size_t rows, size_t cols, size_t d, bool ints)
{
    float *A = randv(r, rows * d, ints), *B = randv(r, cols * d, ints), *S = randv(r, rows * cols, false);
    float scale = ints ? 0.5f : 0.37f;
    tile_qkt(A, B, rows, cols, d, scale, S);
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            double s = 0, mag = 0;
            for (size_t x = 0; x < d; x++) {
                s += (double)A[i * d + x] * B[j * d + x];
                mag += fabs((double)A[i * d + x] * B[j * d + x]);
            }
            expect_close("qkt", isa, i * cols + j, S[i * cols + j], scale * s, ints ? 0 : sum_tol(d, scale * mag));
        }
    free(A);
    free(B);
    free(S);
}

/* O = diag(a) O + diag(b) P V, through tile_pv_acc (b = 1; a may be NULL) or tile_pv_rescale. */
static void check_pv(const char *isa, rng_t *r, size_t rows, size_t kc, size_t d, bool ints, int form)
{
    float *P = randv(r, rows * kc, ints), *V = randv(r, kc * d, ints), *O = randv(r, rows * d, ints);
    float *a = randv(r, rows, false), *b = randv(r, rows, false), *O0 = malloc(rows * d * sizeof *O0);
    for (size_t i = 0; i < rows; i++) {   /* powers of two keep the integer case exact */
        a[i] = ints ? ldexpf(1.0f, (int)rng_below(r, 5) - 2) : a[i];
        b[i] = ints ? ldexpf(1.0f, (int)rng_below(r, 5) - 2) : b[i];
    }
    memcpy(O0, O, rows * d * sizeof *O);
    if (form == 0)
        tile_pv_acc(P, V, rows, kc, d, NULL, O);
    else if (form == 1)
        tile_pv_acc(P, V, rows, kc, d, a, O);
    else
        tile_pv_rescale(P, V, rows, kc, d, a, b, O);
    for (size_t i = 0; i < rows; i++)
        for (size_t x = 0; x < d; x++) {
            double s = 0, mag = 0, fa = form == 0 ? 1 : a[i], fb = form == 2 ? b[i] : 1;
            for (size_t c = 0; c < kc; c++) {
                s += (double)P[i * kc + c] * V[c * d + x];
                mag += fabs((double)P[i * kc + c] * V[c * d + x]);
            }
            double ref = fa * O0[i * d + x] + fb * s;
            mag = fabs(fa * O0[i * d + x]) + fabs(fb) * mag;
            expect_close(form == 2 ? "pv_rescale" : "pv_acc", isa, i * d + x, O[i * d + x], ref,
                         ints ? 0 : sum_tol(kc + 2, mag));
        }
    free(P);
    free(V);
    free(O);
    free(O0);
    free(a);
    free(b);
}

/* C += alpha A B (A m x n, B n x k) and C += alpha A^T B (A m x n, B m x k, C n x k). */
static void check_ab(const char *isa, rng_t *r, size_t m, size_t n, size_t k, bool ints, bool transposed)
{
    size_t crows = transposed ? n : m, inner = transposed ? m : n;
    float *A = randv(r, m * n, ints), *B = randv(r, (transposed ? m : n) * k, ints), *C = randv(r, crows * k, ints);
    float *C0 = malloc(crows * k * sizeof *C0), alpha = ints ? 0.25f : 0.7f;
    memcpy(C0, C, crows * k * sizeof *C);
    if (transposed)
        tile_atb_acc(C, A, B, m, n, k, alpha);
    else
        tile_ab_acc(C, A, B, m, n, k, alpha);
    for (size_t i = 0; i < crows; i++)
        for (size_t x = 0; x < k; x++) {
            double s = 0, mag = 0;
            for (size_t t = 0; t < inner; t++) {
                double p = transposed ? (double)A[t * n + i] * B[t * k + x] : (double)A[i * n + t] * B[t * k + x];
                s += p;
                mag += fabs(p);
            }
            expect_close(transposed ? "atb_acc" : "ab_acc", isa, i * k + x, C[i * k + x], C0[i * k + x] + alpha * s,
                         ints ? 0 : sum_tol(inner + 2, fabs(C0[i * k + x]) + alpha * mag));
        }
    free(A);
    free(B);
    free(C);
    free(C0);
}

START_TEST(products_match_double_loops)
{
    rng_t r;
    const char *isa = use(_i, &r, 1234);
    for (int ints = 0; ints < 2; ints++)
        for (size_t a = 0; a < LEN(ROWS); a++)
            for (size_t b = 0; b < LEN(COLS); b++)
                for (size_t c = 0; c < LEN(DEPTH); c++) {
                    size_t R = ROWS[a], C = COLS[b], D = DEPTH[c];
                    check_qkt(isa, &r, R, C, D, ints);
                    for (int form = 0; form < 3; form++)
                        check_pv(isa, &r, R, C, D, ints, form);
                    check_ab(isa, &r, R, C, D, ints, false);
                    check_ab(isa, &r, R, C, D, ints, true);
                }
    done();
}
END_TEST

/* An empty inner dimension: S = 0, and the accumulating forms leave C scaled by its own factor only. */
START_TEST(empty_sums)
{
    use(_i, NULL, 0);
    float A[6] = {1, 2, 3, 4, 5, 6}, S[6], O[6] = {1, 2, 3, 4, 5, 6}, a[2] = {2, 3};
    for (size_t i = 0; i < 6; i++)
        S[i] = NAN;
    tile_qkt(A, A, 2, 3, 0, 0.5f, S);
    for (size_t i = 0; i < 6; i++)
        ck_assert(S[i] == 0.0f);
    tile_pv_acc(A, A, 2, 0, 3, a, O);
    for (size_t i = 0; i < 6; i++)
        ck_assert(O[i] == a[i / 3] * A[i]);
    tile_math_select("auto");
}
END_TEST

/* ---- exp --------------------------------------------------------------------------------------------------------- */

/* |got - exp(x)| in units in the last place of exp(x) (subnormal results: of 2^-149). */
static double ulps(float got, double x)
{
    double e = exp(x);
    double ulp = e < FLT_MIN ? 0x1p-149 : ldexp(1.0, ilogb(e) - 23);
    return fabs(got - e) / ulp;
}

START_TEST(exp_within_documented_ulps)
{
    use(_i, NULL, 0);
    /* Every 251st float from the smallest argument with a nonzero result to the largest with a finite one, both
     * signs, in batches through the vector path (and a ragged tail). */
    enum { BATCH = 1021 };
    float x[BATCH], y[BATCH];
    double worst = 0;
    float worst_x = 0;
    size_t n = 0, total = 0;
    for (int sign = 0; sign < 2; sign++) {
        uint32_t hi = sign ? 0xC2CFF1B5u /* -103.97 */ : 0x42B17217u /* 88.7228 */, lo = sign ? 0x80000000u : 0;
        for (uint64_t bits = lo; bits <= hi; bits += 251) {
            uint32_t b = (uint32_t)bits;
            memcpy(&x[n++], &b, sizeof b);
            if (n == BATCH || bits + 251 > hi) {
                tile_exp(y, x, n);
                for (size_t i = 0; i < n; i++) {
                    double u = ulps(y[i], x[i]);
                    if (isnan(u) || u > worst) {   /* NaN: the assertion below fails on it */
                        worst = u;
                        worst_x = x[i];
                    }
                }
                total += n;
                n = 0;
            }
        }
    }
    ck_assert_msg(!isnan(worst) && worst <= TILE_EXP_MAX_ULP, "[%s] exp(%.9g) is %.3f ulp off (at most %d documented)", tile_math_isa(),
                  worst_x, worst, TILE_EXP_MAX_ULP);
    ck_assert_uint_gt(total, 1000000);
    /* the scalar entry point computes the same exp */
    float one = 0.3f, v;
    tile_exp(&v, &one, 1);
    ck_assert(tile_exp1(0.3f) == v);
    tile_math_select("auto");
}
END_TEST

START_TEST(exp_special_values)
{
    use(_i, NULL, 0);
    const float x[] = {0.0f, -0.0f, -INFINITY, INFINITY, NAN, -200.0f, 200.0f, 88.7229f, 88.72283f, -103.98f, 1.0f};
    float y[LEN(x)];
    tile_exp(y, x, LEN(x));
    ck_assert(y[0] == 1.0f && y[1] == 1.0f);   /* exactly */
    ck_assert(y[2] == 0.0f);
    ck_assert(isinf(y[3]) && y[3] > 0);
    ck_assert(isnan(y[4]));
    ck_assert(y[5] == 0.0f);
    ck_assert(isinf(y[6]));
    ck_assert(isinf(y[7]));                    /* past ln(FLT_MAX) = 88.72284 */
    ck_assert(isfinite(y[8]) && y[8] > 3.4e38f);
    ck_assert(y[9] == 0.0f || y[9] < 0x1p-149f * 2);
    ck_assert(fabs(y[10] - exp(1.0)) <= TILE_EXP_MAX_ULP * 0x1p-22);
    tile_math_select("auto");
}
END_TEST

/* ---- rows --------------------------------------------------------------------------------------------------------- */

static const size_t ROWLEN[] = {1, 2, 7, 15, 16, 17, 31, 32, 33, 64, 100, 257};

START_TEST(row_pieces_match_formulas)
{
    rng_t r;
    const char *isa = use(_i, &r, 99);
    for (size_t k = 0; k < LEN(ROWLEN); k++) {
        size_t n = ROWLEN[k];
        float *x = randv(&r, n, false), *y = randv(&r, n, false), *x0 = malloc(n * sizeof *x0);
        for (size_t i = 0; i < n; i += 3)
            x[i] = rng_below(&r, 2) ? x[i] : -INFINITY;   /* masked scores */
        memcpy(x0, x, n * sizeof *x);
        double mx = -INFINITY;
        for (size_t i = 0; i < n; i++)
            mx = x[i] > mx ? x[i] : mx;
        ck_assert(tile_row_max(x, n, -INFINITY) == (float)mx);
        ck_assert(tile_row_max(x, n, 50.0f) == 50.0f);
        float m = isinf(mx) ? 0.0f : (float)mx;
        float sum = tile_exp_sub_sum(x, n, m);
        double want = 0;
        for (size_t i = 0; i < n; i++) {
            double e = exp((double)x0[i] - m);
            want += e;
            expect_close("exp_sub_sum", isa, i, x[i], e, (TILE_EXP_MAX_ULP + 1) * 0x1p-23 * e);
        }
        expect_close("exp_sub_sum (sum)", isa, n, sum, want, sum_tol(n, want) + (TILE_EXP_MAX_ULP + 1) * 0x1p-23 * want);
        memcpy(x, x0, n * sizeof *x);
        tile_exp_affine(x, n, 0.5f, 1.5f, 3.0f);
        for (size_t i = 0; i < n; i++) {
            double e = exp(0.5 * x0[i] - 1.5) / 3.0;
            expect_close("exp_affine", isa, i, x[i], e, (TILE_EXP_MAX_ULP + 4) * 0x1p-23 * e);
        }
        float D;
        for (size_t i = 0; i < n; i++)
            x0[i] = isinf(x0[i]) ? 0.25f : x0[i];
        double dot = 0, mag = 0;
        for (size_t i = 0; i < n; i++) {
            dot += (double)x0[i] * y[i];
            mag += fabs((double)x0[i] * y[i]);
        }
        tile_rowdot(&D, x0, y, 1, n);
        expect_close("rowdot", isa, 0, D, dot, sum_tol(n, mag));
        expect_close("dot", isa, 0, tile_dot(x0, y, n), D, 0);
        memcpy(x, x0, n * sizeof *x);
        tile_div(x, n, 3.0f);
        for (size_t i = 0; i < n; i++)   /* a division is correctly rounded */
            expect_close("div", isa, i, x[i], x0[i] / 3.0f, 0);
        memcpy(x, x0, n * sizeof *x);
        tile_dsoftmax(x, y, &D, 1, n);
        for (size_t i = 0; i < n; i++)   /* one subtraction and one product: 2 roundings */
            expect_close("dsoftmax", isa, i, x[i], (double)y[i] * ((double)x0[i] - D),
                         2 * 0x1p-24 * fabs((double)y[i]) * (fabs(x0[i]) + fabs(D)));
        free(x);
        free(y);
        free(x0);
    }
    done();
}
END_TEST

/* FA2 lines 9-10 on a tile, twice (two key blocks), against the same recurrence in double. Rows may start with
 * nothing unmasked (mi = -inf) and a whole row of a tile may be masked. */
START_TEST(softmax_pv_update_matches_recurrence)
{
    rng_t r;
    const char *isa = use(_i, &r, 7);
    const size_t shapes[][3] = {{1, 1, 1}, {5, 7, 3}, {13, 64, 64}, {70, 33, 17}, {130, 64, 128}};
    for (size_t k = 0; k < LEN(shapes); k++) {
        size_t rows = shapes[k][0], kc = shapes[k][1], d = shapes[k][2];
        float *mi = malloc(rows * sizeof *mi), *li = calloc(rows, sizeof *li), *O = calloc(rows * d, sizeof *O);
        double *dm = malloc(rows * sizeof *dm), *dl = calloc(rows, sizeof *dl), *dO = calloc(rows * d, sizeof *dO);
        double *mag = calloc(rows * d, sizeof *mag);
        for (size_t i = 0; i < rows; i++)
            mi[i] = -INFINITY, dm[i] = -INFINITY;
        for (int step = 0; step < 2; step++) {
            float *S = randv(&r, rows * kc, false), *V = randv(&r, kc * d, false);
            for (size_t i = 0; i < rows; i++)
                for (size_t c = 0; c < kc; c++)
                    if ((step == 0 && i % 4 == 1) || (c + i) % 5 == 4)   /* row 1, 5, ...: all masked at first */
                        S[i * kc + c] = -INFINITY;
            double *P = malloc(rows * kc * sizeof *P);
            for (size_t i = 0; i < rows; i++) {
                double m_new = dm[i];
                for (size_t c = 0; c < kc; c++)
                    m_new = S[i * kc + c] > m_new ? S[i * kc + c] : m_new;
                double sub = isinf(m_new) ? 0 : m_new, alpha = exp(dm[i] - sub), sum = 0;
                for (size_t c = 0; c < kc; c++)
                    sum += P[i * kc + c] = exp(S[i * kc + c] - sub);
                dl[i] = alpha * dl[i] + sum;
                for (size_t x = 0; x < d; x++) {
                    double pv = 0, pm = 0;
                    for (size_t c = 0; c < kc; c++) {
                        pv += P[i * kc + c] * V[c * d + x];
                        pm += fabs(P[i * kc + c] * V[c * d + x]);
                    }
                    dO[i * d + x] = alpha * dO[i * d + x] + pv;
                    mag[i * d + x] = alpha * mag[i * d + x] + pm;
                }
                dm[i] = m_new;
            }
            tile_softmax_pv_update(S, rows, kc, V, d, mi, li, O);
            for (size_t i = 0; i < rows; i++) {
                expect_close("mi", isa, i, mi[i], dm[i], 0);
                expect_close("li", isa, i, li[i], dl[i], (TILE_EXP_MAX_ULP + kc + 8) * 0x1p-23 * dl[i]);
                for (size_t c = 0; c < kc; c++)
                    expect_close("P~", isa, i * kc + c, S[i * kc + c], P[i * kc + c],
                                 (TILE_EXP_MAX_ULP + 1) * 0x1p-23 * P[i * kc + c]);
            }
            /* each P~ carries the exp's relative error on top of the sum's: (ulps + kc + 8) u of the magnitude */
            for (size_t x = 0; x < rows * d; x++)
                expect_close("Oi", isa, x, O[x], dO[x], (TILE_EXP_MAX_ULP + 2 * kc + 8) * 0x1p-23 * mag[x] + 1e-30);
            free(S);
            free(V);
            free(P);
        }
        free(mi);
        free(li);
        free(O);
        free(dm);
        free(dl);
        free(dO);
        free(mag);
    }
    done();
}
END_TEST

/* A row's results do not depend on the rows computed beside it (the register block, the chunks of d): a tile and
 * its rows one at a time give the same bits. FA2's one-row update (a lesson shows it) relies on that. */
START_TEST(rows_alone_give_the_same_bits)
{
    rng_t r;
    const char *isa = use(_i, &r, 5);
    const size_t shapes[][3] = {{7, 33, 300}, {13, 64, 64}, {6, 17, 129}, {20, 82, 128}};
    for (size_t k = 0; k < LEN(shapes); k++) {
        size_t rows = shapes[k][0], cols = shapes[k][1], d = shapes[k][2];
        float *A = randv(&r, rows * d, false), *B = randv(&r, cols * d, false), *V = randv(&r, cols * d, false);
        float *S = malloc(rows * cols * sizeof *S), *s1 = malloc(cols * sizeof *s1);
        float *O = calloc(rows * d, sizeof *O), *o1 = calloc(d, sizeof *o1), *mi = malloc(rows * sizeof *mi);
        float *li = calloc(rows, sizeof *li);
        for (size_t i = 0; i < rows; i++)
            mi[i] = -INFINITY;
        tile_qkt(A, B, rows, cols, d, 0.3f, S);
        for (size_t i = 0; i < rows; i++) {
            tile_qkt(A + i * d, B, 1, cols, d, 0.3f, s1);
            for (size_t c = 0; c < cols; c++)
                expect_close("qkt row alone", isa, i * cols + c, s1[c], S[i * cols + c], 0);
        }
        tile_softmax_pv_update(S, rows, cols, V, d, mi, li, O);   /* the whole tile */
        for (size_t i = 0; i < rows; i++) {
            float m1 = -INFINITY, l1 = 0;
            memset(o1, 0, d * sizeof *o1);
            tile_qkt(A + i * d, B, 1, cols, d, 0.3f, s1);
            tile_softmax_pv_update(s1, 1, cols, V, d, &m1, &l1, o1);   /* its row i alone */
            expect_close("update row alone: m", isa, i, m1, mi[i], 0);
            expect_close("update row alone: l", isa, i, l1, li[i], 0);
            for (size_t x = 0; x < d; x++)
                expect_close("update row alone: O", isa, i * d + x, o1[x], O[i * d + x], 0);
        }
        free(A);
        free(B);
        free(V);
        free(S);
        free(s1);
        free(O);
        free(o1);
        free(mi);
        free(li);
    }
    done();
}
END_TEST

/* A NaN score or value comes out as NaN in that row, never as a number. */
START_TEST(nan_propagates)
{
    use(_i, NULL, 0);
    float S[2 * 16], V[16 * 3], O[2 * 3] = {0}, mi[2] = {-INFINITY, -INFINITY}, li[2] = {0};
    for (size_t i = 0; i < 2 * 16; i++)
        S[i] = (float)i / 8;
    for (size_t i = 0; i < 16 * 3; i++)
        V[i] = 1.0f;
    S[5] = NAN;   /* row 0 */
    tile_softmax_pv_update(S, 2, 16, V, 3, mi, li, O);
    ck_assert(isnan(O[0]) && isnan(O[1]) && isnan(O[2]));
    ck_assert(isfinite(O[3]) && isfinite(O[4]) && isfinite(O[5]));
    float A[4] = {1, NAN, 2, 3}, B[4] = {1, 1, 1, 1}, C[4];
    tile_qkt(A, B, 2, 2, 2, 1.0f, C);
    ck_assert(isnan(C[0]) && isnan(C[1]) && C[2] == 5.0f && C[3] == 5.0f);
    tile_math_select("auto");
}
END_TEST

START_TEST(selection)
{
    ck_assert_int_eq(tile_math_select("no-such-kernels"), -1);
    ck_assert_int_eq(tile_math_select("generic"), 0);   /* every build and CPU has the portable kernels */
    ck_assert_str_eq(tile_math_isa(), "generic");
    ck_assert_int_eq(tile_math_select("auto"), 0);   /* the widest, unless FLASHLAB_TILE_ISA names others */
    const char *env = getenv("FLASHLAB_TILE_ISA"), *want = runnable(0);
    for (int k = 0; env && runnable(k); k++)
        want = strcmp(env, runnable(k)) ? want : runnable(k);
    ck_assert_int_eq(tile_math_select("auto"), 0);
    ck_assert_str_eq(tile_math_isa(), want);
    tile_math_select("auto");
}
END_TEST

Suite *tile_math_suite(void)
{
    Suite *s = suite_create("tile_math");
    int n = nrunnable();
    for (int k = 0; tile_math_isa_name(k); k++)
        if (tile_math_select(tile_math_isa_name(k)) != 0)
            fprintf(stderr, "tile_math: this CPU does not run the %s kernels: not tested here\n", tile_math_isa_name(k));
    tile_math_select("auto");
    TCASE(s, "Products", 120, {products_match_double_loops, .loops = n}, {empty_sums, .loops = n});
    TCASE(s, "Exp", 120, {exp_within_documented_ulps, .loops = n}, {exp_special_values, .loops = n});
    TCASE(s, "Rows", 0, {row_pieces_match_formulas, .loops = n}, {softmax_pv_update_matches_recurrence, .loops = n},
          {nan_propagates, .loops = n}, {rows_alone_give_the_same_bits, .loops = n}, {selection});
    return s;
}
