/* fwd_host.c — inputs, references, checks, counters and timing for any forward kernel of the tc_version ABI (see
 * fwd_host.h). */
#include "fwd_host.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "cuda_check.h"
#include "gpu.h"
#include "ref_rows.h"
#include "rng.h"
#include "util.h"

static int upload(void **d, const uint16_t *h, size_t n, char *err, size_t errlen)
{
    CUDA_TRY(cudaMalloc(d, n * 2));
    CUDA_TRY(cudaMemcpy(*d, h, n * 2, cudaMemcpyHostToDevice));
    return 0;
}

/* Host inputs, then every device buffer; on failure tc_problem_new frees what was taken. */
static int problem_fill(tc_problem *p, uint64_t seed, char *err, size_t errlen)
{
    const tc_shape *s = &p->s;
    float **host[3] = {&p->q, &p->k, &p->v};
    void **dev[3] = {&p->dq, &p->dk, &p->dv};
    uint16_t *stage = xmalloc(p->n * sizeof *stage);
    rng_t r;
    rng_seed(&r, seed);
    int rc = 0;
    for (int x = 0; x < 3 && !rc; x++) {
        float *h = *host[x] = xmalloc(p->n * sizeof *h);
        rng_fill_normal(&r, h, p->n, 1.0f);
        for (size_t e = 0; e < p->n; e++) {
            stage[e] = s->dt == DTYPE_FP16 ? fp16_from_float(h[e]) : bf16_from_float(h[e]);
            h[e] = s->dt == DTYPE_FP16 ? fp16_to_float(stage[e]) : bf16_to_float(stage[e]);   /* what the GPU sees */
        }
        rc = upload(dev[x], stage, p->n, err, errlen);
    }
    free(stage);
    if (rc)
        return rc;
    CUDA_TRY(cudaMalloc(&p->dout, p->n * 2));
    CUDA_TRY(cudaMalloc((void **)&p->dlse, s->B * s->H * s->N * sizeof(float)));
    CUDA_TRY(cudaMalloc((void **)&p->dcount, TC_NCOUNT * sizeof(unsigned long long)));
    return 0;
}

int tc_problem_new(const tc_shape *s, uint64_t seed, tc_problem **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = cuda_need_device(err, errlen);
    if (rc)
        return rc;
    if (s->dt != DTYPE_FP16 && s->dt != DTYPE_BF16) {
        snprintf(err, errlen, "the tensor-core kernels take fp16 or bf16, not %s", dtype_name(s->dt));
        return FL_EXIT_USAGE;
    }
    size_t n;
    if (!s->B || !s->N || !s->H || !s->d || !size_mul4_ok(s->B, s->N, s->H, s->d, &n) || n > SIZE_MAX / 4) {
        snprintf(err, errlen, "shape B=%zu N=%zu H=%zu d=%zu is empty or overflows", s->B, s->N, s->H, s->d);
        return FL_EXIT_USAGE;
    }
    tc_problem *p = xcalloc(1, sizeof *p);
    p->s = *s;
    p->n = n;
    if ((rc = problem_fill(p, seed, err, errlen))) {
        char ignored[8];
        tc_problem_free(p, ignored, sizeof ignored);   /* err keeps the first failure */
        return rc;
    }
    *out = p;
    return 0;
}

int tc_problem_free(tc_problem *p, char *err, size_t errlen)
{
    if (!p)
        return 0;
    free(p->q), free(p->k), free(p->v);
    void *dev[] = {p->dq, p->dk, p->dv, p->dout, p->dlse, p->dcount};
    cudaError_t first = cudaSuccess;
    for (size_t x = 0; x < sizeof dev / sizeof dev[0]; x++) {
        cudaError_t e = cudaFree(dev[x]);   /* cudaFree(NULL) is a no-op */
        first = first == cudaSuccess ? e : first;
    }
    free(p);
    CUDA_TRY(first);
    return 0;
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
    /* fp64 attention (ref_attention's arithmetic) and the low-precision materialized one, row by row */
    const ref_input in = {p->q, p->k, p->v, s->B, s->N, s->H, d, 1.0 / sqrt((double)d), causal};
#pragma omp parallel
    {
        double *s64 = xmalloc(s->N * sizeof *s64);
        float *slp = xmalloc(s->N * sizeof *slp);
#pragma omp for schedule(dynamic, 4)
        for (long x = 0; x < (long)r->nrows; x++) {
            r->l64[x] = ref_row64(&in, r->b[x], r->h[x], r->row[x], s64, r->o64 + x * d);
            r->llp[x] = ref_row_lowp(&in, s->dt, r->b[x], r->h[x], r->row[x], slp, r->olp + x * d);
        }
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

static int download(void *h, const void *d, size_t bytes, char *err, size_t errlen)
{
    CUDA_TRY(cudaMemcpy(h, d, bytes, cudaMemcpyDeviceToHost));
    return 0;
}

static int launch(const tc_problem *p, bool causal, const tc_version *ver, bool count, char *err, size_t errlen)
{
    tc_args a = {p->dq, p->dk, p->dv, p->dout, p->dlse, p->s.B, p->s.N, p->s.H, p->s.d, 0.0f, causal, p->s.dt,
                 count ? p->dcount : NULL};
    tc_forward_fn f = count ? ver->forward_count : ver->forward;
    return f(&a, NULL, err, errlen);
}

int fwd_check(const tc_problem *p, const tc_ref *ref, const tc_version *ver, tc_result *res, char *err, size_t errlen)
{
    const tc_shape *s = &p->s;
    size_t nl = s->B * s->H * s->N;
    memset(res, 0, sizeof *res);
    /* Poison: 0xFFFF is a NaN in fp16 and bf16, 0xFFFFFFFF in fp32. */
    CUDA_TRY(cudaMemset(p->dout, 0xFF, p->n * 2));
    CUDA_TRY(cudaMemset(p->dlse, 0xFF, nl * sizeof(float)));
    int rc = launch(p, ref->causal, ver, false, err, errlen);
    if (rc)
        return rc;
    CUDA_TRY(cudaDeviceSynchronize());
    uint16_t *o = xmalloc(p->n * sizeof *o);
    float *l = xmalloc(nl * sizeof *l);
    if ((rc = download(o, p->dout, p->n * 2, err, errlen)) || (rc = download(l, p->dlse, nl * sizeof(float), err, errlen))) {
        free(o);
        free(l);
        return rc;
    }
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
    res->ok = res->unwritten == 0 && verify_tridao(res->err_o, res->ref_err_o) && res->err_l <= TC_L_ATOL;
    free(o);
    free(l);
    return 0;
}

const char *tc_count_name(int i)
{
    static const char *const names[TC_NCOUNT] = {"Q read", "K read", "V read", "O write", "L write"};
    return i >= 0 && i < TC_NCOUNT ? names[i] : "?";
}

int fwd_count(const tc_problem *p, bool causal, const tc_version *ver, tc_counts *c, char *err, size_t errlen)
{
    const tc_shape *s = &p->s;
    memset(c, 0, sizeof *c);
    ver->blocks((int)s->d, causal, s->N, &c->Br, &c->Bc);
    if (!c->Br) {
        snprintf(err, errlen, "%s: no blocks for d = %zu", ver->name, s->d);
        return FL_EXIT_USAGE;
    }
    CUDA_TRY(cudaMemset(p->dcount, 0, TC_NCOUNT * sizeof(unsigned long long)));
    int rc = launch(p, causal, ver, true, err, errlen);
    if (rc)
        return rc;
    unsigned long long k[TC_NCOUNT];
    CUDA_TRY(cudaMemcpy(k, p->dcount, sizeof k, cudaMemcpyDeviceToHost));
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

struct timed {
    const tc_problem *p;
    bool causal;
    const tc_version *ver;
};
static int launch_timed(void *ctx, char *err, size_t errlen)
{
    const struct timed *t = ctx;
    return launch(t->p, t->causal, t->ver, false, err, errlen);
}

int fwd_time_ms(const tc_problem *p, bool causal, const tc_version *ver, int warmup, int reps, double *ms, char *err,
                size_t errlen)
{
    struct timed t = {p, causal, ver};
    return gpu_time_ms(launch_timed, &t, warmup, reps, ms, err, errlen);
}

double tc_flops(const tc_shape *s, bool causal)
{
    double f = 4.0 * (double)s->B * (double)s->H * (double)s->N * (double)s->N * (double)s->d;
    return causal ? f / 2 : f;
}

void fwd_print_check(const char *name, const tc_shape *s, bool causal, const tc_result *r)
{
    printf("%-13s d=%-3zu %s %-6s B=%zu N=%-5zu H=%-2zu rows=%-5zu errO %.2e (2x ref %.2e) errL %.1e "
           "unwritten %zu  %s\n",
           name, s->d, dtype_name(s->dt), causal ? "causal" : "full", s->B, s->N, s->H, r->rows, r->err_o,
           ORACLE_TRIDAO_FACTOR * r->ref_err_o, r->err_l, r->unwritten, r->ok ? "OK" : "FAIL");
    fflush(stdout);
}

void fwd_print_counts(const char *name, const tc_shape *s, bool causal, const tc_counts *c)
{
    printf("%-13s counters d=%-3zu %-6s B=%zu N=%-5zu H=%zu Br=%d Bc=%d  kernel/sim/closed:", name, s->d,
           causal ? "causal" : "full", s->B, s->N, s->H, c->Br, c->Bc);
    for (int i = 0; i < TC_NCOUNT; i++)
        printf(" %s %llu/%llu/%llu", tc_count_name(i), (unsigned long long)c->kern[i], (unsigned long long)c->sim[i],
               (unsigned long long)c->closed[i]);
    printf("  %s\n", c->ok ? "OK" : "FAIL");
}
