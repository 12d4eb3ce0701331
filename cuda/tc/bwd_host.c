/* bwd_host.c — inputs, references, checks, counters and timing for the tensor-core backward (bwd_host.h). */
#include "bwd_host.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn_tc.h"    // defines: tc_versions, tc_find (the forward that makes O and L)
#include "cuda_check.h"
#include "gpu.h"        // defines: gpu_time_ms
#include "lab.h"        // defines: lab_tridao_ratio (Tri Dao's criterion, entry by entry)
#include "reference.h"  // defines: ref_attention_backward*, ref_head_get
#include "rng.h"
#include "tc_host.h"    // defines: tc_problem (q, k, v, O, L of the forward), tc_problem_new
#include "util.h"

#define FORWARD "final"   /* the forward kernel whose O and L the backward consumes */

struct tc_bwd_problem {
    tc_bwd_shape s;
    tc_problem *fp;               /* q, k, v (host, rounded; device), O and L: the forward's problem (tc_host.h) */
    size_t n;                     /* B*N*H*d */
    float *dout;                  /* host dO, rounded to dt */
    unsigned char *arena;         /* device: one allocation holding the five below */
    void *ddout, *g[3];           /* device: dO; dQ, dK, dV (dt) */
    float *acc, *delta;           /* device fp32 scratch */
    unsigned long long *count;    /* device, TC_BWD_NCOUNT (fp's holds the forward's TC_NCOUNT) */
    double *ref[3], *low[3], *mag[3];   /* fp64, dt and magnitude references of the checked heads (lazily) */
    size_t *heads, nheads;
};

const tc_bwd_shape *tc_bwd_problem_shape(const tc_bwd_problem *p) { return &p->s; }

/* dO ~ N(0, 1) rounded to dt, the gradients' buffers, then O and L by the forward kernel FORWARD (on fp's inputs). */
static int fill(tc_bwd_problem *p, uint64_t seed, char *err, size_t errlen)
{
    const tc_bwd_shape *s = &p->s;
    uint16_t *raw = xmalloc(p->n * sizeof *raw);
    rng_t r;
    rng_seed(&r, seed);
    p->dout = xmalloc(p->n * sizeof *p->dout);
    rng_fill_normal(&r, p->dout, p->n, 1.0f);
    for (size_t i = 0; i < p->n; i++) {
        raw[i] = s->dt == DTYPE_FP16 ? fp16_from_float(p->dout[i]) : bf16_from_float(p->dout[i]);
        p->dout[i] = s->dt == DTYPE_FP16 ? fp16_to_float(raw[i]) : bf16_to_float(raw[i]);
    }
    /* dO, dQ, dK, dV (n x 2 bytes each: multiples of 128), dq_accum (n x 4), D (B H N x 4, rounded up to 256), the
     * counters: one device allocation */
    const size_t nl = s->B * s->H * s->N, dbytes = (nl * sizeof(float) + 255) / 256 * 256;
    if (p->n > SIZE_MAX / 16) {   /* 12 n + dbytes bytes in all, dbytes <= 4 n + 255 */
        snprintf(err, errlen, "shape B=%zu N=%zu H=%zu d=%zu: the gradients' buffers overflow", s->B, s->N, s->H, s->d);
        return FL_EXIT_USAGE;
    }
    cudaError_t e = cudaMalloc((void **)&p->arena, 4 * p->n * 2 + p->n * sizeof(float) + dbytes +
                                                       TC_BWD_NCOUNT * sizeof(unsigned long long));
    if (e == cudaSuccess) {
        p->ddout = p->arena;
        for (int x = 0; x < 3; x++)
            p->g[x] = p->arena + (size_t)(x + 1) * p->n * 2;
        p->acc = (float *)(p->arena + 4 * p->n * 2);
        p->delta = p->acc + p->n;
        p->count = (unsigned long long *)((unsigned char *)p->delta + dbytes);
        e = cudaMemcpy(p->ddout, raw, p->n * 2, cudaMemcpyHostToDevice);
    }
    free(raw);
    CUDA_TRY(e);
    int v = tc_find(FORWARD);
    if (v < 0) {
        snprintf(err, errlen, "no forward kernel named %s", FORWARD);
        return FL_EXIT_INTERNAL;
    }
    const tc_problem *f = p->fp;
    tc_args a = {f->dq, f->dk, f->dv, f->dout, f->dlse, s->B, s->N, s->H, s->d, 0.0f, s->causal, s->dt, NULL};
    int rc = tc_versions[v].forward(&a, NULL, err, errlen);
    if (rc)
        return rc;
    CUDA_TRY(cudaDeviceSynchronize());
    return 0;
}

int tc_bwd_problem_new(const tc_bwd_shape *s, uint64_t seed, tc_bwd_problem **out, char *err, size_t errlen)
{
    tc_bwd_problem *p = xcalloc(1, sizeof *p);
    p->s = *s;
    /* q, k, v from seed (the forward's problem: it checks the device, the dtype and the size), dO from seed + 1 */
    int rc = tc_problem_new(&(tc_shape){s->B, s->N, s->H, s->d, s->dt}, seed, &p->fp, err, errlen);
    if (!rc)
        p->n = p->fp->n, rc = fill(p, seed + 1, err, errlen);
    *out = rc ? NULL : p;
    if (rc) {
        char ignored[8];
        tc_bwd_problem_free(p, ignored, sizeof ignored);   /* err keeps the first failure */
    }
    return rc;
}

int tc_bwd_problem_free(tc_bwd_problem *p, char *err, size_t errlen)
{
    if (!p)
        return 0;
    cudaError_t e = cudaFree(p->arena);   /* NULL is fine */
    int rc = tc_problem_free(p->fp, err, errlen);
    free(p->dout);
    for (int x = 0; x < 3; x++)
        free(p->ref[x]), free(p->low[x]), free(p->mag[x]);
    free(p->heads);
    free(p);
    CUDA_TRY(e);
    return rc;
}

static int launch(const tc_bwd_problem *p, int cfg, bool count, char *err, size_t errlen)
{
    const tc_bwd_shape *s = &p->s;
    const tc_problem *f = p->fp;
    tc_bwd_args a = {{f->dq, f->dk, f->dv, f->dout, f->dlse, s->B, s->N, s->H, s->d, 0.0f, s->causal, s->dt,
                      count ? p->count : NULL},
                     p->ddout, p->g[0], p->g[1], p->g[2], p->acc, p->delta};
    return (count ? tc_bwd_configs[cfg].backward_count : tc_bwd_configs[cfg].backward)(&a, NULL, err, errlen);
}

/* fp64, dt and magnitude references of up to max_heads heads (first and last included), once per problem. */
static void references(tc_bwd_problem *p, size_t max_heads)
{
    const tc_bwd_shape *s = &p->s;
    size_t bh = s->B * s->H, nh = bh < max_heads ? bh : max_heads, hd = s->N * s->d;
    if (p->heads && p->nheads == nh)
        return;
    for (int x = 0; x < 3; x++)
        free(p->ref[x]), free(p->low[x]), free(p->mag[x]);
    free(p->heads);
    p->nheads = nh;
    p->heads = xmalloc(nh * sizeof *p->heads);
    for (size_t x = 0; x < nh; x++)
        p->heads[x] = nh > 1 ? x * (bh - 1) / (nh - 1) : 0;
    for (int x = 0; x < 3; x++) {
        p->ref[x] = xmalloc(nh * hd * sizeof *p->ref[x]);
        p->low[x] = xmalloc(nh * hd * sizeof *p->low[x]);
        p->mag[x] = xmalloc(nh * hd * sizeof *p->mag[x]);
    }
    const double scale = 1.0 / sqrt((double)s->d);
#pragma omp parallel for schedule(dynamic, 1)
    for (long x = 0; x < (long)nh; x++) {
        size_t b = p->heads[x] / s->H, h = p->heads[x] % s->H, o = (size_t)x * hd;
        const float *x[4] = {p->fp->q, p->fp->k, p->fp->v, p->dout};
        double *in[4];
        for (int k = 0; k < 4; k++) {
            in[k] = xmalloc(hd * sizeof *in[k]);
            ref_head_get(x[k], s->B, s->N, s->H, s->d, b, h, in[k]);
        }
        ref_attention_backward(in[0], in[1], in[2], in[3], s->N, s->d, scale, s->causal, p->ref[0] + o, p->ref[1] + o,
                               p->ref[2] + o);
        ref_attention_backward_lowp(in[0], in[1], in[2], in[3], s->N, s->d, scale, s->causal, s->dt, p->low[0] + o,
                                    p->low[1] + o, p->low[2] + o);
        ref_attention_backward_mag(in[0], in[1], in[2], in[3], s->N, s->d, scale, s->causal, p->mag[0] + o,
                                   p->mag[1] + o, p->mag[2] + o);
        for (int k = 0; k < 4; k++)
            free(in[k]);
    }
}

/* One entry past the bound: counted, the first kept, the rows and columns it spans widened. */
static void note_bad(tc_bwd_result *r, int x, size_t head, size_t row, size_t col, double got, double ref)
{
    if (!r->nbad[x]++) {
        r->bad_head[x] = head, r->bad_row[x] = row, r->bad_col[x] = col, r->bad_got[x] = got, r->bad_ref[x] = ref;
        r->bad_rows[x][0] = r->bad_rows[x][1] = row, r->bad_cols[x][0] = r->bad_cols[x][1] = col;
    }
    r->bad_rows[x][0] = row < r->bad_rows[x][0] ? row : r->bad_rows[x][0];
    r->bad_rows[x][1] = row > r->bad_rows[x][1] ? row : r->bad_rows[x][1];
    r->bad_cols[x][0] = col < r->bad_cols[x][0] ? col : r->bad_cols[x][0];
    r->bad_cols[x][1] = col > r->bad_cols[x][1] ? col : r->bad_cols[x][1];
}

int tc_bwd_check(tc_bwd_problem *p, int cfg, size_t max_heads, tc_bwd_result *r, char *err, size_t errlen)
{
    const tc_bwd_shape *s = &p->s;
    memset(r, 0, sizeof *r);
    for (int x = 0; x < 3; x++)
        CUDA_TRY(cudaMemset(p->g[x], 0xFF, p->n * 2));   /* 0xFFFF: NaN in fp16 and bf16 */
    int rc = launch(p, cfg, false, err, errlen);
    if (rc)
        return rc;
    CUDA_TRY(cudaDeviceSynchronize());
    references(p, max_heads);
    const size_t hd = s->N * s->d;
    uint16_t *raw = xmalloc(p->n * sizeof *raw);
    float *got = xmalloc(p->n * sizeof *got), *head = xmalloc(hd * sizeof *head);
    double *hg = xmalloc(hd * sizeof *hg);
    /* the slack: roundings of dt (dQ, dK, dV rounded once from fp32) and of fp32 sums over up to N terms */
    const double slack = TC_BWD_SLACK_ULPS * (dtype_eps(s->dt) + dtype_eps(DTYPE_FP32) * sqrt((double)s->N));
    r->ok = true;
    for (int x = 0; x < 3 && !rc; x++) {
        cudaError_t e = cudaMemcpy(raw, p->g[x], p->n * 2, cudaMemcpyDeviceToHost);
        if (e != cudaSuccess) {
            rc = cuda_fail(e, "cudaMemcpy(gradient)", __FILE__, __LINE__, err, errlen);
            break;
        }
        for (size_t i = 0; i < p->n; i++) {
            got[i] = s->dt == DTYPE_FP16 ? fp16_to_float(raw[i]) : bf16_to_float(raw[i]);
            r->unwritten += isnan(got[i]);
        }
        for (size_t k = 0; k < p->nheads; k++) {
            ref_head_get(got, s->B, s->N, s->H, s->d, p->heads[k] / s->H, p->heads[k] % s->H, hg);
            for (size_t i = 0; i < hd; i++)
                head[i] = (float)hg[i];
            double e1, e2, q = lab_tridao_ratio(p->ref[x] + k * hd, head, p->low[x] + k * hd, p->mag[x] + k * hd, hd,
                                                slack, &e1, &e2);
            for (size_t i = 0; i < hd; i++) {   /* where the bound is broken: the entries behind a ratio > 1 */
                const double e = fabs((double)head[i] - p->ref[x][k * hd + i]);
                if (!(e <= ORACLE_TRIDAO_FACTOR * e2 + slack * p->mag[x][k * hd + i]))
                    note_bad(r, x, p->heads[k], i / s->d, i % s->d, head[i], p->ref[x][k * hd + i]);
            }
            r->ratio[x] = isnan(q) || q > r->ratio[x] ? q : r->ratio[x];
            r->err[x] = isnan(e1) || e1 > r->err[x] ? e1 : r->err[x];
            r->ref_err[x] = fmax(r->ref_err[x], e2);
        }
        r->ok = r->ok && r->ratio[x] <= 1;
    }
    r->heads = p->nheads;
    r->ok = r->ok && r->unwritten == 0;
    free(raw), free(got), free(head), free(hg);
    return rc;
}

int tc_bwd_count(const tc_bwd_problem *p, int cfg, tc_bwd_ledger *lg, char *err, size_t errlen)
{
    int Br, Bc;
    tc_bwd_configs[cfg].blocks((int)p->s.d, &Br, &Bc);
    if (!Br) {
        snprintf(err, errlen, "%s: no blocks for d = %zu", tc_bwd_configs[cfg].name, p->s.d);
        return FL_EXIT_USAGE;
    }
    CUDA_TRY(cudaMemset(p->count, 0, TC_BWD_NCOUNT * sizeof(unsigned long long)));
    int rc = launch(p, cfg, true, err, errlen);
    if (rc)
        return rc;
    unsigned long long k[TC_BWD_NCOUNT];
    uint64_t kern[TC_BWD_NCOUNT];
    CUDA_TRY(cudaMemcpy(k, p->count, sizeof k, cudaMemcpyDeviceToHost));
    for (int i = 0; i < TC_BWD_NCOUNT; i++)
        kern[i] = k[i];
    tc_bwd_ledger_fill(&p->s, (size_t)Br, (size_t)Bc, kern, lg);
    return 0;
}

struct timed {
    const tc_bwd_problem *p;
    int cfg;
};
static int launch_timed(void *ctx, char *err, size_t errlen)
{
    const struct timed *t = ctx;
    return launch(t->p, t->cfg, false, err, errlen);
}

int tc_bwd_time_ms(const tc_bwd_problem *p, int cfg, int warmup, int reps, double *ms, char *err, size_t errlen)
{
    struct timed t = {p, cfg};
    return gpu_time_ms(launch_timed, &t, warmup, reps, ms, err, errlen);
}

double tc_bwd_flops(const tc_bwd_shape *s)
{
    double f = 2.5 * 4.0 * (double)s->B * (double)s->H * (double)s->N * (double)s->N * (double)s->d;
    return s->causal ? f / 2 : f;
}

int tc_bwd_report_run(const tc_bwd_shape *s, int cfg, uint64_t seed, size_t max_heads, int warmup, int reps,
                      tc_bwd_report *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->s = *s, out->cfg = cfg;
    int Br, Bc;
    tc_bwd_configs[cfg].blocks((int)s->d, &Br, &Bc);
    if (!Br) {
        snprintf(err, errlen, "%s: no blocks for d = %zu", tc_bwd_configs[cfg].name, s->d);
        return FL_EXIT_USAGE;
    }
    tc_bwd_ledger_fill(s, (size_t)Br, (size_t)Bc, NULL, &out->lg);
    if (!(out->gpu = cuda_device_count() > 0))
        return 0;
    cuda_device dev;
    memset(&dev, 0, sizeof dev);
    tc_bwd_problem *p = NULL;
    int rc = cuda_device_get(&dev, err, errlen);
    if (!rc)
        rc = tc_bwd_problem_new(s, seed, &p, err, errlen);
    if (!rc)
        rc = tc_bwd_count(p, cfg, &out->lg, err, errlen);
    if (!rc)
        rc = tc_bwd_check(p, cfg, max_heads, &out->r, err, errlen);
    if (!rc)
        rc = tc_bwd_time_ms(p, cfg, warmup, reps, &out->ms, err, errlen);
    snprintf(out->device, sizeof out->device, "%s", dev.name);
    out->tflops = out->ms > 0 ? tc_bwd_flops(s) / out->ms / 1e9 : 0;
    char ignored[8];
    int rc2 = tc_bwd_problem_free(p, rc ? ignored : err, rc ? sizeof ignored : errlen);
    return rc ? rc : rc2;
}

void tc_bwd_report_print(const tc_bwd_report *r, FILE *f)
{
    const tc_bwd_shape *s = &r->s;
    fprintf(f, "FlashAttention-2 backward on the tensor cores: %s (%s)\nB=%zu N=%zu H=%zu d=%zu %s%s; Br=%zu Bc=%zu: "
            "%llu tiles\n\n", tc_bwd_configs[r->cfg].name, tc_bwd_configs[r->cfg].change, s->B, s->N, s->H, s->d,
            dtype_name(s->dt), s->causal ? " causal" : "", r->lg.Br, r->lg.Bc, (unsigned long long)r->lg.tiles);
    tc_bwd_ledger_print(&r->lg, r->gpu, f);
    if (!r->gpu) {
        fprintf(f, "no CUDA device: the simulator's ledger only\n");
        return;
    }
    for (int x = 0; x < 3; x++)
        fprintf(f, "d%c vs fp64 on %zu heads: max |err| %.3g; computed as PyTorch does in this dtype: %.3g; Tri Dao "
                "ratio %.2f (<= 1) %s\n", "QKV"[x], r->r.heads, r->r.err[x], r->r.ref_err[x], r->r.ratio[x],
                r->r.ratio[x] <= 1 ? "✓" : "✗");
    fprintf(f, "elements of dQ, dK, dV not written: %zu %s\n", r->r.unwritten, r->r.unwritten ? "✗" : "✓");
    fprintf(f, "time on %s: %.3f ms = %.1f TFLOP/s (2.5 x 4 B H N^2 d, halved when causal)\n", r->device, r->ms,
            r->tflops);
}

void tc_bwd_report_summary(const tc_bwd_report *r, summary_t *s)
{
    mem_t *m = tc_bwd_sim(&r->s, r->lg.Br, r->lg.Bc);
    summary_ledger(s, m);
    mem_destroy(m);
    summary_str(s, "kernel_counts_match", r->gpu ? (r->lg.ok ? "1" : "0") : "na");
    summary_f64(s, "max_abs_err", r->gpu ? fmax(r->r.err[0], fmax(r->r.err[1], r->r.err[2])) : NAN);
    summary_str(s, "check_ok", r->gpu ? (r->r.ok ? "1" : "0") : "na");
    summary_f64(s, "time_ms", r->gpu ? r->ms : NAN);
    summary_f64(s, "tflops", r->gpu ? r->tflops : NAN);
}
