/* bwd_host.c — inputs, references, checks, counters and timing for the tensor-core backward (bwd_host.h). */
#include "bwd_host.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn_tc.h"    // defines: tc_versions, tc_find (the forward that makes O and L)
#include "cuda_check.h"
#include "gpu.h"        // defines: gpu_time_ms
#include "lab.h"        // defines: lab_tridao_ratio (Tri Dao's criterion, entry by entry)
#include "reference.h"  // defines: ref_attention_backward*, ref_head_get
#include "rng.h"
#include "util.h"

#define FORWARD "final"   /* the forward kernel whose O and L the backward consumes */

enum { X_Q, X_K, X_V, X_DO, NIN };

struct tc_bwd_problem {
    tc_bwd_shape s;
    size_t n, nl;                 /* B*N*H*d; B*H*N */
    float *x[NIN];                /* host inputs, rounded to dt */
    void *dx[NIN], *o, *g[3];     /* device: inputs, O, dQ dK dV (dt) */
    float *lse, *acc, *delta;     /* device fp32 */
    unsigned long long *count;
    double *ref[3], *low[3], *mag[3];   /* fp64, dt and magnitude references of the checked heads (lazily) */
    size_t *heads, nheads;
};

const tc_bwd_shape *tc_bwd_problem_shape(const tc_bwd_problem *p) { return &p->s; }

static float round_dt(dtype_t dt, float x, uint16_t *raw)
{
    *raw = dt == DTYPE_FP16 ? fp16_from_float(x) : bf16_from_float(x);
    return dt == DTYPE_FP16 ? fp16_to_float(*raw) : bf16_to_float(*raw);
}

static int fill(tc_bwd_problem *p, uint64_t seed, char *err, size_t errlen)
{
    const tc_bwd_shape *s = &p->s;
    uint16_t *stage = xmalloc(p->n * sizeof *stage);
    rng_t r;
    rng_seed(&r, seed);
    cudaError_t e = cudaSuccess;
    for (int x = 0; x < NIN && e == cudaSuccess; x++) {
        p->x[x] = xmalloc(p->n * sizeof *p->x[x]);
        rng_fill_normal(&r, p->x[x], p->n, 1.0f);
        for (size_t i = 0; i < p->n; i++)
            p->x[x][i] = round_dt(s->dt, p->x[x][i], &stage[i]);
        e = cudaMalloc(&p->dx[x], p->n * 2);
        if (e == cudaSuccess)
            e = cudaMemcpy(p->dx[x], stage, p->n * 2, cudaMemcpyHostToDevice);
    }
    free(stage);
    CUDA_TRY(e);
    CUDA_TRY(cudaMalloc(&p->o, p->n * 2));
    for (int x = 0; x < 3; x++)
        CUDA_TRY(cudaMalloc(&p->g[x], p->n * 2));
    CUDA_TRY(cudaMalloc((void **)&p->lse, p->nl * sizeof(float)));
    CUDA_TRY(cudaMalloc((void **)&p->delta, p->nl * sizeof(float)));
    CUDA_TRY(cudaMalloc((void **)&p->acc, p->n * sizeof(float)));
    CUDA_TRY(cudaMalloc((void **)&p->count, TC_BWD_NCOUNT * sizeof(unsigned long long)));
    /* O and L from the project's forward kernel, as a training step would have them */
    int v = tc_find(FORWARD);
    if (v < 0) {
        snprintf(err, errlen, "no forward kernel named %s", FORWARD);
        return FL_EXIT_INTERNAL;
    }
    tc_args a = {p->dx[X_Q], p->dx[X_K], p->dx[X_V], p->o, p->lse, s->B, s->N, s->H, s->d, 0.0f, s->causal, s->dt,
                 NULL};
    int rc = tc_versions[v].forward(&a, NULL, err, errlen);
    if (rc)
        return rc;
    CUDA_TRY(cudaDeviceSynchronize());
    return 0;
}

int tc_bwd_problem_new(const tc_bwd_shape *s, uint64_t seed, tc_bwd_problem **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = cuda_need_device(err, errlen);
    if (rc)
        return rc;
    if (s->dt != DTYPE_FP16 && s->dt != DTYPE_BF16) {
        snprintf(err, errlen, "the tensor-core backward takes fp16 or bf16, not %s", dtype_name(s->dt));
        return FL_EXIT_USAGE;
    }
    size_t n;
    if (!size_mul4_ok(s->B, s->N, s->H, s->d, &n)) {
        snprintf(err, errlen, "shape B=%zu N=%zu H=%zu d=%zu overflows", s->B, s->N, s->H, s->d);
        return FL_EXIT_USAGE;
    }
    tc_bwd_problem *p = xcalloc(1, sizeof *p);
    p->s = *s, p->n = n, p->nl = s->B * s->H * s->N;
    if ((rc = fill(p, seed, err, errlen))) {
        char ignored[8];
        tc_bwd_problem_free(p, ignored, sizeof ignored);   /* err keeps the first failure */
        return rc;
    }
    *out = p;
    return 0;
}

int tc_bwd_problem_free(tc_bwd_problem *p, char *err, size_t errlen)
{
    if (!p)
        return 0;
    void *dev[] = {p->dx[0], p->dx[1], p->dx[2], p->dx[3], p->o, p->g[0], p->g[1], p->g[2], p->lse, p->acc, p->delta,
                   p->count};
    cudaError_t first = cudaSuccess;
    for (size_t x = 0; x < sizeof dev / sizeof dev[0]; x++) {
        cudaError_t e = cudaFree(dev[x]);
        first = first == cudaSuccess ? e : first;
    }
    for (int x = 0; x < NIN; x++)
        free(p->x[x]);
    for (int x = 0; x < 3; x++)
        free(p->ref[x]), free(p->low[x]), free(p->mag[x]);
    free(p->heads);
    free(p);
    CUDA_TRY(first);
    return 0;
}

static int launch(const tc_bwd_problem *p, int cfg, bool count, char *err, size_t errlen)
{
    const tc_bwd_shape *s = &p->s;
    tc_bwd_args a = {p->dx[X_Q], p->dx[X_K], p->dx[X_V], p->o, p->dx[X_DO], p->lse, p->g[0], p->g[1], p->g[2],
                     p->acc, p->delta, s->B, s->N, s->H, s->d, 0.0f, s->causal, s->dt, count ? p->count : NULL};
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
        double *in[NIN];
        for (int k = 0; k < NIN; k++) {
            in[k] = xmalloc(hd * sizeof *in[k]);
            ref_head_get(p->x[k], s->B, s->N, s->H, s->d, b, h, in[k]);
        }
        ref_attention_backward(in[X_Q], in[X_K], in[X_V], in[X_DO], s->N, s->d, scale, s->causal, p->ref[0] + o,
                               p->ref[1] + o, p->ref[2] + o);
        ref_attention_backward_lowp(in[X_Q], in[X_K], in[X_V], in[X_DO], s->N, s->d, scale, s->causal, s->dt,
                                    p->low[0] + o, p->low[1] + o, p->low[2] + o);
        ref_attention_backward_mag(in[X_Q], in[X_K], in[X_V], in[X_DO], s->N, s->d, scale, s->causal, p->mag[0] + o,
                                   p->mag[1] + o, p->mag[2] + o);
        for (int k = 0; k < NIN; k++)
            free(in[k]);
    }
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
