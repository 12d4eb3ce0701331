/* tc_host.c — inputs, references, checks, counters and timing for the tensor-core kernels (see tc_host.h). */
#include "tc_host.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "cuda_check.h"
#include "rng.h"
#include "util.h"

static size_t elems(const tc_shape *s)
{
    size_t n;
    if (!size_mul4_ok(s->B, s->N, s->H, s->d, &n))
        fl_fatal("shape B=%zu N=%zu H=%zu d=%zu overflows", s->B, s->N, s->H, s->d);
    return n;
}

tc_problem *tc_problem_new(const tc_shape *s, uint64_t seed)
{
    cuda_require_device();
    if (s->dt != DTYPE_FP16 && s->dt != DTYPE_BF16)
        fl_fatal("tensor-core kernels take fp16 or bf16, not %s", dtype_name(s->dt));
    tc_problem *p = xcalloc(1, sizeof *p);
    p->s = *s;
    p->n = elems(s);
    float **host[3] = {&p->q, &p->k, &p->v};
    void **dev[3] = {&p->dq, &p->dk, &p->dv};
    uint16_t *stage = xmalloc(p->n * sizeof *stage);
    rng_t r;
    rng_seed(&r, seed);
    for (int x = 0; x < 3; x++) {
        float *h = *host[x] = xmalloc(p->n * sizeof *h);
        rng_fill_normal(&r, h, p->n, 1.0f);
        for (size_t e = 0; e < p->n; e++) {
            stage[e] = s->dt == DTYPE_FP16 ? fp16_from_float(h[e]) : bf16_from_float(h[e]);
            h[e] = s->dt == DTYPE_FP16 ? fp16_to_float(stage[e]) : bf16_to_float(stage[e]);   /* what the GPU sees */
        }
        CUDA_CHECK(cudaMalloc(dev[x], p->n * 2));
        CUDA_CHECK(cudaMemcpy(*dev[x], stage, p->n * 2, cudaMemcpyHostToDevice));
    }
    free(stage);
    CUDA_CHECK(cudaMalloc(&p->dout, p->n * 2));
    CUDA_CHECK(cudaMalloc((void **)&p->dlse, s->B * s->H * s->N * sizeof(float)));
    CUDA_CHECK(cudaMalloc((void **)&p->dcount, TC_NCOUNT * sizeof(unsigned long long)));
    return p;
}

void tc_problem_free(tc_problem *p)
{
    if (!p)
        return;
    free(p->q), free(p->k), free(p->v);
    CUDA_CHECK(cudaFree(p->dq));
    CUDA_CHECK(cudaFree(p->dk));
    CUDA_CHECK(cudaFree(p->dv));
    CUDA_CHECK(cudaFree(p->dout));
    CUDA_CHECK(cudaFree(p->dlse));
    CUDA_CHECK(cudaFree(p->dcount));
    free(p);
}

/* ---- references for sampled rows ------------------------------------------------------------------------------ */
struct tc_ref {
    bool causal;
    size_t nrows;
    size_t *b, *h, *row;
    double *o64, *olp, *l64, *llp;    /* nrows x d, nrows x d, nrows, nrows */
};

/* Element (n, x) of head (b, h) in a (B, N, H, d) array. */
static size_t at(const tc_shape *s, size_t b, size_t n, size_t h, size_t x) { return ((b * s->N + n) * s->H + h) * s->d + x; }

/* Row `row` of head (b, h): fp64 attention (ref_attention's arithmetic) and the low-precision materialized one
 * (ref_attention_lowp's: fp32 sums, S, P and O rounded to dt). */
static void ref_row(const tc_problem *p, bool causal, size_t b, size_t h, size_t row, double *s64, float *slp,
                    double *o64, double *olp, double *l64, double *llp)
{
    const tc_shape *s = &p->s;
    const size_t N = s->N, d = s->d, last = causal ? row + 1 : N;
    const double scale = 1.0 / sqrt((double)d);
    const float sc = (float)scale;
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
        slp[j] = dtype_round(s->dt, sc * accf);
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
    *llp = (double)mxl + log((double)suml);
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

tc_ref *tc_ref_new(const tc_problem *p, bool causal, size_t max_rows, uint64_t seed)
{
    const tc_shape *s = &p->s;
    tc_ref *r = xcalloc(1, sizeof *r);
    size_t all = s->B * s->H * s->N;
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
        /* Up to 4 heads spread over B*H (first and last included); in each, the first and the last row (ragged
         * block, longest causal row), then random rows. */
        rng_t g;
        rng_seed(&g, seed);
        size_t bh = s->B * s->H, nh = bh < 4 ? bh : 4;
        for (size_t x = 0; x < r->nrows; x++) {
            size_t k = x / nh, head = nh > 1 ? (x % nh) * (bh - 1) / (nh - 1) : 0;
            r->b[x] = head / s->H, r->h[x] = head % s->H;
            r->row[x] = k == 0 ? 0 : k == 1 ? s->N - 1 : (size_t)rng_below(&g, s->N);
        }
    }
    size_t d = s->d;
    r->o64 = xmalloc(r->nrows * d * sizeof *r->o64);
    r->olp = xmalloc(r->nrows * d * sizeof *r->olp);
    r->l64 = xmalloc(r->nrows * sizeof *r->l64);
    r->llp = xmalloc(r->nrows * sizeof *r->llp);
#pragma omp parallel
    {
        double *s64 = xmalloc(s->N * sizeof *s64);
        float *slp = xmalloc(s->N * sizeof *slp);
#pragma omp for schedule(dynamic, 4)
        for (long x = 0; x < (long)r->nrows; x++)
            ref_row(p, causal, r->b[x], r->h[x], r->row[x], s64, slp, r->o64 + x * d, r->olp + x * d, r->l64 + x,
                    r->llp + x);
        free(s64);
        free(slp);
    }
    return r;
}

void tc_ref_free(tc_ref *r)
{
    if (!r)
        return;
    free(r->b), free(r->h), free(r->row), free(r->o64), free(r->olp), free(r->l64), free(r->llp);
    free(r);
}

size_t tc_ref_rows(const tc_ref *r) { return r->nrows; }

static int launch(const tc_problem *p, bool causal, int v, bool count, char *err, size_t errlen)
{
    tc_args a = {p->dq, p->dk, p->dv, p->dout, p->dlse, p->s.B, p->s.N, p->s.H, p->s.d, 0.0f, causal, p->s.dt,
                 count ? p->dcount : NULL};
    tc_forward_fn f = count ? tc_versions[v].forward_count : tc_versions[v].forward;
    return f(&a, NULL, err, errlen);
}

int tc_check_version(const tc_problem *p, const tc_ref *ref, int v, tc_result *res, char *err, size_t errlen)
{
    const tc_shape *s = &p->s;
    size_t nl = s->B * s->H * s->N;
    memset(res, 0, sizeof *res);
    /* Poison: 0xFFFF is a NaN in fp16 and bf16, 0xFFFFFFFF in fp32. */
    CUDA_CHECK(cudaMemset(p->dout, 0xFF, p->n * 2));
    CUDA_CHECK(cudaMemset(p->dlse, 0xFF, nl * sizeof(float)));
    if (launch(p, ref->causal, v, false, err, errlen))
        return -1;
    CUDA_CHECK(cudaDeviceSynchronize());
    uint16_t *o = xmalloc(p->n * sizeof *o);
    float *l = xmalloc(nl * sizeof *l);
    CUDA_CHECK(cudaMemcpy(o, p->dout, p->n * 2, cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(l, p->dlse, nl * sizeof(float), cudaMemcpyDeviceToHost));
    for (size_t e = 0; e < p->n; e++)
        res->unwritten += isnan(s->dt == DTYPE_FP16 ? fp16_to_float(o[e]) : bf16_to_float(o[e]));
    for (size_t e = 0; e < nl; e++)
        res->unwritten += isnan(l[e]);
    for (size_t x = 0; x < ref->nrows; x++) {
        size_t b = ref->b[x], h = ref->h[x], row = ref->row[x];
        for (size_t c = 0; c < s->d; c++) {
            uint16_t raw = o[at(s, b, row, h, c)];
            double got = s->dt == DTYPE_FP16 ? fp16_to_float(raw) : bf16_to_float(raw);
            double e = fabs(got - ref->o64[x * s->d + c]);
            res->err_o = isnan(got) || e > res->err_o ? (isnan(got) ? INFINITY : e) : res->err_o;
            res->ref_err_o = fmax(res->ref_err_o, fabs(ref->olp[x * s->d + c] - ref->o64[x * s->d + c]));
        }
        double gl = l[(b * s->H + h) * s->N + row];
        double el = isnan(gl) ? INFINITY : fabs(gl - ref->l64[x]);
        res->err_l = fmax(res->err_l, el);
        res->ref_err_l = fmax(res->ref_err_l, fabs(ref->llp[x] - ref->l64[x]));
    }
    res->rows = ref->nrows;
    res->ok = res->unwritten == 0 && res->err_o <= TC_TRIDAO_FACTOR * res->ref_err_o && res->err_l <= TC_L_ATOL;
    free(o);
    free(l);
    return 0;
}

const char *tc_count_name(int i)
{
    static const char *const names[TC_NCOUNT] = {"Q read", "K read", "V read", "O write", "L write"};
    return i >= 0 && i < TC_NCOUNT ? names[i] : "?";
}

int tc_count_version(const tc_problem *p, bool causal, int v, tc_counts *c, char *err, size_t errlen)
{
    const tc_shape *s = &p->s;
    memset(c, 0, sizeof *c);
    tc_versions[v].blocks((int)s->d, &c->Br, &c->Bc);
    if (!c->Br) {
        snprintf(err, errlen, "%s: no blocks for d = %zu", tc_versions[v].name, s->d);
        return -1;
    }
    CUDA_CHECK(cudaMemset(p->dcount, 0, TC_NCOUNT * sizeof(unsigned long long)));
    if (launch(p, causal, v, true, err, errlen))
        return -1;
    unsigned long long k[TC_NCOUNT];
    CUDA_CHECK(cudaMemcpy(k, p->dcount, sizeof k, cudaMemcpyDeviceToHost));
    /* The simulator's flash2 with the kernel's blocks. A block larger than N holds N rows either way, so the
     * simulator (which wants blocks <= N) gets min(block, N): the same tiles, the same ledger. */
    attn_params ap = {.algo = ATTN_FLASH2, .B = s->B, .N = s->N, .H = s->H, .d = s->d, .causal = causal,
                      .Br = min_size((size_t)c->Br, s->N), .Bc = min_size((size_t)c->Bc, s->N)};
    mem_t *m = mem_create(attn_sram_need(ATTN_FLASH2, false, ap.Br, ap.Bc, s->d, s->dt), true);
    attn_tensors t = attn_alloc(m, &ap, s->dt, false);
    attn_forward(m, &ap, &t);
    attn_io io;
    attn_io_closed_form(&ap, false, &io);
    static const char *const tensor[TC_NCOUNT] = {"Q", "K", "V", "O", "L"};
    c->ok = true;
    for (int i = 0; i < TC_NCOUNT; i++) {
        bool wr = i >= TC_CNT_O_WR;
        io_count ic = mem_io(m, tensor[i], NULL);
        c->kern[i] = k[i];
        c->sim[i] = wr ? ic.wr_elems : ic.rd_elems;
        for (size_t r = 0; r < io.n; r++)
            if (!strcmp(io.row[r].tensor, tensor[i]))
                c->closed[i] = wr ? io.row[r].wr : io.row[r].rd;
        /* and the other direction must be empty in the ledger: the kernel never reads O or L, never writes Q */
        if (c->kern[i] != c->sim[i] || c->sim[i] != c->closed[i] || (wr ? ic.rd_elems : ic.wr_elems))
            c->ok = false;
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

double tc_time_ms(const tc_problem *p, bool causal, int v, int warmup, int reps)
{
    /* Launches queued back to back between events, so no host gap is timed; the median of the intervals. */
    char err[256];
    double *ms = xmalloc((size_t)reps * sizeof *ms);
    cudaEvent_t *ev = xmalloc((size_t)(reps + 1) * sizeof *ev);
    for (int x = 0; x <= reps; x++)
        CUDA_CHECK(cudaEventCreate(&ev[x]));
    for (int x = 0; x < warmup; x++)
        if (launch(p, causal, v, false, err, sizeof err))
            fl_fatal("%s", err);
    CUDA_CHECK(cudaEventRecord(ev[0], 0));
    for (int x = 0; x < reps; x++) {
        if (launch(p, causal, v, false, err, sizeof err))
            fl_fatal("%s", err);
        CUDA_CHECK(cudaEventRecord(ev[x + 1], 0));
    }
    CUDA_CHECK(cudaEventSynchronize(ev[reps]));
    for (int x = 0; x < reps; x++) {
        float t;
        CUDA_CHECK(cudaEventElapsedTime(&t, ev[x], ev[x + 1]));
        ms[x] = t;
    }
    qsort(ms, (size_t)reps, sizeof *ms, cmp_double);
    double med = reps % 2 ? ms[reps / 2] : 0.5 * (ms[reps / 2 - 1] + ms[reps / 2]);
    for (int x = 0; x <= reps; x++)
        CUDA_CHECK(cudaEventDestroy(ev[x]));
    free(ev);
    free(ms);
    return med;
}

double tc_flops(const tc_shape *s, bool causal)
{
    double f = 4.0 * (double)s->B * (double)s->H * (double)s->N * (double)s->N * (double)s->d;
    return causal ? f / 2 : f;
}
