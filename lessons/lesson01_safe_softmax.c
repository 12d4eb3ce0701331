/* lesson01_safe_softmax.c — why softmax subtracts the max, and what the safe version costs in HBM traffic.
 *
 * What it teaches (the seed course's safe softmax; the softmax FlashAttention starts from, Dao et al. 2022 §2.2):
 *   1. Naive softmax, e^x / Σ e^x, overflows: e^100 is inf in fp32 (whose largest value is e^88.72), and e^12
 *      stored in fp16 is inf (largest 65504 = e^11.09); then inf / inf = NaN.
 *   2. Safe softmax subtracts the row max m first, so every e^(x − m) is at most 1. Finding m is one more pass over
 *      the row: when a row does not fit in SRAM it is streamed from HBM three times, max, sum and normalize:
 *      3 reads + 1 write of N per row, counted by the memory model (sim/model/softmax.c).
 * Algorithm: safe softmax, three passes: m = max_j x_j; ℓ = Σ_j e^(x_j − m); y_j = e^(x_j − m) / ℓ.
 * Run:  ./lesson01                 the overflow examples, then R=1 row of N=1024 through a 1 KiB SRAM
 *       ./lesson01 --dtype fp16    the same in half precision: the naive version fails far sooner
 *       ./lesson01 -N 4096 --batch 8 -M 4K --trace text      more rows, every load and store
 * Summary: algo=safe, the ledger of the three passes (hbm_read_elems = 3RN, hbm_write_elems = RN), max_abs_err
 *   against a double-precision softmax; naive_* keys: the naive version on the same input.
 */
#include <math.h>
#include <stdlib.h>

#include "lab.h"        // defines: lab_softmax_plan, lab_softmax, lab_softmax_err, lab_sum_f64
#include "lessons.h"
#include "reference.h"  // defines: ref_softmax
#include "rng.h"
#include "softmax.h"    // defines: softmax_run, softmax_io
#include "util.h"

#define LOGIT_STD 30.0f   /* large logits, as unscaled scores can be: the naive version overflows */

static const char DETAILS[] =
    "The input is R = batch x heads rows of N logits x ~ N(0, 30^2). SRAM holds one tile of Br rows x Bc columns\n"
    "and the statistics m, l of its rows; --block-rows and --block-cols set Br and Bc, M chooses them otherwise.\n"
    "-d is not used: softmax works on rows of length N.";

const cli_spec lesson01_spec = {
    .name = "lesson01",
    .title = "Safe softmax: overflow, and three passes over HBM",
    .details = DETAILS,
    .defaults = {.N = 1024, .d = 1, .B = 1, .H = 1, .M_bytes = 1024, .dtype = DTYPE_FP32, .seed = 1},
    .extra = CLI_OPT_TRACE,
};

static void print_vec(const char *label, const float *v, size_t n)
{
    printf("    %-34s [", label);
    for (size_t i = 0; i < n; i++)
        printf(isnan(v[i]) ? "%snan" : "%s%.4g", i ? ", " : "", v[i]);   /* glibc would print -nan for inf/inf */
    printf("]\n");
}

/* Part 1: one tiny vector, naive and safe, in one dtype, through a 1 KiB SRAM. */
static void overflow_example(lab_t *L, dtype_t dt, float big)
{
    float x[4] = {1, 2, 3, big}, e[4], y[4];
    printf("  %s: x = [1, 2, 3, %g]; the largest finite %s is %.5g = e^%.2f\n", dtype_name(dt), (double)big,
           dtype_name(dt), (double)dtype_max(dt), log((double)dtype_max(dt)));
    for (int i = 0; i < 4; i++)
        e[i] = dtype_round(dt, expf(x[i]));   /* what naive's first kernel stores in HBM */
    print_vec("naive: e = exp(x), stored", e, 4);
    mem_destroy(lab_softmax(L, false, SOFTMAX_NAIVE, dt, 1024, 1, 4, 1, 4, x, y, NULL, NULL));
    print_vec("       y = e / sum(e)", y, 4);
    mem_destroy(lab_softmax(L, false, SOFTMAX_SAFE, dt, 1024, 1, 4, 1, 4, x, y, NULL, NULL));
    print_vec("safe:  y = exp(x - max) / sum", y, 4);
}

int lesson01_run(const cli_cfg *cfg)
{
    size_t N = cfg->N, R = cfg->B * cfg->H, n = R * N;
    dtype_t dt = cfg->dtype;
    bool data = !cfg->count_only;
    lab_t L = lab_begin(cfg);
    softmax_io cf;
    softmax_blocks blk = lab_softmax_plan(cfg, SOFTMAX_SAFE, "safe softmax", &cf);
    size_t Br = blk.Br, Bc = blk.Bc;

    lab_say(&L, "lesson01 — %s\n\n1. Naive softmax overflows\n"
            "  softmax(x)_i = e^(x_i) / sum_j e^(x_j), done naively as three kernels: e = exp(x) (stored in HBM in\n"
            "  x's dtype), l = sum(e), y = e / l. Once e^x is past the dtype's largest value it is inf, and inf/inf\n"
            "  is NaN. Subtracting m = max(x) first makes every exponent <= 0, so every e^(x - m) <= 1.\n\n",
            lesson01_spec.title);
    if (L.say && data) {
        overflow_example(&L, DTYPE_FP32, 100.0f);
        overflow_example(&L, DTYPE_FP16, 12.0f);
        printf("  (Python floats are double precision, largest e^709.78: there x = 1000 overflows.)\n\n");
    } else {
        lab_say(&L, "  (skipped: --count-only computes nothing)\n\n");
    }

    /* Part 2: safe softmax of R rows of N, three streaming passes. */
    float *x = data ? xmalloc(n * sizeof *x) : NULL, *y = data ? xmalloc(n * sizeof *y) : NULL;
    if (data) {
        rng_t r;
        rng_seed(&r, cfg->seed);
        rng_fill_normal(&r, x, n, LOGIT_STD);
    }
    mem_t *m = mem_create(cfg->M_bytes, cfg->count_only);
    lab_watch(&L, m);
    hbm_tensor *X = hbm_alloc_mat(m, "x", dt, R, N), *Y = hbm_alloc_mat(m, "y", dt, R, N);
    hbm_upload(X, x);
    lab_say(&L, "2. Safe softmax streams each row through SRAM three times\n"
            "  x: %zu row%s of N=%zu logits ~ N(0, %g^2), %s, in HBM (%zu bytes a row). SRAM: M = %zu bytes.\n", R,
            R > 1 ? "s" : "", N, (double)LOGIT_STD, dtype_name(dt), N * dtype_size(dt), cfg->M_bytes);
    lab_say_wrapped(&L, "  ", blk.rule);
    lab_say(&L, "  Tc = ceil(N/Bc) = %zu tiles per row and pass%s.\n\n", ceil_div(N, Bc),
            N % Bc ? " (the last one shorter)" : "");
    softmax_run(m, SOFTMAX_SAFE, X, Y, Br, Bc, NULL, NULL);   /* passes "max", "sum", "normalize" */
    lab_unwatch(&L);
    hbm_download(Y, y);

    static const char *const pass[3] = {"max", "sum", "normalize"};
    static const char *const what[3] = {"m = max_j x_j", "l = sum_j e^(x_j - m)", "y_j = e^(x_j - m) / l"};
    lab_say(&L, "  %-13s %12s %12s %10s %10s\n", "pass", "reads of x", "writes of y", "exp()", "FLOPs");
    for (int k = 0; k < 3; k++)
        lab_say(&L, "  %d %-11s %12llu %12llu %10llu %10llu   %s\n", k + 1, pass[k],
                (unsigned long long)mem_io(m, "x", pass[k]).rd_elems,
                (unsigned long long)mem_io(m, "y", pass[k]).wr_elems, (unsigned long long)mem_exps(m, pass[k]),
                (unsigned long long)mem_flops(m, pass[k]), what[k]);
    lab_say(&L, "  %-13s %12llu %12llu %10llu %10llu\n", "total", (unsigned long long)mem_io(m, "x", NULL).rd_elems,
            (unsigned long long)mem_io(m, "y", NULL).wr_elems, (unsigned long long)mem_exps(m, NULL),
            (unsigned long long)mem_flops(m, NULL));
    io_count io = mem_io(m, NULL, NULL);
    bool ok = io.rd_elems == cf.rd && io.wr_elems == cf.wr && mem_io(m, "x", NULL).rd_elems == cf.rd_x &&
              mem_io(m, "y", NULL).wr_elems == cf.wr_y && mem_flops(m, NULL) == cf.flops &&
              mem_exps(m, NULL) == cf.exps;
    lab_say(&L, "  closed form (softmax.h): 3 reads + 1 write of R·N = %zu, 2·R·N exp(), 5·R·N FLOPs: counted %s\n",
            n, ok ? "equal" : "DIFFERENT");

    /* The truth, row by row in double; then the naive version on the same x: what broke, and the error elsewhere. */
    float *yn = data ? xmalloc(n * sizeof *yn) : NULL, mx = -INFINITY;
    mem_t *mn = lab_softmax(&L, false, SOFTMAX_NAIVE, dt, cfg->M_bytes, R, N, Br, Bc, x, yn, NULL, NULL);
    double err = data ? lab_softmax_err(x, y, R, N, dt) : NAN, naive_err = data ? 0 : NAN;
    size_t naive_bad = 0;
    for (size_t i = 0; data && i < R; i++) {
        double *ref = xmalloc(N * sizeof *ref), *xd = xmalloc(N * sizeof *xd);
        for (size_t j = 0; j < N; j++)
            xd[j] = dtype_round(dt, x[i * N + j]);   /* the logits as stored in HBM */
        ref_softmax(xd, N, ref);
        for (size_t j = 0; j < N; j++) {
            float v = yn[i * N + j];
            if (!isfinite(v))
                naive_bad++;
            else if (fabs(v - ref[j]) > naive_err)
                naive_err = fabs(v - ref[j]);
        }
        free(ref), free(xd);
    }
    if (data)
        lab_say(&L, "  result: max |y - y_ref| = %.3g against a double-precision softmax\n\n", err);
    else
        lab_say(&L, "  result: not computed (--count-only)\n\n");
    for (size_t i = 0; data && i < n; i++)
        mx = fmaxf(mx, dtype_round(dt, x[i]));
    lab_say(&L, "  The naive version on the same x: reads %llu, writes %llu (e = exp(x) goes through HBM)",
            (unsigned long long)mem_io(mn, NULL, NULL).rd_elems, (unsigned long long)mem_io(mn, NULL, NULL).wr_elems);
    if (data)
        lab_say(&L, ";\n  max x = %.4g %s %.4g = ln(%s max): %zu of %zu outputs are inf or NaN, the largest error\n"
                "  among the others is %.3g.\n", (double)mx, mx > log((double)dtype_max(dt)) ? ">" : "<=",
                log((double)dtype_max(dt)), dtype_name(dt), naive_bad, n, naive_err);
    else
        lab_say(&L, ".\n");
    lab_say(&L, "  The max pass is the price of safety. lesson02's online softmax folds it into the sum pass:\n"
            "  2 reads + 1 write.\n\n");

    summary_t s;
    summary_begin(&s, cfg, "safe", Br, Bc);
    summary_ledger(&s, m);
    lab_sum_f64(&s, "max_abs_err", data, err);
    lab_sum_kv(&s, {"R", R}, {"passes", cf.passes}, {"closed_form_ok", ok},
               {"naive_hbm_read_elems", mem_io(mn, NULL, NULL).rd_elems},
               {"naive_hbm_write_elems", mem_io(mn, NULL, NULL).wr_elems});
    lab_sum_u64(&s, "naive_nonfinite", data, naive_bad);
    summary_print(&s, stdout);

    mem_destroy(mn);
    mem_destroy(m);
    free(x), free(y), free(yn);
    return lab_end(&L, ok);
}

LESSON_MAIN(lesson01_spec, lesson01_run)
