/* bench_cpu — the simulator's attention arithmetic against OpenBLAS on this CPU: figure 5's data (make bench-cpu).
 *
 * A benchmark, not a test. One run compares, on the same inputs (one head, fp32, q, k, v ~ N(0, 1), seed 42):
 *   standard, flash1, flash2   the simulator's forwards (real arithmetic on the memory model, M = 192 KiB)
 *   flash2_bwd                 the simulator's FlashAttention-2 backward
 *   blas_materialized          S = scale Q K^T by cblas_sgemm, row softmax (libm expf), O = P V by cblas_sgemm
 *   blas_flash                 a plain fused flash loop: sgemm on 64 x 256 blocks, online softmax in between
 * at N = 1024 ... 8192, d = 64 and 128, on 1 thread and on all; the OpenBLAS ones twice: as OpenBLAS configures
 * itself here, and with OPENBLAS_CORETYPE=SkylakeX forced. Each configuration runs in a child process of its own
 * (this program again, --child), so the child's peak RSS is that configuration's, and OpenBLAS reads its coretype
 * afresh. Every output is checked on sampled rows against a double computation before it is timed; then 1 warm-up
 * call and the median of repeats (fewer at large N). GFLOP/s counts 4 N^2 d per forward, 2.5 times that backward.
 * A last flash2 run at N = 16384 shows its memory is O(N).
 *
 *   build/rel/plots/bench_cpu                      the full table, written to plots/data/bench_cpu.dat
 *   build/rel/plots/bench_cpu --max-n 2048 --out-dir /tmp
 * Exit status: 0, 1 when an output failed its check, 2 on bad options, 3 when the table cannot be written.
 */
#define _DEFAULT_SOURCE
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "attention.h"
#include "bench.h"
#include "rng.h"
#include "tile_math.h"
#include "util.h"

#define SEED 42
#define SRAM_BYTES (192 * 1024)   /* the M figure 5 always used: about one SM's shared memory */
#define FLASH_BR 64               /* blas_flash's blocks: query rows, key rows */
#define FLASH_BC 256
#define SAMPLE_ROWS 16            /* rows of O (or dQ) checked against double */
#define MEM_N 16384               /* the O(N) memory check */
/* fp32 outputs against a double computation of the same rows: a few ulps per dot product of length N. */
#define ATOL_FP32 2e-5
#define RTOL_FP32 2e-4
/* dQ sums N terms of dS K that cancel: held to 1e-3 of the largest |dQ| of the sampled rows. */
#define RTOL_DQ 1e-3

typedef enum { STANDARD, FLASH1, FLASH2, FLASH2_BWD, BLAS_MAT, BLAS_FLASH, NIMPL } impl_t;
static const char *const impl_name[NIMPL] = {"standard", "flash1", "flash2", "flash2_bwd", "blas_materialized",
                                             "blas_flash"};

static double gflop(impl_t im, size_t N, size_t d)
{
    double f = 4.0 * (double)N * (double)N * (double)d * 1e-9;
    return im == FLASH2_BWD ? 2.5 * f : f;
}

static int reps_for(size_t N) { return N <= 1024 ? 7 : N <= 4096 ? 5 : 3; }

/* ---- the child: one configuration ------------------------------------------------------------------------------ */

typedef struct {
    impl_t im;
    size_t N, d;
    int threads;
    float scale;
    float *q, *k, *v, *dout, *o;   /* host arrays, N x d */
    float *S;                      /* blas_materialized: N x N */
    mem_t *m;                      /* the simulator's */
    attn_params p;
    attn_tensors t;
} ctx_t;

static void sim_forward(void *c)
{
    ctx_t *x = c;
    attn_forward(x->m, &x->p, &x->t);
}

static void sim_backward(void *c)
{
    ctx_t *x = c;
    attn_backward(x->m, &x->p, &x->t);
}

/* softmax of one row in place, the plain way: max, exp and sum, divide. */
static void softmax_row(float *s, size_t n)
{
    float mx = -INFINITY, sum = 0;
    for (size_t c = 0; c < n; c++)
        mx = s[c] > mx ? s[c] : mx;
    for (size_t c = 0; c < n; c++)
        sum += s[c] = expf(s[c] - mx);
    for (size_t c = 0; c < n; c++)
        s[c] /= sum;
}

static void blas_materialized(void *c)
{
    ctx_t *x = c;
    int N = (int)x->N, d = (int)x->d;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, d, x->scale, x->q, d, x->k, d, 0.0f, x->S, N);
#ifdef _OPENMP
#pragma omp parallel for num_threads(x->threads) schedule(static)
#endif
    for (int r = 0; r < N; r++)
        softmax_row(x->S + (size_t)r * x->N, x->N);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, d, N, 1.0f, x->S, N, x->v, d, 0.0f, x->o, d);
}

/* A fused flash loop as a user would write it around sgemm: query blocks in parallel (OpenBLAS on one thread
 * inside), key blocks in order, the online softmax between the two products. */
static void blas_flash(void *c)
{
    ctx_t *x = c;
    size_t N = x->N, d = x->d;
    long nblk = (long)ceil_div(N, FLASH_BR);
#ifdef _OPENMP
#pragma omp parallel num_threads(x->threads)
#endif
    {
        float *S = xmalloc(FLASH_BR * FLASH_BC * sizeof *S), m[FLASH_BR], l[FLASH_BR];
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (long i = 0; i < nblk; i++) {
            size_t q0 = (size_t)i * FLASH_BR, qr = min_size(FLASH_BR, N - q0);
            float *O = x->o + q0 * d;
            for (size_t r = 0; r < qr; r++) {
                m[r] = -INFINITY;
                l[r] = 0;
            }
            memset(O, 0, qr * d * sizeof *O);
            for (size_t k0 = 0; k0 < N; k0 += FLASH_BC) {
                size_t kc = min_size(FLASH_BC, N - k0);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)qr, (int)kc, (int)d, x->scale,
                            x->q + q0 * d, (int)d, x->k + k0 * d, (int)d, 0.0f, S, (int)kc);
                for (size_t r = 0; r < qr; r++) {
                    float *s = S + r * kc, mn = m[r], sum = 0;
                    for (size_t cc = 0; cc < kc; cc++)
                        mn = s[cc] > mn ? s[cc] : mn;
                    float alpha = expf(m[r] - mn);
                    for (size_t cc = 0; cc < kc; cc++)
                        sum += s[cc] = expf(s[cc] - mn);
                    l[r] = alpha * l[r] + sum;
                    m[r] = mn;
                    for (size_t y = 0; y < d; y++)
                        O[r * d + y] *= alpha;
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)qr, (int)d, (int)kc, 1.0f, S, (int)kc,
                            x->v + k0 * d, (int)d, 1.0f, O, (int)d);
            }
            for (size_t r = 0; r < qr; r++)
                for (size_t y = 0; y < d; y++)
                    O[r * d + y] /= l[r];
        }
        free(S);
    }
}

/* The rows the checks sample: first, last, and spread between. */
static size_t sample_row(size_t s, size_t N) { return s == 0 ? 0 : s == 1 ? N - 1 : (s * 7919) % N; }

/* Largest error of O's sampled rows against a double softmax(scale q k^T) v, relative to ATOL + RTOL |ref|. */
static double check_forward(const ctx_t *x, const float *O)
{
    size_t N = x->N, d = x->d;
    double *p = xmalloc(N * sizeof *p), worst = 0;
    for (size_t s = 0; s < SAMPLE_ROWS; s++) {
        size_t i = sample_row(s, N);
        double mx = -INFINITY, sum = 0;
        for (size_t j = 0; j < N; j++) {
            double a = 0;
            for (size_t y = 0; y < d; y++)
                a += (double)x->q[i * d + y] * x->k[j * d + y];
            p[j] = a * x->scale;
            mx = p[j] > mx ? p[j] : mx;
        }
        for (size_t j = 0; j < N; j++)
            sum += p[j] = exp(p[j] - mx);
        for (size_t y = 0; y < d; y++) {
            double ref = 0;
            for (size_t j = 0; j < N; j++)
                ref += p[j] / sum * x->v[j * d + y];
            double r = fabs(O[i * d + y] - ref) / (ATOL_FP32 + RTOL_FP32 * fabs(ref));
            worst = isnan(r) || r > worst ? r : worst;
            if (isnan(worst))
                break;
        }
    }
    free(p);
    return worst;
}

/* dQ's sampled rows against double: dQ_i = scale sum_j P_ij (dO_i . v_j - D_i) k_j, D_i = sum_j P_ij dO_i . v_j.
 * Returns max error / (RTOL_DQ max |dQ_ref|). */
static double check_dq(const ctx_t *x, const float *dQ)
{
    size_t N = x->N, d = x->d;
    double *p = xmalloc(N * sizeof *p), *dp = xmalloc(N * sizeof *dp), *ref = xmalloc(SAMPLE_ROWS * d * sizeof *ref);
    double err = 0, big = 0;
    for (size_t s = 0; s < SAMPLE_ROWS; s++) {
        size_t i = sample_row(s, N);
        double mx = -INFINITY, sum = 0, D = 0;
        for (size_t j = 0; j < N; j++) {
            double a = 0, b = 0;
            for (size_t y = 0; y < d; y++) {
                a += (double)x->q[i * d + y] * x->k[j * d + y];
                b += (double)x->dout[i * d + y] * x->v[j * d + y];
            }
            p[j] = a * x->scale;
            dp[j] = b;
            mx = p[j] > mx ? p[j] : mx;
        }
        for (size_t j = 0; j < N; j++)
            sum += p[j] = exp(p[j] - mx);
        for (size_t j = 0; j < N; j++) {
            p[j] /= sum;
            D += p[j] * dp[j];
        }
        for (size_t y = 0; y < d; y++) {
            double g = 0;
            for (size_t j = 0; j < N; j++)
                g += p[j] * (dp[j] - D) * x->k[j * d + y];
            ref[s * d + y] = g * x->scale;
            big = fabs(ref[s * d + y]) > big ? fabs(ref[s * d + y]) : big;
        }
    }
    for (size_t s = 0; s < SAMPLE_ROWS; s++)
        for (size_t y = 0; y < d; y++) {
            double e = fabs(dQ[sample_row(s, N) * d + y] - ref[s * d + y]);
            err = isnan(e) || e > err ? e : err;
        }
    free(p);
    free(dp);
    free(ref);
    return err / (RTOL_DQ * big);
}

static int child_main(impl_t im, size_t N, size_t d, int threads)
{
    ctx_t x = {.im = im, .N = N, .d = d, .threads = threads, .scale = (float)(1.0 / sqrt((double)d))};
    size_t n = N * d;
    rng_t r;
    rng_seed(&r, SEED);
    x.q = xmalloc(n * sizeof *x.q);
    x.k = xmalloc(n * sizeof *x.k);
    x.v = xmalloc(n * sizeof *x.v);
    x.o = xmalloc(n * sizeof *x.o);
    rng_fill_normal(&r, x.q, n, 1.0f);
    rng_fill_normal(&r, x.k, n, 1.0f);
    rng_fill_normal(&r, x.v, n, 1.0f);
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    openblas_set_num_threads(im == BLAS_FLASH ? 1 : threads);   /* blas_flash: OpenMP over blocks instead */

    bench_fn fn = NULL;
    char kernel[64];
    double err;
    if (im == BLAS_MAT || im == BLAS_FLASH) {
        snprintf(kernel, sizeof kernel, "%s", openblas_get_corename());
        if (im == BLAS_MAT)
            x.S = xmalloc(N * N * sizeof *x.S);
        fn = im == BLAS_MAT ? blas_materialized : blas_flash;
        fn(&x);
        err = check_forward(&x, x.o);
    } else {
        static const attn_algo algo[] = {ATTN_STANDARD, ATTN_FLASH1, ATTN_FLASH2, ATTN_FLASH2};
        bool bwd = im == FLASH2_BWD;
        snprintf(kernel, sizeof kernel, "%s", tile_math_isa());
        x.m = mem_create(SRAM_BYTES, false);
        x.p = (attn_params){.algo = algo[im], .B = 1, .N = N, .H = 1, .d = d, .threads = threads};
        block_choice ch;
        char e[512];
        if (attn_choose_blocks(&x.p, bwd, SRAM_BYTES, DTYPE_FP32, 0, 0, &ch, e, sizeof e))
            fl_fatal("%s", e);
        x.t = attn_alloc(x.m, &x.p, DTYPE_FP32, bwd);
        hbm_upload(x.t.q, x.q);
        hbm_upload(x.t.k, x.k);
        hbm_upload(x.t.v, x.v);
        sim_forward(&x);
        if (bwd) {
            x.dout = xmalloc(n * sizeof *x.dout);
            rng_fill_normal(&r, x.dout, n, 1.0f);
            hbm_upload(x.t.dout, x.dout);
            sim_backward(&x);
            hbm_download(x.t.dq, x.o);
            err = check_dq(&x, x.o);
        } else {
            hbm_download(x.t.out, x.o);
            err = check_forward(&x, x.o);
        }
        fn = bwd ? sim_backward : sim_forward;
    }
    if (!(err <= 1.0)) {   /* a wrong answer is never timed; NaN fails here too */
        printf("fail %s %g\n", kernel, err);
        return FL_EXIT_CHECK;
    }
    bench_result res;
    bool mem_run = N >= MEM_N;   /* the memory check: one call is enough */
    bench_run(fn, &x, mem_run ? 0 : 1, mem_run ? 1 : reps_for(N), &res);
    printf("ok %s %.4f %.4f %.4f %d %.3g\n", kernel, res.median_ms, res.min_ms, res.max_ms, res.reps, err);
    return 0;
}

/* ---- the parent: every configuration, the table ------------------------------------------------------------------ */

typedef struct {
    impl_t im;
    const char *coretype;   /* OpenBLAS ones: NULL as configured here, or the forced OPENBLAS_CORETYPE */
    size_t N, d;
    int threads;
    bool ok;
    char kernel[64];
    double median_ms, min_ms, max_ms, err, rss_mib;
    int reps;
} row_t;

static const char *self_exe;

/* Run one configuration in a child process; fill the row from its one line of output and its rusage. */
static void run_child(row_t *w)
{
    int fd[2];
    if (pipe(fd) != 0)
        fl_fatal("pipe: %s", strerror(errno));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        fl_fatal("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        if (w->coretype)
            setenv("OPENBLAS_CORETYPE", w->coretype, 1);
        char n[32], d[32], t[32];
        snprintf(n, sizeof n, "%zu", w->N);
        snprintf(d, sizeof d, "%zu", w->d);
        snprintf(t, sizeof t, "%d", w->threads);
        execl(self_exe, self_exe, "--child", impl_name[w->im], n, d, t, (char *)NULL);
        fprintf(stderr, "bench_cpu: cannot run %s: %s\n", self_exe, strerror(errno));
        _exit(FL_EXIT_INTERNAL);
    }
    close(fd[1]);
    char buf[512] = "";
    FILE *f = fdopen(fd[0], "r");
    if (!f || !fgets(buf, sizeof buf, f))
        buf[0] = 0;
    if (f)
        fclose(f);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid)
        fl_fatal("wait4: %s", strerror(errno));
    w->rss_mib = (double)ru.ru_maxrss / 1024.0;   /* KiB on Linux */
    w->ok = sscanf(buf, "ok %63s %lf %lf %lf %d %lf", w->kernel, &w->median_ms, &w->min_ms, &w->max_ms, &w->reps,
                   &w->err) == 6 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!w->ok) {
        if (sscanf(buf, "fail %63s %lf", w->kernel, &w->err) != 2)
            snprintf(w->kernel, sizeof w->kernel, "%s", "crashed");
        w->median_ms = w->min_ms = w->max_ms = NAN;
    }
}

static void loadavg(char *buf, size_t len)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double a = 0, b = 0, c = 0;
    if (f && fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
        snprintf(buf, len, "%.2f %.2f %.2f", a, b, c);
    else
        snprintf(buf, len, "na");
    if (f)
        fclose(f);
}

static const char *label(const row_t *w, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s", impl_name[w->im], w->coretype ? "@" : "", w->coretype ? w->coretype : "");
    return buf;
}

static void fmt_ms(char *buf, size_t len, double v, const char *f)
{
    if (isnan(v))
        snprintf(buf, len, "na");
    else
        snprintf(buf, len, f, v);
}

static void print_row(FILE *out, const row_t *w, bool data)
{
    char name[64], med[32], mn[32], mx[32], gf[32];
    label(w, name, sizeof name);
    fmt_ms(med, sizeof med, w->median_ms, "%.2f");
    fmt_ms(mn, sizeof mn, w->min_ms, "%.2f");
    fmt_ms(mx, sizeof mx, w->max_ms, "%.2f");
    fmt_ms(gf, sizeof gf, gflop(w->im, w->N, w->d) / (w->median_ms * 1e-3), "%.1f");
    if (data)
        fprintf(out, "%-28s %-9s %6zu %4zu %3d %10s %10s %10s %3d %8s %9.1f %9.2g\n", name, w->kernel, w->N, w->d,
                w->threads, med, mn, mx, w->reps, gf, w->rss_mib, w->err);
    else
        fprintf(out, "%6zu %4zu %3d  %-28s %-9s %10s ms %8s GFLOP/s %8.1f MiB%s\n", w->N, w->d, w->threads, name,
                w->kernel, med, gf, w->rss_mib, w->ok ? "" : "  CHECK FAILED");
}

static const row_t *find(const row_t *rows, size_t n, impl_t im, const char *core, size_t N, size_t d, int threads)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].im == im && rows[i].N == N && rows[i].d == d && rows[i].threads == threads &&
            (rows[i].coretype == core || (core && rows[i].coretype && !strcmp(core, rows[i].coretype))))
            return &rows[i];
    return NULL;
}

static int parent_main(const char *out_dir, size_t max_n)
{
    int all = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (all < 1)
        all = 1;
    char machine[384], load0[64], date[64], cfg[256];
    bench_machine(machine, sizeof machine);
    loadavg(load0, sizeof load0);
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    snprintf(cfg, sizeof cfg, "%s", openblas_get_config());
    const char *env_core = getenv("OPENBLAS_CORETYPE"), *env_l2 = getenv("OPENBLAS_L2_SIZE");
    static const char *const forced = "SkylakeX";

    printf("bench_cpu — attention on this CPU: the simulator's arithmetic against OpenBLAS, fp32, one head\n"
           "machine: %s\ndate: %s, load average %s\nOpenBLAS: %s; core as it configures itself here: %s "
           "(OPENBLAS_CORETYPE=%s, OPENBLAS_L2_SIZE=%s); also run with OPENBLAS_CORETYPE=%s\n"
           "simulator kernels: %s; M = %d bytes; 1 warm-up, median of 7/5/5/3 repeats at N = 1024/2048/4096/8192\n"
           "(standard, flash1 and flash2_bwd parallelise over heads only: with one head they run on one thread)\n\n",
           machine, date, load0, cfg, openblas_get_corename(), env_core ? env_core : "unset",
           env_l2 ? env_l2 : "unset", forced, tile_math_isa(), SRAM_BYTES);
    printf("%6s %4s %3s  %-28s %-9s %13s %16s %12s\n", "N", "d", "thr", "implementation", "kernel", "median",
           "speed", "peak RSS");

    size_t cap = 256, n = 0;
    row_t *rows = xcalloc(cap, sizeof *rows);
    int threads[2] = {1, all};
    for (size_t N = 1024; N <= max_n; N *= 2)
        for (size_t d = 64; d <= 128; d *= 2)
            for (int ti = 0; ti < (all > 1 ? 2 : 1); ti++)
                for (int im = 0; im < NIMPL + 2; im++) {   /* the last two: OpenBLAS with the forced coretype */
                    row_t *w = &rows[n++];
                    *w = (row_t){.im = im < NIMPL ? (impl_t)im : im == NIMPL ? BLAS_MAT : BLAS_FLASH,
                                 .coretype = im < NIMPL ? NULL : forced, .N = N, .d = d, .threads = threads[ti]};
                    run_child(w);
                    print_row(stdout, w, false);
                }
    /* memory: flash2 at N = MEM_N next to N = 4096 */
    row_t *mem = &rows[n++];
    *mem = (row_t){.im = FLASH2, .N = MEM_N, .d = 64, .threads = all};
    run_child(mem);
    print_row(stdout, mem, false);

    char load1[64];
    loadavg(load1, sizeof load1);
    printf("\nload average at the end: %s\n", load1);

    /* the table */
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST)
        fl_fatal("cannot create the output directory '%s': %s", out_dir, strerror(errno));
    char path[1024];
    snprintf(path, sizeof path, "%s/bench_cpu.dat", out_dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench_cpu: error: cannot write '%s': %s\n", path, strerror(errno));
        return FL_EXIT_IO;
    }
    fprintf(f, "# bench_cpu.dat — attention on the CPU: the simulator's arithmetic against OpenBLAS (make bench-cpu), "
               "figure 5\n# machine: %s\n# date: %s; load average %s at the start, %s at the end\n"
               "# OpenBLAS: %s; core as it configures itself here: %s (OPENBLAS_CORETYPE=%s, OPENBLAS_L2_SIZE=%s); "
               "rows @%s ran with OPENBLAS_CORETYPE=%s\n"
               "# simulator: tile kernels %s, M = %d bytes, fp32, B = H = 1 (standard, flash1, flash2_bwd use one "
               "thread: they parallelise over heads)\n"
               "# method: q, k, v (and dO) ~ N(0,1) from seed %d; one child process per row (its peak RSS); output "
               "checked on %d sampled rows against double first;\n#   then 1 warm-up call and the median of the "
               "repeats; GFLOP/s = 4 N^2 d per forward (x2.5 backward) / median\n"
               "# columns: implementation kernel N d threads median_ms min_ms max_ms reps GFLOP/s peak_rss_MiB "
               "check (error / tolerance, <= 1 passes)\n",
            machine, date, load0, load1, cfg, openblas_get_corename(), env_core ? env_core : "unset",
            env_l2 ? env_l2 : "unset", forced, forced, tile_math_isa(), SRAM_BYTES, SEED, SAMPLE_ROWS);
    for (size_t i = 0; i < n; i++)
        print_row(f, &rows[i], true);
    if (fclose(f) != 0) {
        fprintf(stderr, "bench_cpu: error: cannot finish '%s': %s\n", path, strerror(errno));
        return FL_EXIT_IO;
    }
    printf("wrote %s\n\n", path);

    /* what the issue asks: flash2 forward vs materialized OpenBLAS (as configured, and SkylakeX) */
    printf("flash2 forward / blas_materialized speed (>1: the simulator is faster)\n%6s %4s %3s %14s %14s\n", "N",
           "d", "thr", "as configured", "@SkylakeX");
    bool failed = false;
    for (size_t i = 0; i < n; i++)
        failed = failed || !rows[i].ok;
    for (size_t i = 0; i < n; i++) {
        const row_t *w = &rows[i];
        if (w->im != FLASH2 || w->N >= MEM_N)
            continue;
        const row_t *a = find(rows, n, BLAS_MAT, NULL, w->N, w->d, w->threads),
                    *b = find(rows, n, BLAS_MAT, forced, w->N, w->d, w->threads);
        char ra[32], rb[32];
        fmt_ms(ra, sizeof ra, a->median_ms / w->median_ms, "%.2fx");
        fmt_ms(rb, sizeof rb, b->median_ms / w->median_ms, "%.2fx");
        printf("%6zu %4zu %3d %14s %14s\n", w->N, w->d, w->threads, ra, rb);
    }
    const row_t *m4 = find(rows, n, FLASH2, NULL, 4096, 64, all);
    if (m4 && mem->ok) {
        double inputs = 4.0 * 4 * (double)(MEM_N - 4096) * 64 / (1024.0 * 1024.0);   /* q, k, v, o in fp32 */
        printf("\nmemory: flash2 peak RSS %.1f MiB at N = %d, %.1f MiB at N = 4096 (+ %.1f MiB more inputs): %s\n",
               mem->rss_mib, MEM_N, m4->rss_mib, inputs,
               mem->rss_mib <= 2 * m4->rss_mib + inputs ? "O(N), within 2x plus the inputs" : "MORE than that");
    }
    free(rows);
    if (failed)
        fprintf(stderr, "bench_cpu: some outputs failed their check (marked above); they were not timed\n");
    return failed ? FL_EXIT_CHECK : FL_EXIT_OK;
}

static size_t parse_size(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || v == 0 || v > (1ull << 20) || s[0] == '-')
        fl_fatal("%s needs a positive number up to 1048576, got '%.40s'", opt, s);
    return (size_t)v;
}

int main(int argc, char **argv)
{
    fl_set_progname("bench_cpu");
    self_exe = "/proc/self/exe";
    if (argc == 6 && !strcmp(argv[1], "--child")) {
        for (int im = 0; im < NIMPL; im++)
            if (!strcmp(argv[2], impl_name[im]))
                return child_main((impl_t)im, parse_size("N", argv[3]), parse_size("d", argv[4]),
                                  (int)parse_size("threads", argv[5]));
        fl_fatal("--child: no implementation named '%.40s'", argv[2]);
    }
    const char *out_dir = "plots/data";
    size_t max_n = 8192;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out-dir") && i + 1 < argc)
            out_dir = argv[++i];
        else if (!strcmp(argv[i], "--max-n") && i + 1 < argc)
            max_n = parse_size("--max-n", argv[++i]);
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: bench_cpu [--out-dir DIR] [--max-n N]\n  the simulator's attention against OpenBLAS at "
                   "N = 1024, 2048, ... up to --max-n (8192), d = 64 and 128,\n  1 and all threads; writes "
                   "DIR/bench_cpu.dat (plots/data)\n");
            return 0;
        } else
            fl_fatal("unknown option '%.40s' (try --help)", argv[i]);
    }
    if (max_n < 1024)
        fl_fatal("--max-n %zu: the table starts at N = 1024", max_n);
    return parent_main(out_dir, max_n);
}
