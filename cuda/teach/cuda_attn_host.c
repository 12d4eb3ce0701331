/* cuda_attn_host.c — the half of the CUDA runner that needs no GPU (see cuda_attn.h): kernel plans and shared-memory
 * layouts from the simulator's SRAM plans, the simulator's ledger in count-only mode, the inputs, and checks against
 * the double-precision reference. Plain C11, so CI tests it on machines without a GPU.
 */
#include "cuda_attn.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "ref_rows.h"
#include "reference.h"
#include "rng.h"
#include "util.h"
#include "verify.h"

static const char *const tensor_names[CT_NTENSORS] = {"Q", "K", "V", "O", "S", "P", "L", "m", "l",
                                                      "dO", "dQ", "dK", "dV", "dP", "dS", "D"};

const char *cuda_tensor_name(int t) { return t >= 0 && t < CT_NTENSORS ? tensor_names[t] : "?"; }

static int tensor_index(const char *name)
{
    for (int t = 0; t < CT_NTENSORS; t++)
        if (!strcmp(tensor_names[t], name))
            return t;
    return -1;
}

/* ---- the simulator's ledger ---------------------------------------------------------------------------------- */

int cuda_counts_from_ledger(const mem_t *m, cuda_counts *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    for (size_t x = 0; x < mem_ntensors(m); x++) {
        const char *name = mem_tensor_name(m, x);
        io_count c = mem_io(m, name, NULL);
        int k = tensor_index(name);
        if (k < 0 && (c.rd_elems || c.wr_elems)) {
            snprintf(err, errlen, "internal: the simulator counts traffic of tensor '%s', which the CUDA kernels do "
                     "not count", name);
            return FL_EXIT_INTERNAL;
        }
        if (k >= 0) {
            out->rd[k] = c.rd_elems;
            out->wr[k] = c.wr_elems;
        }
    }
    return 0;
}

static int sim_counts(const attn_params *p, size_t M_bytes, bool backward, cuda_counts *out, char *err,
                      size_t errlen)
{
    mem_t *m = mem_create(M_bytes, true);
    attn_tensors t = attn_alloc(m, p, DTYPE_FP32, backward);
    attn_forward(m, p, &t);
    if (backward) {
        mem_ledger_reset(m);
        attn_backward(m, p, &t);
    }
    int rc = cuda_counts_from_ledger(m, out, err, errlen);
    attn_free(m, &t);
    mem_destroy(m);
    return rc;
}

int cuda_sim_counts(const attn_params *p, size_t M_bytes, cuda_counts *out, char *err, size_t errlen)
{
    return sim_counts(p, M_bytes, false, out, err, errlen);
}

int cuda_sim_counts_backward(const attn_params *p, size_t M_bytes, cuda_counts *out, char *err, size_t errlen)
{
    return sim_counts(p, M_bytes, true, out, err, errlen);
}

bool cuda_counts_equal(const cuda_counts *a, const cuda_counts *b)
{
    for (int t = 0; t < CT_NTENSORS; t++)
        if (a->rd[t] != b->rd[t] || a->wr[t] != b->wr[t])
            return false;
    return true;
}

/* ---- plans ---------------------------------------------------------------------------------------------------- */

long cuda_plan_offset(const cuda_kernel_plan *kp, const char *name)
{
    for (size_t k = 0; k < kp->plan.n; k++)
        if (!strcmp(kp->plan.buf[k].name, name))
            return (long)kp->off[k];
    return -1;
}

int cuda_bind_smem(const cuda_kernel_plan *kp, const char *const *names, int n, unsigned *off, char *err,
                   size_t errlen)
{
    if ((int)kp->plan.n != n) {
        snprintf(err, errlen, "internal: %s uses %d shared-memory buffers but the simulator's plan lists %zu",
                 kp->name, n, kp->plan.n);
        return FL_EXIT_INTERNAL;
    }
    for (int k = 0; k < n; k++) {
        long o = cuda_plan_offset(kp, names[k]);
        if (o < 0) {
            snprintf(err, errlen, "internal: %s needs a buffer '%s' that the simulator's plan does not list",
                     kp->name, names[k]);
            return FL_EXIT_INTERNAL;
        }
        off[k] = (unsigned)o;
    }
    return 0;
}

/* One kernel: the plan's buffers back to back, in the plan's order (every element is 4 bytes: fp32). */
static void kernel_plan(cuda_kernel_plan *kp, const char *name, const sram_plan *plan, size_t static_bytes,
                        uint64_t blocks)
{
    kp->name = name;
    kp->plan = *plan;
    size_t off = 0;
    for (size_t k = 0; k < plan->n; k++) {
        kp->off[k] = off;
        off += plan->buf[k].elems * dtype_size(plan->buf[k].dt);
    }
    kp->dyn_bytes = plan->bytes;
    kp->static_bytes = static_bytes;
    kp->blocks = blocks;
    kp->threads = CUDA_ATTN_THREADS;
}

/* Every kernel's shared memory within smem_limit and its grid within a grid's limit: 0, or -1 with err. */
static int kernels_fit(const cuda_kernel_plan *k, int n, const attn_params *p, size_t smem_limit, char *err,
                       size_t errlen)
{
    for (int x = 0; x < n; x++) {
        const cuda_kernel_plan *kp = &k[x];
        if (kp->dyn_bytes > smem_limit || kp->static_bytes > smem_limit - kp->dyn_bytes) {
            snprintf(err, errlen, "%s with Br=%zu, Bc=%zu, d=%zu needs %zu bytes of shared memory per block, the "
                     "device allows %zu", kp->name, p->Br, p->Bc, p->d, kp->dyn_bytes + kp->static_bytes,
                     smem_limit);
            return -1;
        }
        if (kp->blocks > INT_MAX) {
            snprintf(err, errlen, "%s would need %llu thread blocks, more than a grid holds (2^31 - 1)", kp->name,
                     (unsigned long long)kp->blocks);
            return -1;
        }
    }
    return 0;
}

int cuda_attn_plan_make(const attn_params *p, size_t smem_limit, cuda_attn_plan *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t n;
    if ((unsigned)p->algo >= ATTN_NALGOS) {
        snprintf(err, errlen, "unknown attention algorithm %d", (int)p->algo);
        return -1;
    }
    if (!p->B || !p->N || !p->H || !p->d || !size_mul4_ok(p->B, p->N, p->H, p->d, &n)) {
        snprintf(err, errlen, "shape B=%zu N=%zu H=%zu d=%zu: every size must be at least 1 and B*N*H*d must fit "
                 "in 64 bits", p->B, p->N, p->H, p->d);
        return -1;
    }
    if (!p->Br || !p->Bc || p->Br > p->N || p->Bc > p->N) {
        snprintf(err, errlen, "blocks Br=%zu, Bc=%zu must lie in 1..N (N=%zu); attn_choose_blocks sets them", p->Br,
                 p->Bc, p->N);
        return -1;
    }
    /* The kernels index within a head and a tile with int; offsets into whole tensors are 64-bit. */
    if (p->N > INT_MAX || p->d > INT_MAX / 4 || p->H > INT_MAX || p->B > INT_MAX ||
        (uint64_t)p->H * p->d > INT_MAX) {
        snprintf(err, errlen, "shape B=%zu N=%zu H=%zu d=%zu is too large for the teaching kernels' int indices",
                 p->B, p->N, p->H, p->d);
        return -1;
    }
    if (p->algo == ATTN_STANDARD && !size_mul4_ok(p->B, p->H, p->N, p->N, &n)) {
        snprintf(err, errlen, "standard attention with B=%zu H=%zu N=%zu: B*H*N*N overflows 64 bits", p->B, p->H,
                 p->N);
        return -1;
    }

    const uint64_t BH = (uint64_t)p->B * p->H, Tr = ceil_div(p->N, p->Br);
    sram_plan plan;
    out->p = *p;
    switch (p->algo) {
    case ATTN_STANDARD: {
        static const char *const names[ATTN_STANDARD_PHASES] = {"v01_scores", "v01_softmax", "v01_pv"};
        const uint64_t blocks[ATTN_STANDARD_PHASES] = {BH * Tr, BH * p->N, BH * Tr};
        out->nkernels = ATTN_STANDARD_PHASES;
        for (int ph = 0; ph < ATTN_STANDARD_PHASES; ph++) {
            attn_standard_plan(ph, p->Br, p->Bc, p->d, DTYPE_FP32, &plan);
            kernel_plan(&out->k[ph], names[ph], &plan, ph == 1 ? 8 * sizeof(float) : 0, blocks[ph]);
        }
        break;
    }
    case ATTN_FLASH1:
        out->nkernels = 1;
        attn_sram_plan(ATTN_FLASH1, false, p->Br, p->Bc, p->d, DTYPE_FP32, &plan);
        kernel_plan(&out->k[0], "v02_flash1", &plan, 0, BH);
        break;
    case ATTN_FLASH2:
        out->nkernels = 1;
        attn_sram_plan(ATTN_FLASH2, false, p->Br, p->Bc, p->d, DTYPE_FP32, &plan);
        kernel_plan(&out->k[0], "v03_flash2", &plan, 0, BH * Tr);
        break;
    default:
        snprintf(err, errlen, "%s has no teaching kernel (standard, flash1, flash2 have)", attn_algo_name(p->algo));
        return -1;
    }
    return kernels_fit(out->k, out->nkernels, p, smem_limit, err, errlen);
}

/* ---- the backward's plans ------------------------------------------------------------------------------------- *
 * One kernel per sweep of the simulator's backward (attn_sweep_plans), laid out from the same fp32 plans. */
int cuda_attn_plan_make_backward(const attn_params *p, size_t smem_limit, cuda_attn_plan *out, char *err,
                                 size_t errlen)
{
    if (p->algo != ATTN_STANDARD && p->algo != ATTN_FLASH2) {
        snprintf(err, errlen, "%s has no teaching backward kernel (standard and flash2 have)", attn_algo_name(p->algo));
        return -1;
    }
    int rc = cuda_attn_plan_make(p, smem_limit, out, err, errlen);
    if (rc)
        return rc;
    const size_t Br = p->Br, Bc = p->Bc, d = p->d;
    const uint64_t BH = (uint64_t)p->B * p->H, Tr = ceil_div(p->N, p->Br), Tc = ceil_div(p->N, p->Bc);
    sram_plan pl[ATTN_MAX_SWEEPS];
    size_t n = attn_sweep_plans(p->algo, true, Br, Bc, d, DTYPE_FP32, pl);
    if (p->algo == ATTN_STANDARD) {   /* Alg.3 lines 1-5, each its own kernel */
        static const char *const names[5] = {"v01_bwd_dv", "v01_bwd_dp", "v01_bwd_ds", "v01_bwd_dq", "v01_bwd_dk"};
        const uint64_t blocks[5] = {BH * Tc, BH * Tr, BH * Tr, BH * Tr, BH * Tc};
        if (n != 5)
            fl_internal("standard's backward has %zu sweeps, its kernels 5", n);
        out->nbwd = 5;
        for (int k = 0; k < 5; k++)
            kernel_plan(&out->kb[k], names[k], &pl[k], 0, blocks[k]);
    } else {                          /* FA2 Alg.2 lines 3-4, then lines 5-18 one block per head */
        if (n != 2)
            fl_internal("flash2's backward has %zu sweeps, its kernels 2", n);
        out->nbwd = 2;
        kernel_plan(&out->kb[0], "v03_bwd_d", &pl[0], 0, BH * Tr);
        kernel_plan(&out->kb[1], "v03_bwd", &pl[1], 0, BH);
    }
    return kernels_fit(out->kb, out->nbwd, p, smem_limit, err, errlen);
}

/* ---- inputs and checks --------------------------------------------------------------------------------------- */

void cuda_attn_inputs_dout(const attn_params *p, uint64_t seed, float *q, float *k, float *v, float *dout)
{
    size_t n = p->B * p->N * p->H * p->d;
    rng_t r;
    rng_seed(&r, seed);
    rng_fill_normal(&r, q, n, 1.0f);
    rng_fill_normal(&r, k, n, 1.0f);
    rng_fill_normal(&r, v, n, 1.0f);
    if (dout)
        rng_fill_normal(&r, dout, n, 1.0f);
}

void cuda_attn_inputs(const attn_params *p, uint64_t seed, float *q, float *k, float *v)
{
    cuda_attn_inputs_dout(p, seed, q, k, v, NULL);
}

/* The x-th of n picks spread over 0 .. total-1, first and last included. */
static size_t spread(size_t x, size_t n, size_t total) { return n <= 1 ? 0 : (size_t)((double)x * (total - 1) / (n - 1) + 0.5); }

void cuda_attn_check(const attn_params *p, const float *q, const float *k, const float *v, const float *out,
                     const float *lse, size_t max_heads, size_t max_rows, cuda_check_stats *st)
{
    const size_t B = p->B, N = p->N, H = p->H, d = p->d, BH = B * H;
    const double scale = p->scale ? p->scale : 1.0 / sqrt((double)d);
    size_t nh = max_heads && max_heads < BH ? max_heads : BH, nr = max_rows && max_rows < N ? max_rows : N;
    const ref_input in = {q, k, v, B, N, H, d, scale, p->causal};
    double *Q = xmalloc(N * d * sizeof *Q), *K = xmalloc(N * d * sizeof *K), *V = xmalloc(N * d * sizeof *V);
    double *Oref = xmalloc(N * d * sizeof *Oref), *Lref = xmalloc(N * sizeof *Lref), *pr = xmalloc(N * sizeof *pr);
    float *got = xmalloc(d * sizeof *got);
    memset(st, 0, sizeof *st);

    for (size_t x = 0; x < nh; x++) {
        size_t bh = spread(x, nh, BH), b = bh / H, h = bh % H;
        if (nr == N) {   /* every row: the reference itself */
            ref_head_get(q, B, N, H, d, b, h, Q);
            ref_head_get(k, B, N, H, d, b, h, K);
            ref_head_get(v, B, N, H, d, b, h, V);
            ref_attention(Q, K, V, N, d, scale, p->causal, Oref, Lref);
        }
        for (size_t y = 0; y < nr; y++) {
            size_t row = nr == N ? y : spread(y, nr, N);
            if (nr != N)
                Lref[row] = ref_row64(&in, b, h, row, pr, Oref + row * d);
            for (size_t c = 0; c < d; c++)
                got[c] = out[((b * N + row) * H + h) * d + c];
            verify_stats vs;
            verify_close(Oref + row * d, got, d, CUDA_ATOL, CUDA_RTOL, "O", &vs, NULL);
            st->bad += vs.bad;
            st->max_abs_O = fmax(st->max_abs_O, vs.max_abs);
            if (lse) {
                got[0] = lse[bh * N + row];
                verify_close(Lref + row, got, 1, CUDA_ATOL, CUDA_RTOL, "L", &vs, NULL);
                st->bad += vs.bad;
                st->max_abs_L = fmax(st->max_abs_L, vs.max_abs);
            }
            st->rows++;
        }
    }
    st->ok = st->bad == 0;
    free(Q), free(K), free(V), free(Oref), free(Lref), free(pr), free(got);
}

/* ---- gradients -------------------------------------------------------------------------------------------------- */

static double scale_of(const attn_params *p) { return p->scale ? p->scale : 1.0 / sqrt((double)p->d); }

void cuda_attn_check_grads(const attn_params *p, const float *q, const float *k, const float *v, const float *dout,
                           float *const grads[3], size_t max_heads, cuda_grad_stats *st)
{
    static const char *const names[3] = {"dQ", "dK", "dV"};
    const size_t B = p->B, N = p->N, H = p->H, d = p->d, BH = B * H, nd = N * d;
    const size_t nh = max_heads && max_heads < BH ? max_heads : BH;
    double worst[3] = {0, 0, 0};
    size_t bad = 0;
    /* heads in parallel: each is a full fp64 backward (~10 N^2 d flops) */
#pragma omp parallel for schedule(dynamic) reduction(+ : bad) reduction(max : worst[:3])
    for (size_t x = 0; x < nh; x++) {
        size_t bh = spread(x, nh, BH), b = bh / H, h = bh % H;
        double *in = xmalloc(4 * nd * sizeof *in), *ref = xmalloc(3 * nd * sizeof *ref);
        float *got = xmalloc(nd * sizeof *got);
        const float *src[4] = {q, k, v, dout};
        for (int t = 0; t < 4; t++)
            ref_head_get(src[t], B, N, H, d, b, h, in + t * nd);
        ref_attention_backward(in, in + nd, in + 2 * nd, in + 3 * nd, N, d, scale_of(p), p->causal, ref, ref + nd,
                               ref + 2 * nd);
        for (int g = 0; g < 3; g++) {
            for (size_t r = 0; r < N; r++)
                memcpy(got + r * d, grads[g] + ((b * N + r) * H + h) * d, d * sizeof *got);
            verify_stats vs;
            verify_close(ref + g * nd, got, nd, CUDA_GRAD_ATOL, CUDA_GRAD_RTOL, names[g], &vs, NULL);
            bad += vs.bad;
            worst[g] = worst[g] > vs.max_abs ? worst[g] : vs.max_abs;   /* inf on NaN: fmax would keep it too */
        }
        free(in), free(ref), free(got);
    }
    memset(st, 0, sizeof *st);
    for (int g = 0; g < 3; g++)
        st->max_abs[g] = worst[g];
    st->heads = nh;
    st->bad = bad;
    st->ok = bad == 0;
}

/* sum(O o dO) of head (0, 0) through the fp64 forward. */
static double loss64(const double *in, size_t N, size_t d, double scale, bool causal, double *O)
{
    ref_attention(in, in + N * d, in + 2 * N * d, N, d, scale, causal, O, NULL);
    double s = 0;
    for (size_t e = 0; e < N * d; e++)
        s += O[e] * in[3 * N * d + e];
    return s;
}

double cuda_attn_fd_err(const attn_params *p, const float *q, const float *k, const float *v, const float *dout,
                        float *const grads[3])
{
    const size_t N = p->N, d = p->d, nd = N * d;
    double *in = xmalloc(4 * nd * sizeof *in), *O = xmalloc(nd * sizeof *O), *got = xmalloc(nd * sizeof *got);
    const float *src[4] = {q, k, v, dout};
    for (int t = 0; t < 4; t++)
        ref_head_get(src[t], p->B, N, p->H, d, 0, 0, in + t * nd);
    double worst = 0;
    for (int g = 0; g < 3; g++) {
        ref_head_get(grads[g], p->B, N, p->H, d, 0, 0, got);
        for (size_t e = 0; e < nd; e++) {
            double *x = in + g * nd + e, x0 = *x;
            *x = x0 + CUDA_FD_STEP;
            double up = loss64(in, N, d, scale_of(p), p->causal, O);
            *x = x0 - CUDA_FD_STEP;
            double down = loss64(in, N, d, scale_of(p), p->causal, O);
            *x = x0;
            double err = fabs((up - down) / (2 * CUDA_FD_STEP) - got[e]);
            worst = isnan(err) || isnan(worst) ? NAN : fmax(worst, err);
        }
    }
    free(in), free(O), free(got);
    return worst;
}
