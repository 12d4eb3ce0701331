/* attn_backward.c — the backward passes: standard attention (FlashAttention paper, Algorithm 3), FlashAttention
 * (Algorithm 4, without dropout) and FlashAttention-2 (FlashAttention-2 paper, Algorithm 2); their SRAM plans and
 * their closed-form ledgers.
 *
 * All three compute the gradients of a loss through O = softmax(S) V, S = scale * Q K^T:
 *   dV = P^T dO,  dP = dO V^T,  D_i = sum_j P_ij dP_ij = rowsum(dO o O)_i,  dS = P o (dP - D),
 *   dQ = scale * dS K,  dK = scale * dS^T Q.
 * Standard attention reads the P its forward pass wrote and sends dP and dS (N x N per head) through HBM.
 * FlashAttention recomputes P tile by tile from Q, K and the statistics its forward saved (m and l, or L), so
 * nothing N x N ever reaches HBM; the price is dQ, accumulated across key blocks by read-modify-write in HBM.
 *
 * Counting conventions: FLOPs are 2 per multiply-add of a matmul or row dot product (elementwise ops are free,
 * exp() calls are counted on their own), as the papers count them. Arithmetic is float on SRAM tiles; stores round
 * to the tensor's dtype, so in fp16/bf16 dQ is rounded once per read-modify-write (real FlashAttention-2 keeps an
 * fp32 dQ accumulator in HBM instead; ours stays in the storage dtype, which costs precision, not traffic shape).
 *
 * Heads run in parallel (OpenMP over (b, h) only): each head's dQ is accumulated across its key blocks j, so
 * running j in parallel would race on dQi; FlashAttention-2's CUDA code does exactly that with atomicAdd.
 */
#include <math.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "attn_internal.h"
#include "util.h"

/* ---- small helpers --------------------------------------------------------------------------------------------- */

/* Causal block skipping, exactly as the forward passes do it: tile (i, j) is fully masked when its first key
 * j*Bc comes after its last query min((i+1)*Br, N) - 1. */
static bool tile_masked(const attn_params *p, size_t i, size_t j)
{
    return p->causal && j * p->Bc > min_size((i + 1) * p->Br, p->N) - 1;
}

/* C (m x n) = A (m x k) B^T, B stored n x k: Sij = Qi Kj^T, dPij = dOi Vj^T. */
static void mm_abt(float *C, const float *A, const float *B, size_t m, size_t n, size_t k)
{
    for (size_t r = 0; r < m; r++)
        for (size_t c = 0; c < n; c++) {
            float s = 0;
            for (size_t x = 0; x < k; x++)
                s += A[r * k + x] * B[c * k + x];
            C[r * n + c] = s;
        }
}

/* C (n x k) += alpha * A^T B, A stored m x n, B stored m x k: dVj += Pij^T dOi, dKj += scale dSij^T Qi. */
static void mm_atb_acc(float *C, const float *A, const float *B, size_t m, size_t n, size_t k, float alpha)
{
    for (size_t c = 0; c < n; c++)
        for (size_t x = 0; x < k; x++) {
            float s = 0;
            for (size_t r = 0; r < m; r++)
                s += A[r * n + c] * B[r * k + x];
            C[c * k + x] += alpha * s;
        }
}

/* C (m x k) += alpha * A B, A stored m x n, B stored n x k: dQi += scale dSij Kj. */
static void mm_ab_acc(float *C, const float *A, const float *B, size_t m, size_t n, size_t k, float alpha)
{
    for (size_t r = 0; r < m; r++)
        for (size_t x = 0; x < k; x++) {
            float s = 0;
            for (size_t c = 0; c < n; c++)
                s += A[r * n + c] * B[c * k + x];
            C[r * k + x] += alpha * s;
        }
}

/* Di = rowsum(dOi o Oi) over rows x d. */
static void rowdot(float *Di, const float *dOi, const float *Oi, size_t rows, size_t d)
{
    for (size_t r = 0; r < rows; r++) {
        float s = 0;
        for (size_t x = 0; x < d; x++)
            s += dOi[r * d + x] * Oi[r * d + x];
        Di[r] = s;
    }
}

/* dSij = Pij o (dPij - Di), in place over dPij. */
static void dsoftmax(float *dSij, const float *Pij, const float *Di, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            dSij[r * cols + c] = Pij[r * cols + c] * (dSij[r * cols + c] - Di[r]);
}

static uint64_t u64(size_t x) { return (uint64_t)x; }

/* Run fn on every head (b, h): in parallel over heads with one forked memory model per thread, or in program
 * order on m itself when a trace is listening or one thread was asked for. Each head is done by one thread in
 * one order, so outputs are bitwise the same for any thread count, and joined counts are exact sums. */
typedef struct bwd_ctx bwd_ctx;
typedef void (*head_fn)(mem_t *m, const bwd_ctx *c, size_t b, size_t h);

struct bwd_ctx {
    const attn_params *p;
    attn_tensors *t;
    hbm_tensor *dP, *dS, *D;     /* standard's dP, dS (B, H, N, N); flash2's D (B, H, N) */
    dtype_t dt;                  /* storage dtype of q, k, v, out and the gradients */
    float scale;
    size_t Tr, Tc;
};

static void for_each_head(mem_t *m, const bwd_ctx *c, head_fn fn)
{
    const attn_params *p = c->p;
    size_t BH = p->B * p->H;
    int nt = 1;
#ifdef _OPENMP
    nt = p->threads > 0 ? p->threads : omp_get_max_threads();
#endif
    if (mem_observed(m) || nt <= 1 || BH == 1) {
        for (size_t bh = 0; bh < BH; bh++)
            fn(m, c, bh / p->H, bh % p->H);
        return;
    }
    if ((size_t)nt > BH)
        nt = (int)BH;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
    {
        mem_t *w = mem_fork(m);
#pragma omp for schedule(static)
        for (long bh = 0; bh < (long)BH; bh++)
            fn(w, c, (size_t)bh / p->H, (size_t)bh % p->H);
#pragma omp critical(flashlab_bwd_join)
        mem_join(m, w);
    }
#endif
}

static bwd_ctx ctx_make(const attn_params *p, attn_tensors *t, const char *algo)
{
    if (!t->q || !t->k || !t->v || !t->out || !t->dout || !t->dq || !t->dk || !t->dv)
        fl_fatal("internal: %s backward needs q, k, v, out, dout, dq, dk, dv allocated (attn_alloc with backward)",
                 algo);
    if (!p->Br || !p->Bc || !p->B || !p->H || !p->N || !p->d)
        fl_fatal("internal: %s backward called with a zero size (B, H, N, d, Br or Bc)", algo);
    return (bwd_ctx){.p = p, .t = t, .dt = hbm_dtype(t->q), .scale = attn_scale(p),
                     .Tr = ceil_div(p->N, p->Br), .Tc = ceil_div(p->N, p->Bc)};
}

/* ---- SRAM plans ---------------------------------------------------------------------------------------------- */

static void plan_add(sram_plan *pl, const char *name, size_t elems, dtype_t dt)
{
    if (pl->n == sizeof pl->buf / sizeof pl->buf[0])
        fl_fatal("internal: SRAM plan with more than %zu buffers", sizeof pl->buf / sizeof pl->buf[0]);
    pl->buf[pl->n++] = (sram_buf_spec){name, elems, dt};
    pl->bytes += elems * dtype_size(dt);
}

/* Standard attention's five lines are five separate passes, each with its own buffers; tiles loaded from HBM
 * keep the storage dtype, tiles computed on chip and the accumulators are fp32. */
enum { STD_DV = 1, STD_DP, STD_DS, STD_DQ, STD_DK };
static void std_line_plan(int line, size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *pl)
{
    *pl = (sram_plan){.n = 0};
    switch (line) {
    case STD_DV: plan_add(pl, "dVj", Bc * d, DTYPE_FP32); plan_add(pl, "Pij", Br * Bc, dt);
                 plan_add(pl, "dOi", Br * d, dt); break;
    case STD_DP: plan_add(pl, "dOi", Br * d, dt); plan_add(pl, "Vj", Bc * d, dt);
                 plan_add(pl, "dPij", Br * Bc, DTYPE_FP32); break;
    case STD_DS: plan_add(pl, "Di", Br, DTYPE_FP32); plan_add(pl, "Pij", Br * Bc, dt);
                 plan_add(pl, "dPij", Br * Bc, dt); plan_add(pl, "dSij", Br * Bc, DTYPE_FP32); break;
    case STD_DQ: plan_add(pl, "dQi", Br * d, DTYPE_FP32); plan_add(pl, "dSij", Br * Bc, dt);
                 plan_add(pl, "Kj", Bc * d, dt); break;
    default:     plan_add(pl, "dKj", Bc * d, DTYPE_FP32); plan_add(pl, "dSij", Br * Bc, dt);
                 plan_add(pl, "Qi", Br * d, dt); break;
    }
}

void attn_backward_plan(attn_algo a, size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out)
{
    *out = (sram_plan){.n = 0};
    switch (a) {
    case ATTN_STANDARD:   /* the peak is the hungriest of the five passes (the first of equals) */
        for (int line = STD_DV; line <= STD_DK; line++) {
            sram_plan pl;
            std_line_plan(line, Br, Bc, d, dt, &pl);
            if (pl.bytes > out->bytes)
                *out = pl;
        }
        return;
    case ATTN_FLASH1:     /* Alg.4: lines 7-8 (Kj, Vj, dKj~, dVj~), line 10 (Qi, Oi, dOi, dQi, li, mi), 11-20 */
        plan_add(out, "Kj", Bc * d, dt);
        plan_add(out, "Vj", Bc * d, dt);
        plan_add(out, "dKj", Bc * d, DTYPE_FP32);
        plan_add(out, "dVj", Bc * d, DTYPE_FP32);
        plan_add(out, "Qi", Br * d, dt);
        plan_add(out, "Oi", Br * d, dt);
        plan_add(out, "dOi", Br * d, dt);
        plan_add(out, "dQi", Br * d, dt);
        plan_add(out, "li", Br, DTYPE_FP32);
        plan_add(out, "mi", Br, DTYPE_FP32);
        plan_add(out, "Sij", Br * Bc, DTYPE_FP32);    /* Sij, then Pij in place */
        plan_add(out, "dPij", Br * Bc, DTYPE_FP32);   /* dPij, then dSij in place */
        plan_add(out, "Di", Br, DTYPE_FP32);
        return;
    case ATTN_FLASH2:     /* FA2 Alg.2: lines 6-7, line 9 (Qi, dOi, Li, Di), line 15 (dQi), lines 10-14 */
        plan_add(out, "Kj", Bc * d, dt);
        plan_add(out, "Vj", Bc * d, dt);
        plan_add(out, "dKj", Bc * d, DTYPE_FP32);
        plan_add(out, "dVj", Bc * d, DTYPE_FP32);
        plan_add(out, "Qi", Br * d, dt);
        plan_add(out, "dOi", Br * d, dt);
        plan_add(out, "dQi", Br * d, dt);
        plan_add(out, "Li", Br, DTYPE_FP32);
        plan_add(out, "Di", Br, DTYPE_FP32);
        plan_add(out, "Sij", Br * Bc, DTYPE_FP32);
        plan_add(out, "dPij", Br * Bc, DTYPE_FP32);
        return;
    default:
        fl_fatal("internal: no backward plan for algorithm %d", (int)a);
    }
}

/* ---- standard attention backward: FlashAttention paper, Algorithm 3 ----------------------------------------------
 * Every line is its own pass over tiles of Br query rows x Bc key rows; everything N x N goes through HBM. */

/* The ledger's phases, one per line of Alg.3 (the forward's are "S", "softmax", "PV"). */
#define PH_DV "dV"
#define PH_DP "dP"
#define PH_DS "dS"
#define PH_DQ "dQ"
#define PH_DK "dK"

/* Alg.3 line 1: load P, dO by blocks, compute dV = P^T dO, write dV. */
static void std_line1(mem_t *m, const bwd_ctx *c, size_t b, size_t h)
{
    const attn_params *p = c->p;
    size_t N = p->N, d = p->d, Br = p->Br, Bc = p->Bc;
    bool real = !mem_count_only(m);
    hbm_mat P = hbm_head(c->t->P, b, h), dO = hbm_head(c->t->dout, b, h), dV = hbm_head(c->t->dv, b, h);
    float *dVj = sram_alloc(m, Bc * d, DTYPE_FP32, "dVj");
    float *Pij = sram_alloc(m, Br * Bc, c->dt, "Pij");
    float *dOi = sram_alloc(m, Br * d, c->dt, "dOi");
    for (size_t j = 0; j < c->Tc; j++) {
        size_t c0 = j * Bc, nc = min_size(Bc, N - c0);
        if (real)
            memset(dVj, 0, Bc * d * sizeof *dVj);
        for (size_t i = 0; i < c->Tr; i++) {
            size_t r0 = i * Br, nr = min_size(Br, N - r0);
            mem_step(m, (long)i, (long)j, "dVj += Pij^T dOi");
            hbm_load_tile(m, Pij, P, r0, nr, c0, nc, "Pij");
            hbm_load_rows(m, dOi, dO, r0, nr, "dOi");
            if (real)
                mm_atb_acc(dVj, Pij, dOi, nr, nc, d, 1.0f);
            mem_compute(m, "dVj += Pij^T dOi", 2 * u64(nr) * nc * d, 0);
        }
        hbm_store_rows(m, dV, c0, nc, dVj, "dVj");
    }
    sram_free(m, dOi);
    sram_free(m, Pij);
    sram_free(m, dVj);
}

/* Alg.3 line 2: load dO, V by blocks, compute dP = dO V^T, write dP. */
static void std_line2(mem_t *m, const bwd_ctx *c, size_t b, size_t h)
{
    const attn_params *p = c->p;
    size_t N = p->N, d = p->d, Br = p->Br, Bc = p->Bc;
    bool real = !mem_count_only(m);
    hbm_mat dO = hbm_head(c->t->dout, b, h), V = hbm_head(c->t->v, b, h), dP = hbm_head(c->dP, b, h);
    float *dOi = sram_alloc(m, Br * d, c->dt, "dOi");
    float *Vj = sram_alloc(m, Bc * d, c->dt, "Vj");
    float *dPij = sram_alloc(m, Br * Bc, DTYPE_FP32, "dPij");
    for (size_t i = 0; i < c->Tr; i++) {
        size_t r0 = i * Br, nr = min_size(Br, N - r0);
        hbm_load_rows(m, dOi, dO, r0, nr, "dOi");
        for (size_t j = 0; j < c->Tc; j++) {
            size_t c0 = j * Bc, nc = min_size(Bc, N - c0);
            mem_step(m, (long)i, (long)j, "dPij = dOi Vj^T");
            hbm_load_rows(m, Vj, V, c0, nc, "Vj");
            if (real)
                mm_abt(dPij, dOi, Vj, nr, nc, d);
            mem_compute(m, "dPij = dOi Vj^T", 2 * u64(nr) * nc * d, 0);
            hbm_store_tile(m, dP, r0, nr, c0, nc, dPij, "dPij");
        }
    }
    sram_free(m, dPij);
    sram_free(m, Vj);
    sram_free(m, dOi);
}

/* Alg.3 line 3: read P, dP, compute dS_ij = P_ij (dP_ij - sum_l P_il dP_il), write dS. A row of P does not fit in
 * SRAM in general, so each block of rows takes two passes: the row sums D_i first, then dS. */
static void std_line3(mem_t *m, const bwd_ctx *c, size_t b, size_t h)
{
    const attn_params *p = c->p;
    size_t N = p->N, Br = p->Br, Bc = p->Bc;
    bool real = !mem_count_only(m);
    hbm_mat P = hbm_head(c->t->P, b, h), dP = hbm_head(c->dP, b, h), dS = hbm_head(c->dS, b, h);
    float *Di = sram_alloc(m, Br, DTYPE_FP32, "Di");
    float *Pij = sram_alloc(m, Br * Bc, c->dt, "Pij");
    float *dPij = sram_alloc(m, Br * Bc, c->dt, "dPij");
    float *dSij = sram_alloc(m, Br * Bc, DTYPE_FP32, "dSij");
    for (size_t i = 0; i < c->Tr; i++) {
        size_t r0 = i * Br, nr = min_size(Br, N - r0);
        if (real)
            memset(Di, 0, Br * sizeof *Di);
        for (size_t j = 0; j < c->Tc; j++) {          /* pass 1: D_i = sum_j P_ij dP_ij */
            size_t c0 = j * Bc, nc = min_size(Bc, N - c0);
            mem_step(m, (long)i, (long)j, "Di += rowsum(Pij o dPij)");
            hbm_load_tile(m, Pij, P, r0, nr, c0, nc, "Pij");
            hbm_load_tile(m, dPij, dP, r0, nr, c0, nc, "dPij");
            if (real)
                for (size_t r = 0; r < nr; r++)
                    for (size_t x = 0; x < nc; x++)
                        Di[r] += Pij[r * nc + x] * dPij[r * nc + x];
            mem_compute(m, "Di += rowsum(Pij o dPij)", 2 * u64(nr) * nc, 0);
        }
        for (size_t j = 0; j < c->Tc; j++) {          /* pass 2: dS_ij = P_ij o (dP_ij - D_i) */
            size_t c0 = j * Bc, nc = min_size(Bc, N - c0);
            mem_step(m, (long)i, (long)j, "dSij = Pij o (dPij - Di)");
            hbm_load_tile(m, Pij, P, r0, nr, c0, nc, "Pij");
            hbm_load_tile(m, dPij, dP, r0, nr, c0, nc, "dPij");
            if (real) {
                memcpy(dSij, dPij, nr * nc * sizeof *dSij);
                dsoftmax(dSij, Pij, Di, nr, nc);
            }
            mem_compute(m, "dSij = Pij o (dPij - Di)", 0, 0);
            hbm_store_tile(m, dS, r0, nr, c0, nc, dSij, "dSij");
        }
    }
    sram_free(m, dSij);
    sram_free(m, dPij);
    sram_free(m, Pij);
    sram_free(m, Di);
}

/* Alg.3 line 4: load dS and K by blocks, compute dQ = scale * dS K, write dQ. */
static void std_line4(mem_t *m, const bwd_ctx *c, size_t b, size_t h)
{
    const attn_params *p = c->p;
    size_t N = p->N, d = p->d, Br = p->Br, Bc = p->Bc;
    bool real = !mem_count_only(m);
    hbm_mat dS = hbm_head(c->dS, b, h), K = hbm_head(c->t->k, b, h), dQ = hbm_head(c->t->dq, b, h);
    float *dQi = sram_alloc(m, Br * d, DTYPE_FP32, "dQi");
    float *dSij = sram_alloc(m, Br * Bc, c->dt, "dSij");
    float *Kj = sram_alloc(m, Bc * d, c->dt, "Kj");
    for (size_t i = 0; i < c->Tr; i++) {
        size_t r0 = i * Br, nr = min_size(Br, N - r0);
        if (real)
            memset(dQi, 0, Br * d * sizeof *dQi);
        for (size_t j = 0; j < c->Tc; j++) {
            size_t c0 = j * Bc, nc = min_size(Bc, N - c0);
            mem_step(m, (long)i, (long)j, "dQi += scale dSij Kj");
            hbm_load_tile(m, dSij, dS, r0, nr, c0, nc, "dSij");
            hbm_load_rows(m, Kj, K, c0, nc, "Kj");
            if (real)
                mm_ab_acc(dQi, dSij, Kj, nr, nc, d, c->scale);
            mem_compute(m, "dQi += scale dSij Kj", 2 * u64(nr) * nc * d, 0);
        }
        hbm_store_rows(m, dQ, r0, nr, dQi, "dQi");
    }
    sram_free(m, Kj);
    sram_free(m, dSij);
    sram_free(m, dQi);
}

/* Alg.3 line 5: load dS and Q by blocks, compute dK = scale * dS^T Q, write dK. */
static void std_line5(mem_t *m, const bwd_ctx *c, size_t b, size_t h)
{
    const attn_params *p = c->p;
    size_t N = p->N, d = p->d, Br = p->Br, Bc = p->Bc;
    bool real = !mem_count_only(m);
    hbm_mat dS = hbm_head(c->dS, b, h), Q = hbm_head(c->t->q, b, h), dK = hbm_head(c->t->dk, b, h);
    float *dKj = sram_alloc(m, Bc * d, DTYPE_FP32, "dKj");
    float *dSij = sram_alloc(m, Br * Bc, c->dt, "dSij");
    float *Qi = sram_alloc(m, Br * d, c->dt, "Qi");
    for (size_t j = 0; j < c->Tc; j++) {
        size_t c0 = j * Bc, nc = min_size(Bc, N - c0);
        if (real)
            memset(dKj, 0, Bc * d * sizeof *dKj);
        for (size_t i = 0; i < c->Tr; i++) {
            size_t r0 = i * Br, nr = min_size(Br, N - r0);
            mem_step(m, (long)i, (long)j, "dKj += scale dSij^T Qi");
            hbm_load_tile(m, dSij, dS, r0, nr, c0, nc, "dSij");
            hbm_load_rows(m, Qi, Q, r0, nr, "Qi");
            if (real)
                mm_atb_acc(dKj, dSij, Qi, nr, nc, d, c->scale);
            mem_compute(m, "dKj += scale dSij^T Qi", 2 * u64(nr) * nc * d, 0);
        }
        hbm_store_rows(m, dK, c0, nc, dKj, "dKj");
    }
    sram_free(m, Qi);
    sram_free(m, dSij);
    sram_free(m, dKj);
}

void standard_backward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    bwd_ctx c = ctx_make(p, t, "standard");
    if (!t->P)
        fl_fatal("internal: standard backward needs the P its forward pass kept");
    static const char *const phase[] = {PH_DV, PH_DP, PH_DS, PH_DQ, PH_DK};
    static const head_fn line[] = {std_line1, std_line2, std_line3, std_line4, std_line5};
    static const char *const what[] = {
        "Alg.3 line 1: load P, dO by blocks, compute dV = P^T dO, write dV",
        "Alg.3 line 2: load dO, V by blocks, compute dP = dO V^T, write dP (N x N)",
        "Alg.3 line 3: read P, dP, compute D = rowsum(P o dP) and dS = P o (dP - D), write dS (N x N)",
        "Alg.3 line 4: load dS, K by blocks, compute dQ = scale dS K, write dQ",
        "Alg.3 line 5: load dS, Q by blocks, compute dK = scale dS^T Q, write dK"};
    /* dP and dS are intermediates of the backward pass: allocated here, freed here, O(N^2) each. */
    c.dP = hbm_alloc_bhnn(m, "dP", c.dt, p->B, p->H, p->N);
    c.dS = hbm_alloc_bhnn(m, "dS", c.dt, p->B, p->H, p->N);
    for (int k = 0; k < 5; k++) {
        mem_phase(m, phase[k]);
        mem_note(m, "%s", what[k]);
        for_each_head(m, &c, line[k]);
        if (k == 2)
            hbm_free(m, c.dP);   /* nothing after line 3 reads dP */
    }
    hbm_free(m, c.dS);
}

/* ---- FlashAttention backward: FlashAttention paper, Algorithm 4 (no dropout) -------------------------------------- */

/* The flash passes count under "backward" (the forward's under "forward"); flash2's lines 3-4 under "backward_D". */
#define PH_FLASH "backward"
#define PH_PRE "backward_D"

static void flash1_head(mem_t *m, const bwd_ctx *c, size_t b, size_t h)
{
    const attn_params *p = c->p;
    size_t N = p->N, d = p->d, Br = p->Br, Bc = p->Bc;
    bool real = !mem_count_only(m);
    const attn_tensors *t = c->t;
    hbm_mat Q = hbm_head(t->q, b, h), K = hbm_head(t->k, b, h), V = hbm_head(t->v, b, h),
            O = hbm_head(t->out, b, h), dO = hbm_head(t->dout, b, h), l = hbm_head(t->l, b, h),
            mm = hbm_head(t->m, b, h), dQ = hbm_head(t->dq, b, h), dK = hbm_head(t->dk, b, h),
            dV = hbm_head(t->dv, b, h);

    /* Alg.4 line 5: dQ = 0, dK = 0, dV = 0 in HBM (dK, dV are overwritten at line 24; the paper zeroes them) */
    hbm_fill_rows(m, dQ, 0, N, 0.0f, "dQ = 0");
    hbm_fill_rows(m, dK, 0, N, 0.0f, "dK = 0");
    hbm_fill_rows(m, dV, 0, N, 0.0f, "dV = 0");

    float *Kj = sram_alloc(m, Bc * d, c->dt, "Kj"), *Vj = sram_alloc(m, Bc * d, c->dt, "Vj");
    float *dKj = sram_alloc(m, Bc * d, DTYPE_FP32, "dKj"), *dVj = sram_alloc(m, Bc * d, DTYPE_FP32, "dVj");
    float *Qi = sram_alloc(m, Br * d, c->dt, "Qi"), *Oi = sram_alloc(m, Br * d, c->dt, "Oi");
    float *dOi = sram_alloc(m, Br * d, c->dt, "dOi"), *dQi = sram_alloc(m, Br * d, c->dt, "dQi");
    float *li = sram_alloc(m, Br, DTYPE_FP32, "li"), *mi = sram_alloc(m, Br, DTYPE_FP32, "mi");
    float *Sij = sram_alloc(m, Br * Bc, DTYPE_FP32, "Sij"), *dPij = sram_alloc(m, Br * Bc, DTYPE_FP32, "dPij");
    float *Di = sram_alloc(m, Br, DTYPE_FP32, "Di");

    for (size_t j = 0; j < c->Tc; j++) {                                   /* Alg.4 line 6 */
        size_t c0 = j * Bc, nc = min_size(Bc, N - c0);
        hbm_load_rows(m, Kj, K, c0, nc, "Kj");                              /* line 7: load Kj, Vj */
        hbm_load_rows(m, Vj, V, c0, nc, "Vj");
        if (real) {                                                         /* line 8: dKj~ = 0, dVj~ = 0 */
            memset(dKj, 0, Bc * d * sizeof *dKj);
            memset(dVj, 0, Bc * d * sizeof *dVj);
        }
        for (size_t i = 0; i < c->Tr; i++) {                               /* line 9 */
            size_t r0 = i * Br, nr = min_size(Br, N - r0);
            if (tile_masked(p, i, j)) {
                mem_step(m, (long)i, (long)j, ATTN_STEP_SKIP);
                continue;
            }
            mem_step(m, (long)i, (long)j, "tile");
            hbm_load_rows(m, Qi, Q, r0, nr, "Qi");                          /* line 10: Qi, Oi, dOi, dQi, li, mi */
            hbm_load_rows(m, Oi, O, r0, nr, "Oi");
            hbm_load_rows(m, dOi, dO, r0, nr, "dOi");
            hbm_load_rows(m, dQi, dQ, r0, nr, "dQi");
            hbm_load_rows(m, li, l, r0, nr, "li");
            hbm_load_rows(m, mi, mm, r0, nr, "mi");
            if (real) {
                mm_abt(Sij, Qi, Kj, nr, nc, d);                             /* line 11: Sij = scale Qi Kj^T */
                for (size_t r = 0; r < nr; r++)
                    for (size_t x = 0; x < nc; x++) {
                        float s = c->scale * Sij[r * nc + x];
                        if (p->causal && c0 + x > r0 + r)                   /* line 12: mask */
                            s = -INFINITY;
                        Sij[r * nc + x] = expf(s - mi[r]) / li[r];          /* line 13: Pij = diag(li)^-1 exp(Sij - mi) */
                    }
                mm_atb_acc(dVj, Sij, dOi, nr, nc, d, 1.0f);                 /* line 16: dVj~ += Pij^T dOi */
                mm_abt(dPij, dOi, Vj, nr, nc, d);                           /* line 17: dPij = dOi Vj^T */
                rowdot(Di, dOi, Oi, nr, d);                                 /* line 19: Di = rowsum(dOi o Oi) */
                dsoftmax(dPij, Sij, Di, nr, nc);                            /* line 20: dSij = Pij o (dPij - Di) */
                mm_ab_acc(dQi, dPij, Kj, nr, nc, d, c->scale);              /* line 21: dQi += scale dSij Kj */
                mm_atb_acc(dKj, dPij, Qi, nr, nc, d, c->scale);             /* line 22: dKj~ += scale dSij^T Qi */
            }
            mem_compute(m, "Sij = scale Qi Kj^T; Pij", 2 * u64(nr) * nc * d, u64(nr) * nc);
            mem_compute(m, "dVj += Pij^T dOi", 2 * u64(nr) * nc * d, 0);
            mem_compute(m, "dPij = dOi Vj^T", 2 * u64(nr) * nc * d, 0);
            mem_compute(m, "Di = rowsum(dOi o Oi)", 2 * u64(nr) * d, 0);
            mem_compute(m, "dQi += scale dSij Kj", 2 * u64(nr) * nc * d, 0);
            hbm_store_rows(m, dQ, r0, nr, dQi, "dQi");                       /* line 21: write dQi to HBM */
            mem_compute(m, "dKj += scale dSij^T Qi", 2 * u64(nr) * nc * d, 0);
        }
        hbm_store_rows(m, dK, c0, nc, dKj, "dKj");                          /* line 24: write dKj, dVj */
        hbm_store_rows(m, dV, c0, nc, dVj, "dVj");
    }
    float *bufs[] = {Di, dPij, Sij, mi, li, dQi, dOi, Oi, Qi, dVj, dKj, Vj, Kj};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++)
        sram_free(m, bufs[k]);
}

void flash1_backward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    bwd_ctx c = ctx_make(p, t, "flash1");
    if (!t->m || !t->l)
        fl_fatal("internal: flash1 backward needs the m and l its forward pass wrote");
    mem_phase(m, PH_FLASH);
    mem_note(m, "Alg.4: recompute Pij from Qi, Kj and the saved m, l; dQ accumulated in HBM across key blocks");
    for_each_head(m, &c, flash1_head);
}

/* ---- FlashAttention-2 backward: FlashAttention-2 paper, Algorithm 2 ----------------------------------------------- */

/* Lines 3-4, a pass of their own (FlashAttention-2's code runs them as a separate preprocessing kernel):
 * dQ = 0 in HBM, and D = rowsum(dO o O) by blocks of Br rows, written to HBM. */
static void flash2_pre(mem_t *m, const bwd_ctx *c, size_t b, size_t h)
{
    const attn_params *p = c->p;
    size_t N = p->N, d = p->d, Br = p->Br;
    hbm_mat O = hbm_head(c->t->out, b, h), dO = hbm_head(c->t->dout, b, h), D = hbm_head(c->D, b, h),
            dQ = hbm_head(c->t->dq, b, h);
    hbm_fill_rows(m, dQ, 0, N, 0.0f, "dQ = 0");                            /* line 3 */
    float *Oi = sram_alloc(m, Br * d, c->dt, "Oi"), *dOi = sram_alloc(m, Br * d, c->dt, "dOi");
    float *Di = sram_alloc(m, Br, DTYPE_FP32, "Di");
    for (size_t i = 0; i < c->Tr; i++) {                                   /* line 4 */
        size_t r0 = i * Br, nr = min_size(Br, N - r0);
        hbm_load_rows(m, Oi, O, r0, nr, "Oi");
        hbm_load_rows(m, dOi, dO, r0, nr, "dOi");
        if (!mem_count_only(m))
            rowdot(Di, dOi, Oi, nr, d);
        mem_compute(m, "Di = rowsum(dOi o Oi)", 2 * u64(nr) * d, 0);
        hbm_store_rows(m, D, r0, nr, Di, "Di");
    }
    sram_free(m, Di);
    sram_free(m, dOi);
    sram_free(m, Oi);
}

static void flash2_head(mem_t *m, const bwd_ctx *c, size_t b, size_t h)
{
    const attn_params *p = c->p;
    size_t N = p->N, d = p->d, Br = p->Br, Bc = p->Bc;
    bool real = !mem_count_only(m);
    const attn_tensors *t = c->t;
    hbm_mat Q = hbm_head(t->q, b, h), K = hbm_head(t->k, b, h), V = hbm_head(t->v, b, h),
            dO = hbm_head(t->dout, b, h), L = hbm_head(t->lse, b, h), D = hbm_head(c->D, b, h),
            dQ = hbm_head(t->dq, b, h), dK = hbm_head(t->dk, b, h), dV = hbm_head(t->dv, b, h);

    float *Kj = sram_alloc(m, Bc * d, c->dt, "Kj"), *Vj = sram_alloc(m, Bc * d, c->dt, "Vj");
    float *dKj = sram_alloc(m, Bc * d, DTYPE_FP32, "dKj"), *dVj = sram_alloc(m, Bc * d, DTYPE_FP32, "dVj");
    float *Qi = sram_alloc(m, Br * d, c->dt, "Qi"), *dOi = sram_alloc(m, Br * d, c->dt, "dOi");
    float *dQi = sram_alloc(m, Br * d, c->dt, "dQi");
    float *Li = sram_alloc(m, Br, DTYPE_FP32, "Li"), *Di = sram_alloc(m, Br, DTYPE_FP32, "Di");
    float *Sij = sram_alloc(m, Br * Bc, DTYPE_FP32, "Sij"), *dPij = sram_alloc(m, Br * Bc, DTYPE_FP32, "dPij");

    for (size_t j = 0; j < c->Tc; j++) {                                   /* line 5 */
        size_t c0 = j * Bc, nc = min_size(Bc, N - c0);
        hbm_load_rows(m, Kj, K, c0, nc, "Kj");                              /* line 6: load Kj, Vj */
        hbm_load_rows(m, Vj, V, c0, nc, "Vj");
        if (real) {                                                         /* line 7: dKj = 0, dVj = 0 on chip */
            memset(dKj, 0, Bc * d * sizeof *dKj);
            memset(dVj, 0, Bc * d * sizeof *dVj);
        }
        for (size_t i = 0; i < c->Tr; i++) {                               /* line 8 */
            size_t r0 = i * Br, nr = min_size(Br, N - r0);
            if (tile_masked(p, i, j)) {
                mem_step(m, (long)i, (long)j, ATTN_STEP_SKIP);
                continue;
            }
            mem_step(m, (long)i, (long)j, "tile");
            hbm_load_rows(m, Qi, Q, r0, nr, "Qi");                          /* line 9: Qi, dOi, Li, Di (O is */
            hbm_load_rows(m, dOi, dO, r0, nr, "dOi");                       /* not needed: line 4 folded it */
            hbm_load_rows(m, Li, L, r0, nr, "Li");                          /* into D) */
            hbm_load_rows(m, Di, D, r0, nr, "Di");
            if (real) {
                mm_abt(Sij, Qi, Kj, nr, nc, d);                             /* line 10: Sij = scale Qi Kj^T */
                for (size_t r = 0; r < nr; r++)
                    for (size_t x = 0; x < nc; x++) {
                        float s = c->scale * Sij[r * nc + x];
                        if (p->causal && c0 + x > r0 + r)
                            s = -INFINITY;                                  /* masked: exp(-inf - Li) = 0 */
                        Sij[r * nc + x] = expf(s - Li[r]);                  /* line 11: Pij = exp(Sij - Li) */
                    }
                mm_atb_acc(dVj, Sij, dOi, nr, nc, d, 1.0f);                 /* line 12: dVj += Pij^T dOi */
                mm_abt(dPij, dOi, Vj, nr, nc, d);                           /* line 13: dPij = dOi Vj^T */
                dsoftmax(dPij, Sij, Di, nr, nc);                            /* line 14: dSij = Pij o (dPij - Di) */
            }
            mem_compute(m, "Sij = scale Qi Kj^T; Pij", 2 * u64(nr) * nc * d, u64(nr) * nc);
            mem_compute(m, "dVj += Pij^T dOi", 2 * u64(nr) * nc * d, 0);
            mem_compute(m, "dPij = dOi Vj^T", 2 * u64(nr) * nc * d, 0);
            hbm_load_rows(m, dQi, dQ, r0, nr, "dQi");                       /* line 15: load dQi, */
            if (real)
                mm_ab_acc(dQi, dPij, Kj, nr, nc, d, c->scale);              /*   dQi += scale dSij Kj, */
            mem_compute(m, "dQi += scale dSij Kj", 2 * u64(nr) * nc * d, 0);
            hbm_store_rows(m, dQ, r0, nr, dQi, "dQi");                      /*   write it back */
            if (real)
                mm_atb_acc(dKj, dPij, Qi, nr, nc, d, c->scale);             /* line 16: dKj += scale dSij^T Qi */
            mem_compute(m, "dKj += scale dSij^T Qi", 2 * u64(nr) * nc * d, 0);
        }
        hbm_store_rows(m, dK, c0, nc, dKj, "dKj");                          /* line 18: write dKj, dVj */
        hbm_store_rows(m, dV, c0, nc, dVj, "dVj");
    }
    float *bufs[] = {dPij, Sij, Di, Li, dQi, dOi, Qi, dVj, dKj, Vj, Kj};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++)
        sram_free(m, bufs[k]);
}

void flash2_backward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    bwd_ctx c = ctx_make(p, t, "flash2");
    if (!t->lse)
        fl_fatal("internal: flash2 backward needs the lse its forward pass wrote");
    c.D = hbm_alloc_bhn(m, "D", DTYPE_FP32, p->B, p->H, p->N);   /* O(N) per head, like L */
    mem_phase(m, PH_PRE);
    mem_note(m, "FA2 Alg.2 lines 3-4: dQ = 0 in HBM; D = rowsum(dO o O), written to HBM");
    for_each_head(m, &c, flash2_pre);
    mem_phase(m, PH_FLASH);
    mem_note(m, "FA2 Alg.2 lines 5-18: recompute Pij = exp(Sij - Li); dQi read-modify-written in HBM");
    for_each_head(m, &c, flash2_head);
    hbm_free(m, c.D);
}

/* ---- closed forms ------------------------------------------------------------------------------------------------
 * Elements read and written per tensor, over all B*H heads, derived from the pseudocode line by line with
 * N = p->N, Tr = ceil(N/Br), Tc = ceil(N/Bc), r_i = rows of query block i (Br, or what is left of N). None of this
 * calls the code above: it is the algorithm's arithmetic, written a second time. */

static uint64_t mul_ok(uint64_t a, uint64_t b)
{
    if (a && b > UINT64_MAX / a)
        fl_fatal("the closed-form ledger overflows 64 bits (N, B or H too large)");
    return a * b;
}

static void row_add(attn_io *io, const char *tensor, uint64_t rd, uint64_t wr)
{
    size_t k = 0;
    while (k < io->n && strcmp(io->row[k].tensor, tensor))
        k++;
    if (k == io->n) {
        if (io->n == sizeof io->row / sizeof io->row[0])
            fl_fatal("internal: closed form with more than %zu tensors", sizeof io->row / sizeof io->row[0]);
        io->row[io->n++] = (attn_io_row){tensor, 0, 0};
    }
    if (rd > UINT64_MAX - io->row[k].rd || wr > UINT64_MAX - io->row[k].wr)
        fl_fatal("the closed-form ledger overflows 64 bits (N, B or H too large)");
    io->row[k].rd += rd;
    io->row[k].wr += wr;
}

void attn_backward_closed_form(const attn_params *p, attn_io *out)
{
    *out = (attn_io){.n = 0};
    uint64_t N = p->N, d = p->d, Br = p->Br, Bc = p->Bc, BH = mul_ok(p->B, p->H);
    if (!N || !d || !Br || !Bc || !BH)
        fl_fatal("internal: backward closed form with a zero size");
    uint64_t Tr = (N + Br - 1) / Br, Tc = (N + Bc - 1) / Bc, Nd = mul_ok(N, d), NN = mul_ok(N, N);

    /* Causal skipping: query block i (last query row last_i = min((i+1)Br, N) - 1) meets key blocks
     * j = 0 .. floor(last_i / Bc), i.e. n_i = floor(last_i / Bc) + 1 of them; without a mask n_i = Tc.
     * R = sum_i r_i n_i is the number of query rows loaded over all visited tiles (Tc * N without a mask). */
    uint64_t tiles = 0, R = 0;
    for (uint64_t i = 0; i < Tr; i++) {
        uint64_t r = i + 1 < Tr ? Br : N - i * Br, last = i * Br + r - 1;
        uint64_t n = p->causal ? last / Bc + 1 : Tc;
        tiles += n;
        R += r * n;
    }

    switch (p->algo) {
    case ATTN_STANDARD:
        /* Nothing is skipped: P is 0 where masked and dS = P o (...) is 0 there, but every tile is still moved. */
        /* line 1: per key block j (Tc of them), every query block i: P_ij (all N^2 once), dO_i (N d per j);
         *         write dV_j (N d in all) */
        row_add(out, "P", NN, 0);
        row_add(out, "dO", mul_ok(Tc, Nd), 0);
        row_add(out, "dV", 0, Nd);
        /* line 2: per query block i, dO_i once (N d); per (i, j), V_j (N d per i) and a dP_ij store (N^2) */
        row_add(out, "dO", Nd, 0);
        row_add(out, "V", mul_ok(Tr, Nd), 0);
        row_add(out, "dP", 0, NN);
        /* line 3: two passes over every (i, j): P_ij and dP_ij each read twice, dS_ij written once */
        row_add(out, "P", 2 * NN, 0);
        row_add(out, "dP", 2 * NN, 0);
        row_add(out, "dS", 0, NN);
        /* line 4: per query block i, every (i, j): dS_ij (N^2 in all) and K_j (N d per i); write dQ_i */
        row_add(out, "dS", NN, 0);
        row_add(out, "K", mul_ok(Tr, Nd), 0);
        row_add(out, "dQ", 0, Nd);
        /* line 5: per key block j, every (i, j): dS_ij (N^2) and Q_i (N d per j); write dK_j */
        row_add(out, "dS", NN, 0);
        row_add(out, "Q", mul_ok(Tc, Nd), 0);
        row_add(out, "dK", 0, Nd);
        out->tiles = Tr * Tc;   /* the tile grid; every line walks all of it (line 3 twice) */
        out->skipped = 0;
        break;
    case ATTN_FLASH1:
        /* line 5: dQ, dK, dV = 0 in HBM */
        row_add(out, "dQ", 0, Nd);
        row_add(out, "dK", 0, Nd);
        row_add(out, "dV", 0, Nd);
        /* line 7: Kj, Vj once per key block: N d each */
        row_add(out, "K", Nd, 0);
        row_add(out, "V", Nd, 0);
        /* line 10, per visited tile: Qi, Oi, dOi, dQi (r_i d each), li, mi (r_i each): R d and R in all */
        row_add(out, "Q", mul_ok(R, d), 0);
        row_add(out, "O", mul_ok(R, d), 0);
        row_add(out, "dO", mul_ok(R, d), 0);
        row_add(out, "dQ", mul_ok(R, d), 0);
        row_add(out, "l", R, 0);
        row_add(out, "m", R, 0);
        /* line 21, per visited tile: write dQi (r_i d) */
        row_add(out, "dQ", 0, mul_ok(R, d));
        /* line 24: write dKj, dVj once per key block */
        row_add(out, "dK", 0, Nd);
        row_add(out, "dV", 0, Nd);
        out->tiles = tiles;
        out->skipped = mul_ok(Tr, Tc) - tiles;
        break;
    case ATTN_FLASH2:
        /* line 3: dQ = 0 in HBM */
        row_add(out, "dQ", 0, Nd);
        /* line 4: D = rowsum(dO o O): read O and dO once, write D (N) */
        row_add(out, "O", Nd, 0);
        row_add(out, "dO", Nd, 0);
        row_add(out, "D", 0, N);
        /* line 6: Kj, Vj once per key block */
        row_add(out, "K", Nd, 0);
        row_add(out, "V", Nd, 0);
        /* line 9, per visited tile: Qi, dOi (r_i d each), Li, Di (r_i each) */
        row_add(out, "Q", mul_ok(R, d), 0);
        row_add(out, "dO", mul_ok(R, d), 0);
        row_add(out, "L", R, 0);
        row_add(out, "D", R, 0);
        /* line 15, per visited tile: dQi read and written back (r_i d each way) */
        row_add(out, "dQ", mul_ok(R, d), mul_ok(R, d));
        /* line 18: write dKj, dVj once per key block */
        row_add(out, "dK", 0, Nd);
        row_add(out, "dV", 0, Nd);
        out->tiles = tiles;
        out->skipped = mul_ok(Tr, Tc) - tiles;
        break;
    default:
        fl_fatal("internal: no backward closed form for algorithm %d", (int)p->algo);
    }
    /* every head does the same: scale by B*H, then total */
    out->rd = out->wr = 0;
    for (size_t k = 0; k < out->n; k++) {
        out->row[k].rd = mul_ok(out->row[k].rd, BH);
        out->row[k].wr = mul_ok(out->row[k].wr, BH);
        out->rd += out->row[k].rd;
        out->wr += out->row[k].wr;
    }
    out->tiles = mul_ok(out->tiles, BH);
    out->skipped = mul_ok(out->skipped, BH);
}
