/* hopper_host.c — inputs, references, checks, counters and timing for the Hopper kernels (see hopper_host.h). */
#include "hopper_host.h"

#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "hopper.h"
#include "rng.h"
#include "util.h"

/* Every CUDA call: on failure, its error into err and -1 from the calling function. */
#define HP_TRY(call)                                                                                           \
    do {                                                                                                       \
        cudaError_t e_ = (call);                                                                               \
        if (e_ != cudaSuccess) {                                                                               \
            snprintf(err, errlen, "CUDA error at %s:%d: %s (%s)", __FILE__, __LINE__, cudaGetErrorString(e_), #call); \
            return -1;                                                                                         \
        }                                                                                                      \
    } while (0)

struct hp_problem {
    hp_shape s;
    size_t n;                     /* B*N*H*d */
    float *q, *k, *v;             /* host, values already rounded to dt */
    void *dq, *dk, *dv, *dout;    /* device, dt */
    float *dlse;                  /* device, (B, H, N) */
    unsigned long long *dcount;   /* device, TC_NCOUNT */
};

const hp_shape *hp_problem_shape(const hp_problem *p) { return &p->s; }

void hp_problem_free(hp_problem *p)
{
    if (!p)
        return;
    free(p->q), free(p->k), free(p->v);
    cudaFree(p->dq), cudaFree(p->dk), cudaFree(p->dv), cudaFree(p->dout), cudaFree(p->dlse), cudaFree(p->dcount);
    free(p);
}

static int upload(hp_problem *p, uint64_t seed, char *err, size_t errlen)
{
    float **host[3] = {&p->q, &p->k, &p->v};
    void **dev[3] = {&p->dq, &p->dk, &p->dv};
    uint16_t *stage = xmalloc(p->n * sizeof *stage);
    rng_t r;
    rng_seed(&r, seed);
    for (int x = 0; x < 3; x++) {
        float *h = *host[x] = xmalloc(p->n * sizeof *h);
        rng_fill_normal(&r, h, p->n, 1.0f);
        for (size_t e = 0; e < p->n; e++) {
            stage[e] = p->s.dt == DTYPE_FP16 ? fp16_from_float(h[e]) : bf16_from_float(h[e]);
            h[e] = p->s.dt == DTYPE_FP16 ? fp16_to_float(stage[e]) : bf16_to_float(stage[e]);   /* what the GPU sees */
        }
        cudaError_t e = cudaMalloc(dev[x], p->n * 2);
        if (e == cudaSuccess)
            e = cudaMemcpy(*dev[x], stage, p->n * 2, cudaMemcpyHostToDevice);
        if (e != cudaSuccess) {
            free(stage);
            snprintf(err, errlen, "uploading the inputs: %s", cudaGetErrorString(e));
            return -1;
        }
    }
    free(stage);
    HP_TRY(cudaMalloc(&p->dout, p->n * 2));
    HP_TRY(cudaMalloc((void **)&p->dlse, p->s.B * p->s.H * p->s.N * sizeof(float)));
    HP_TRY(cudaMalloc((void **)&p->dcount, TC_NCOUNT * sizeof(unsigned long long)));
    return 0;
}

hp_problem *hp_problem_new(const hp_shape *s, uint64_t seed, char *err, size_t errlen)
{
    size_t n;
    if (s->dt != DTYPE_FP16 && s->dt != DTYPE_BF16) {
        snprintf(err, errlen, "the Hopper kernels take fp16 or bf16, not %s", dtype_name(s->dt));
        return NULL;
    }
    if (!s->B || !s->N || !s->H || !s->d || !size_mul4_ok(s->B, s->N, s->H, s->d, &n) || n > SIZE_MAX / 4) {
        snprintf(err, errlen, "shape B=%zu N=%zu H=%zu d=%zu is empty or overflows", s->B, s->N, s->H, s->d);
        return NULL;
    }
    int devs = 0;
    if (cudaGetDeviceCount(&devs) != cudaSuccess || devs == 0) {
        (void)cudaGetLastError();
        snprintf(err, errlen, "no CUDA device found (the Hopper kernels need an sm_90 GPU)");
        return NULL;
    }
    hp_problem *p = xcalloc(1, sizeof *p);
    p->s = *s;
    p->n = n;
    if (upload(p, seed, err, errlen)) {
        hp_problem_free(p);
        return NULL;
    }
    return p;
}

/* ---- references for sampled rows ------------------------------------------------------------------------------ */
struct hp_ref {
    bool causal;
    size_t nrows;
    size_t *b, *h, *row;
    double *o64, *olp, *l64;      /* nrows x d, nrows x d, nrows */
};

static size_t at(const hp_shape *s, size_t b, size_t n, size_t h, size_t x) { return ((b * s->N + n) * s->H + h) * s->d + x; }

/* Row `row` of head (b, h): attention in fp64, and materialized in dt (fp32 sums, S, P and O rounded to dt). */
static void ref_row(const hp_problem *p, bool causal, size_t b, size_t h, size_t row, double *s64, float *slp,
                    double *o64, double *olp, double *l64)
{
    const hp_shape *s = &p->s;
    const size_t d = s->d, last = causal ? row + 1 : s->N;
    const double scale = 1.0 / sqrt((double)d);
    double mx = -INFINITY, sum = 0;
    float mxl = -INFINITY, suml = 0;
    for (size_t j = 0; j < last; j++) {
        double acc = 0;
        float accf = 0;
        for (size_t x = 0; x < d; x++) {
            double qk = (double)p->q[at(s, b, row, h, x)] * p->k[at(s, b, j, h, x)];
            acc += qk;
            accf += (float)qk;   /* fp16/bf16 products are exact in float */
        }
        s64[j] = acc * scale;
        slp[j] = dtype_round(s->dt, (float)scale * accf);
        mx = fmax(mx, s64[j]);
        mxl = fmaxf(mxl, slp[j]);
    }
    for (size_t j = 0; j < last; j++) {
        sum += (s64[j] = exp(s64[j] - mx));
        suml += (slp[j] = expf(slp[j] - mxl));
    }
    for (size_t j = 0; j < last; j++) {
        s64[j] /= sum;
        slp[j] = dtype_round(s->dt, slp[j] / suml);
    }
    *l64 = mx + log(sum);
    for (size_t x = 0; x < d; x++) {
        double o = 0;
        float ol = 0;
        for (size_t j = 0; j < last; j++) {
            double vv = p->v[at(s, b, j, h, x)];
            o += s64[j] * vv;
            ol += slp[j] * (float)vv;
        }
        o64[x] = o;
        olp[x] = dtype_round(s->dt, ol);
    }
}

hp_ref *hp_ref_new(const hp_problem *p, bool causal, size_t max_rows, uint64_t seed)
{
    const hp_shape *s = &p->s;
    hp_ref *r = xcalloc(1, sizeof *r);
    const size_t all = s->B * s->H * s->N, d = s->d;
    r->causal = causal;
    r->nrows = all <= max_rows ? all : max_rows;
    r->b = xmalloc(r->nrows * sizeof *r->b);
    r->h = xmalloc(r->nrows * sizeof *r->h);
    r->row = xmalloc(r->nrows * sizeof *r->row);
    if (r->nrows == all) {
        size_t x = 0;
        for (size_t b = 0; b < s->B; b++)
            for (size_t h = 0; h < s->H; h++)
                for (size_t n = 0; n < s->N; n++)
                    r->b[x] = b, r->h[x] = h, r->row[x++] = n;
    } else {
        rng_t g;
        rng_seed(&g, seed);
        size_t bh = s->B * s->H, nh = bh < 4 ? bh : 4;
        for (size_t x = 0; x < r->nrows; x++) {
            size_t k = x / nh, head = nh > 1 ? (x % nh) * (bh - 1) / (nh - 1) : 0;
            r->b[x] = head / s->H, r->h[x] = head % s->H;
            r->row[x] = k == 0 ? 0 : k == 1 ? s->N - 1 : (size_t)rng_below(&g, s->N);
        }
    }
    r->o64 = xmalloc(r->nrows * d * sizeof *r->o64);
    r->olp = xmalloc(r->nrows * d * sizeof *r->olp);
    r->l64 = xmalloc(r->nrows * sizeof *r->l64);
#pragma omp parallel
    {
        double *s64 = xmalloc(s->N * sizeof *s64);
        float *slp = xmalloc(s->N * sizeof *slp);
#pragma omp for schedule(dynamic, 4)
        for (long x = 0; x < (long)r->nrows; x++)
            ref_row(p, causal, r->b[x], r->h[x], r->row[x], s64, slp, r->o64 + x * d, r->olp + x * d, r->l64 + x);
        free(s64);
        free(slp);
    }
    return r;
}

void hp_ref_free(hp_ref *r)
{
    if (!r)
        return;
    free(r->b), free(r->h), free(r->row), free(r->o64), free(r->olp), free(r->l64);
    free(r);
}

/* ---- one version ---------------------------------------------------------------------------------------------- */
static int launch(const hp_problem *p, bool causal, int v, bool count, char *err, size_t errlen)
{
    if (v < 0 || v >= hp_nversions) {
        snprintf(err, errlen, "no Hopper version %d (0..%d)", v, hp_nversions - 1);
        return -1;
    }
    tc_args a = {p->dq, p->dk, p->dv, p->dout, p->dlse, p->s.B, p->s.N, p->s.H, p->s.d, 0.0f, causal, p->s.dt,
                 count ? p->dcount : NULL};
    tc_forward_fn f = count ? hp_versions[v].forward_count : hp_versions[v].forward;
    return f(&a, NULL, err, errlen);
}

int hp_check(const hp_problem *p, const hp_ref *ref, int v, hp_report *res, char *err, size_t errlen)
{
    const hp_shape *s = &p->s;
    const size_t nl = s->B * s->H * s->N;
    /* Poison: 0xFFFF is a NaN in fp16 and bf16, 0xFFFFFFFF in fp32. */
    HP_TRY(cudaMemset(p->dout, 0xFF, p->n * 2));
    HP_TRY(cudaMemset(p->dlse, 0xFF, nl * sizeof(float)));
    if (launch(p, ref->causal, v, false, err, errlen))
        return -1;
    HP_TRY(cudaDeviceSynchronize());
    uint16_t *o = xmalloc(p->n * sizeof *o);
    float *l = xmalloc(nl * sizeof *l);
    cudaError_t e = cudaMemcpy(o, p->dout, p->n * 2, cudaMemcpyDeviceToHost);
    if (e == cudaSuccess)
        e = cudaMemcpy(l, p->dlse, nl * sizeof(float), cudaMemcpyDeviceToHost);
    if (e != cudaSuccess) {
        free(o), free(l);
        snprintf(err, errlen, "reading O and L back: %s", cudaGetErrorString(e));
        return -1;
    }
    res->err_o = res->ref_err_o = res->err_l = 0;
    res->unwritten = 0;
    for (size_t x = 0; x < p->n; x++)
        res->unwritten += isnan(s->dt == DTYPE_FP16 ? fp16_to_float(o[x]) : bf16_to_float(o[x]));
    for (size_t x = 0; x < nl; x++)
        res->unwritten += isnan(l[x]);
    for (size_t x = 0; x < ref->nrows; x++) {
        const size_t b = ref->b[x], h = ref->h[x], row = ref->row[x];
        for (size_t c = 0; c < s->d; c++) {
            const uint16_t raw = o[at(s, b, row, h, c)];
            const double got = s->dt == DTYPE_FP16 ? fp16_to_float(raw) : bf16_to_float(raw);
            const double e64 = isnan(got) ? INFINITY : fabs(got - ref->o64[x * s->d + c]);
            res->err_o = fmax(res->err_o, e64);
            res->ref_err_o = fmax(res->ref_err_o, fabs(ref->olp[x * s->d + c] - ref->o64[x * s->d + c]));
        }
        const double gl = l[(b * s->H + h) * s->N + row];
        res->err_l = fmax(res->err_l, isnan(gl) ? INFINITY : fabs(gl - ref->l64[x]));
    }
    res->rows = ref->nrows;
    res->check_ok = res->unwritten == 0 && res->err_o <= HP_TRIDAO_FACTOR * res->ref_err_o && res->err_l <= HP_L_ATOL;
    free(o);
    free(l);
    return 0;
}

const char *hp_count_name(int i)
{
    static const char *const names[TC_NCOUNT] = {"Q read", "K read", "V read", "O write", "L write"};
    return i >= 0 && i < TC_NCOUNT ? names[i] : "?";
}

int hp_count(const hp_problem *p, bool causal, int v, hp_report *c, char *err, size_t errlen)
{
    const hp_shape *s = &p->s;
    if (v < 0 || v >= hp_nversions) {
        snprintf(err, errlen, "no Hopper version %d", v);
        return -1;
    }
    hp_versions[v].blocks((int)s->d, &c->Br, &c->Bc);
    if (!c->Br) {
        snprintf(err, errlen, "%s: no blocks for d = %zu", hp_versions[v].name, s->d);
        return -1;
    }
    HP_TRY(cudaMemset(p->dcount, 0, TC_NCOUNT * sizeof(unsigned long long)));
    if (launch(p, causal, v, true, err, errlen))
        return -1;
    unsigned long long k[TC_NCOUNT];
    HP_TRY(cudaMemcpy(k, p->dcount, sizeof k, cudaMemcpyDeviceToHost));
    /* The simulator's flash2 with the kernel's blocks (a block larger than N holds N rows either way). */
    attn_params ap = {.algo = ATTN_FLASH2, .B = s->B, .N = s->N, .H = s->H, .d = s->d, .causal = causal,
                      .Br = min_size((size_t)c->Br, s->N), .Bc = min_size((size_t)c->Bc, s->N)};
    mem_t *m = mem_create(attn_sram_need(ATTN_FLASH2, false, ap.Br, ap.Bc, s->d, s->dt), true);
    attn_tensors t = attn_alloc(m, &ap, s->dt, false);
    attn_forward(m, &ap, &t);
    attn_io io;
    attn_io_closed_form(&ap, false, &io);
    static const char *const tensor[TC_NCOUNT] = {"Q", "K", "V", "O", "L"};
    c->counts_ok = true;
    for (int i = 0; i < TC_NCOUNT; i++) {
        const bool wr = i >= TC_CNT_O_WR;
        io_count ic = mem_io(m, tensor[i], NULL);
        c->kern[i] = k[i];
        c->sim[i] = wr ? ic.wr_elems : ic.rd_elems;
        c->closed[i] = 0;
        for (size_t r = 0; r < io.n; r++)
            if (!strcmp(io.row[r].tensor, tensor[i]))
                c->closed[i] = wr ? io.row[r].wr : io.row[r].rd;
        if (c->kern[i] != c->sim[i] || c->sim[i] != c->closed[i] || (wr ? ic.rd_elems : ic.wr_elems))
            c->counts_ok = false;
    }
    attn_free(m, &t);
    mem_destroy(m);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int hp_time(const hp_problem *p, bool causal, int v, int warmup, int reps, hp_report *r, char *err, size_t errlen)
{
    if (reps < 1 || warmup < 0) {
        snprintf(err, errlen, "timing needs reps >= 1 and warmup >= 0 (got %d, %d)", reps, warmup);
        return -1;
    }
    /* Launches queued back to back between events (no host gap timed); the median of the intervals. */
    double *ms = xmalloc((size_t)reps * sizeof *ms);
    cudaEvent_t *ev = xcalloc((size_t)reps + 1, sizeof *ev);
    int rc = 0;
    for (int x = 0; x <= reps && !rc; x++)
        if (cudaEventCreate(&ev[x]) != cudaSuccess)
            rc = -1, snprintf(err, errlen, "cudaEventCreate: %s", cudaGetErrorString(cudaGetLastError()));
    for (int x = 0; x < warmup && !rc; x++)
        rc = launch(p, causal, v, false, err, errlen);
    if (!rc && cudaEventRecord(ev[0], 0) != cudaSuccess)
        rc = -1, snprintf(err, errlen, "cudaEventRecord failed");
    for (int x = 0; x < reps && !rc; x++) {
        rc = launch(p, causal, v, false, err, errlen);
        if (!rc && cudaEventRecord(ev[x + 1], 0) != cudaSuccess)
            rc = -1, snprintf(err, errlen, "cudaEventRecord failed");
    }
    if (!rc && cudaEventSynchronize(ev[reps]) != cudaSuccess)
        rc = -1, snprintf(err, errlen, "timing: %s", cudaGetErrorString(cudaGetLastError()));
    for (int x = 0; x < reps && !rc; x++) {
        float t;
        if (cudaEventElapsedTime(&t, ev[x], ev[x + 1]) != cudaSuccess)
            rc = -1, snprintf(err, errlen, "cudaEventElapsedTime failed");
        ms[x] = t;
    }
    if (!rc) {
        qsort(ms, (size_t)reps, sizeof *ms, cmp_double);
        r->ms = reps % 2 ? ms[reps / 2] : 0.5 * (ms[reps / 2 - 1] + ms[reps / 2]);
        const hp_shape *s = &p->s;
        const double f = 4.0 * (double)s->B * (double)s->H * (double)s->N * (double)s->N * (double)s->d;
        r->tflops = (causal ? f / 2 : f) / r->ms / 1e9;
    }
    for (int x = 0; x <= reps; x++)
        if (ev[x])
            cudaEventDestroy(ev[x]);
    free(ev);
    free(ms);
    return rc;
}

int hp_run_case(const hp_case *c, hp_report *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->ms = r->tflops = NAN;
    if (c->version < 0 || c->version >= hp_nversions) {
        snprintf(err, errlen, "no Hopper version %d (0..%d)", c->version, hp_nversions - 1);
        return -1;
    }
    hp_versions[c->version].blocks((int)c->d, &r->Br, &r->Bc);
    if (!r->Br) {
        snprintf(err, errlen, "%s: head dimension d = %zu not supported", hp_versions[c->version].name, c->d);
        return -1;
    }
    hp_problem *p = hp_problem_new(&(hp_shape){c->B, c->N, c->H, c->d, c->dt}, c->seed, err, errlen);
    if (!p)
        return -1;
    int rc = 0;
    if (c->check_rows) {
        hp_ref *ref = hp_ref_new(p, c->causal, c->check_rows, c->seed + 7);
        rc = hp_check(p, ref, c->version, r, err, errlen);
        hp_ref_free(ref);
    }
    if (!rc && c->count)
        rc = hp_count(p, c->causal, c->version, r, err, errlen);
    if (!rc && c->reps > 0)
        rc = hp_time(p, c->causal, c->version, c->warmup, c->reps, r, err, errlen);
    hp_problem_free(p);
    return rc;
}
