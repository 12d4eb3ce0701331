/* lab.c — the session, guards, inputs, accuracy and summary helpers every lesson shares (include/lab/lab.h). */
#include "lab.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

#include "reference.h"  // defines: ref_softmax
#include "rng.h"
#include "util.h"
#include "verify.h"

void lab_guard_tiles(uint64_t tiles, const char *what)
{
    if (tiles > LAB_MAX_TILES)
        fl_fatal("%s: %llu tiles are too many to walk one by one (at most %llu); use a larger M or a smaller N", what,
                 (unsigned long long)tiles, (unsigned long long)LAB_MAX_TILES);
}

void lab_guard_flops(const cli_cfg *cfg, double flops, const char *what)
{
    if (!cfg->count_only && flops > LAB_MAX_FLOPS)
        fl_fatal("%s: %.3g FLOPs of real arithmetic would take minutes; add --count-only or use a smaller N", what,
                 flops);
}

void lab_guard_elems(const cli_cfg *cfg, size_t rows, size_t cols, const char *what)
{
    size_t n;
    if (!cfg->count_only && (!size_mul_ok(rows, cols, &n) || n > LAB_MAX_ELEMS))
        fl_fatal("%s: %zu x %zu values need gigabytes of host memory; use --count-only or smaller sizes", what, rows,
                 cols);
}

lab_t lab_begin(const cli_cfg *cfg)
{
    lab_t L = {.cfg = cfg, .say = !cfg->quiet};
    L.show = L.say && !(cfg->trace != TRACE_NONE && !cfg->trace_file);
    return L;
}

void lab_watch(lab_t *L, mem_t *m)
{
    if (!L || L->cfg->trace == TRACE_NONE)
        return;
    if (L->trace)
        trace_follow(L->trace, m);
    else
        L->trace = cli_trace_open(L->cfg, m);
}

void lab_unwatch(lab_t *L)
{
    if (L && L->trace) {
        cli_trace_close(L->cfg, L->trace);
        L->trace = NULL;
    }
}

void lab_say(const lab_t *L, const char *fmt, ...)
{
    if (!L->say)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

void lab_say_wrapped(const lab_t *L, const char *indent, const char *text)
{
    if (L->say)
        fl_print_wrapped(stdout, indent, text, 100);
}

int lab_end(lab_t *L, bool ok)
{
    lab_unwatch(L);
    return ok ? FL_EXIT_OK : FL_EXIT_CHECK;
}

softmax_blocks lab_softmax_plan(const cli_cfg *cfg, softmax_algo a, const char *what, softmax_io *cf)
{
    size_t R = cfg->B * cfg->H, N = cfg->N;
    softmax_blocks blk;
    char why[256];
    if (softmax_choose_blocks(a, cfg->M_bytes, R, N, cfg->dtype, cfg->Br, cfg->Bc, &blk, why, sizeof why))
        fl_fatal("%s", why);
    softmax_closed_form(a, R, N, blk.Br, blk.Bc, cf);
    lab_guard_tiles(cf->tiles * 3, what);
    lab_guard_elems(cfg, R, N, "R·N");
    return blk;
}

mem_t *lab_softmax(lab_t *L, bool traced, softmax_algo a, dtype_t dt, size_t M, size_t R, size_t N, size_t Br,
                   size_t Bc, const float *x, float *y, softmax_probe probe, void *ctx)
{
    mem_t *m = mem_create(M, L->cfg->count_only);
    if (traced)
        lab_watch(L, m);
    hbm_tensor *X = hbm_alloc_mat(m, "x", dt, R, N), *Y = hbm_alloc_mat(m, "y", dt, R, N);
    hbm_upload(X, x);
    softmax_run(m, a, X, Y, Br, Bc, probe, ctx);
    if (traced)
        lab_unwatch(L);
    hbm_download(Y, y);
    hbm_free(m, X);
    hbm_free(m, Y);
    return m;
}

double lab_softmax_err(const float *x, const float *y, size_t R, size_t N, dtype_t dt)
{
    double *xd = xmalloc(N * sizeof *xd), *yd = xmalloc(N * sizeof *yd), err = 0;
    for (size_t i = 0; i < R; i++) {
        for (size_t j = 0; j < N; j++)
            xd[j] = dtype_round(dt, x[i * N + j]);
        ref_softmax(xd, N, yd);
        double e = verify_max_abs(yd, y + i * N, N);
        err = isnan(e) || e > err ? e : err;
    }
    free(xd), free(yd);
    return err;
}

lab_inputs lab_inputs_normal(const cli_cfg *cfg, int count)
{
    lab_inputs in = {.n = 0};
    size_t n;
    if (!size_mul4_ok(cfg->B, cfg->N, cfg->H, cfg->d, &n))
        fl_fatal("B·N·H·d = %zu·%zu·%zu·%zu elements overflow", cfg->B, cfg->N, cfg->H, cfg->d);
    in.n = n;
    if (cfg->count_only)
        return in;
    rng_t rng;
    rng_seed(&rng, cfg->seed);
    for (int x = 0; x < count && x < 4; x++) {   /* q, k, v, dout drawn in this order: a seed names them all */
        in.x[x] = xmalloc(n * sizeof(float));
        rng_fill_normal(&rng, in.x[x], n, 1.0f);
        for (size_t i = 0; i < n; i++)
            in.x[x][i] = dtype_round(cfg->dtype, in.x[x][i]);
    }
    return in;
}

void lab_inputs_free(lab_inputs *in)
{
    for (int x = 0; x < 4; x++) {
        free(in->x[x]);
        in->x[x] = NULL;
    }
}

double lab_tridao_ratio(const double *ref, const float *got, const double *lowp, const double *mag, size_t n,
                        double slack, double *err, double *err_lowp)
{
    float *lp = xmalloc(n * sizeof *lp);
    for (size_t i = 0; i < n; i++)
        lp[i] = (float)lowp[i];
    *err = verify_max_abs(ref, got, n);
    *err_lowp = verify_max_abs(ref, lp, n);
    free(lp);
    double ratio = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]), q = e / (ORACLE_TRIDAO_FACTOR * *err_lowp + slack * mag[i]);
        ratio = isnan(e) || isnan(q) ? INFINITY : fmax(ratio, q);
    }
    return ratio;
}

double lab_max_nan(const double *x, size_t n)
{
    double m = -INFINITY;
    for (size_t i = 0; i < n; i++)
        m = isnan(x[i]) || isnan(m) ? NAN : fmax(m, x[i]);
    return m;
}

bool lab_within(double err, double tol) { return err <= tol; }   /* NaN compares false: it fails */

double lab_max_abs(const double *ref, const float *got, size_t n)
{
    return ref && got ? verify_max_abs(ref, got, n) : NAN;
}

void lab_sum_f64(summary_t *s, const char *key, bool measured, double v)
{
    if (measured)
        summary_f64(s, key, v);
    else
        summary_str(s, key, "na");
}

void lab_sum_u64(summary_t *s, const char *key, bool measured, uint64_t v)
{
    if (measured)
        summary_u64(s, key, v);
    else
        summary_str(s, key, "na");
}

void lab_sum_u64_prefixed(summary_t *s, const char *prefix, const char *key, uint64_t v)
{
    char k[96];
    snprintf(k, sizeof k, "%s_%s", prefix, key);
    summary_u64(s, k, v);
}

void lab_sum_f64_prefixed(summary_t *s, const char *prefix, const char *key, bool measured, double v)
{
    char k[96];
    snprintf(k, sizeof k, "%s_%s", prefix, key);
    lab_sum_f64(s, k, measured, v);
}

void lab_sum_kvs(summary_t *s, const lab_kv *kv, size_t n)
{
    for (size_t k = 0; k < n; k++)
        summary_u64(s, kv[k].key, kv[k].v);
}

void lab_sum_fkvs(summary_t *s, const lab_fkv *kv, size_t n)
{
    for (size_t k = 0; k < n; k++)
        summary_f64(s, kv[k].key, kv[k].v);
}

void lab_sum_ledger(summary_t *s, const char *prefix, const mem_t *m, unsigned keys)
{
    io_count c = mem_io(m, NULL, NULL);
    const struct {
        unsigned key;
        const char *name;
        uint64_t v;
    } kv[] = {
        {LAB_KEY_ELEMS, "hbm_read_elems", c.rd_elems}, {LAB_KEY_ELEMS, "hbm_write_elems", c.wr_elems},
        {LAB_KEY_BYTES, "hbm_read_bytes", c.rd_bytes}, {LAB_KEY_BYTES, "hbm_write_bytes", c.wr_bytes},
        {LAB_KEY_SRAM, "sram_peak_bytes", sram_peak(m)}, {LAB_KEY_HBM, "hbm_peak_bytes", mem_hbm_peak(m)},
        {LAB_KEY_WORK, "flops", mem_flops(m, NULL)}, {LAB_KEY_WORK, "exps", mem_exps(m, NULL)},
    };
    for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++)
        if (keys & kv[k].key)
            lab_sum_u64_prefixed(s, prefix, kv[k].name, kv[k].v);
}
