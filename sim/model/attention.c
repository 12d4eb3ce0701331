/* attention.c — what the attention algorithms share: names, SRAM plans, block choice, HBM tensors, the parallel
 * runner, dispatch, and the closed-form ledgers each algorithm must produce (see include/model/attention.h).
 * The algorithms: attn_standard.c, attn_flash1.c, attn_flash2.c (forward), attn_backward.c (backward). */
#include "attention.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "attn_internal.h"
#include "util.h"

static const char *const algo_names[ATTN_NALGOS] = {"standard", "flash1", "flash2"};
const char *const attn_standard_phase[ATTN_STANDARD_PHASES] = {"S", "softmax", "PV"};

const char *attn_algo_name(attn_algo a) { return (unsigned)a < ATTN_NALGOS ? algo_names[a] : "unknown"; }

int attn_algo_parse(const char *s, attn_algo *out)
{
    for (int a = 0; a < ATTN_NALGOS; a++)
        if (s && !strcmp(s, algo_names[a])) {
            *out = (attn_algo)a;
            return 0;
        }
    return -1;
}

/* ---- SRAM plans ---------------------------------------------------------------------------------------------- */

/* Saturating size arithmetic: a plan too large to count is "SIZE_MAX bytes", which no M holds. */
static size_t sat_mul(size_t a, size_t b)
{
    size_t r;
    return size_mul_ok(a, b, &r) ? r : SIZE_MAX;
}

static void plan_set(sram_plan *p, int k, const char *name, size_t elems, dtype_t dt)
{
    p->buf[k] = (sram_buf_spec){name, elems, dt};
    if ((size_t)k + 1 > p->n)
        p->n = (size_t)k + 1;
    size_t b = sat_mul(elems, dtype_size(dt));
    p->bytes = (b > SIZE_MAX - p->bytes) ? SIZE_MAX : p->bytes + b;
}

void attn_standard_plan(int phase, size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out)
{
    *out = (sram_plan){.n = 0};
    switch (phase) {
    case 0:   /* S = scale Q K^T, tile by tile; Sij accumulates in fp32 and is stored rounded to dt */
        plan_set(out, STD_S_Qi, "Qi", sat_mul(Br, d), dt);
        plan_set(out, STD_S_Kj, "Kj", sat_mul(Bc, d), dt);
        plan_set(out, STD_S_Sij, "Sij", sat_mul(Br, Bc), DTYPE_FP32);
        break;
    case 1:   /* softmax: a row of S, or a chunk of Br*Bc of one, in fp32 (the row max and sum are registers) */
        plan_set(out, STD_SM_Si, "Si", sat_mul(Br, Bc), DTYPE_FP32);
        break;
    case 2:   /* O = P V, tile by tile; Oi accumulates in fp32 */
        plan_set(out, STD_PV_Pij, "Pij", sat_mul(Br, Bc), dt);
        plan_set(out, STD_PV_Vj, "Vj", sat_mul(Bc, d), dt);
        plan_set(out, STD_PV_Oi, "Oi", sat_mul(Br, d), DTYPE_FP32);
        break;
    default:
        fl_fatal("internal: standard attention has no phase %d", phase);
    }
}

void attn_sram_plan(attn_algo a, bool backward, size_t Br, size_t Bc, size_t d, dtype_t dt, sram_plan *out)
{
    if (backward) {
        attn_backward_plan(a, Br, Bc, d, dt, out);
        return;
    }
    *out = (sram_plan){.n = 0};
    switch (a) {
    case ATTN_STANDARD:   /* the phase that needs the most SRAM (the first one on a tie) */
        for (int ph = 0; ph < ATTN_STANDARD_PHASES; ph++) {
            sram_plan x;
            attn_standard_plan(ph, Br, Bc, d, dt, &x);
            if (ph == 0 || x.bytes > out->bytes)
                *out = x;
        }
        break;
    case ATTN_FLASH1:   /* Alg.1: tiles are copies of HBM (dt); scores and row statistics are fp32 */
        plan_set(out, F1_Kj, "Kj", sat_mul(Bc, d), dt);
        plan_set(out, F1_Vj, "Vj", sat_mul(Bc, d), dt);
        plan_set(out, F1_Qi, "Qi", sat_mul(Br, d), dt);
        plan_set(out, F1_Oi, "Oi", sat_mul(Br, d), dt);
        plan_set(out, F1_li, "li", Br, DTYPE_FP32);
        plan_set(out, F1_mi, "mi", Br, DTYPE_FP32);
        plan_set(out, F1_Sij, "Sij", sat_mul(Br, Bc), DTYPE_FP32);
        plan_set(out, F1_mtij, "m~ij", Br, DTYPE_FP32);
        plan_set(out, F1_ltij, "l~ij", Br, DTYPE_FP32);
        plan_set(out, F1_mi_new, "mi_new", Br, DTYPE_FP32);
        plan_set(out, F1_li_new, "li_new", Br, DTYPE_FP32);
        break;
    case ATTN_FLASH2:   /* FA2 Alg.1: Oi stays on chip, unnormalized, in fp32 until it is written once */
        plan_set(out, F2_Qi, "Qi", sat_mul(Br, d), dt);
        plan_set(out, F2_Kj, "Kj", sat_mul(Bc, d), dt);
        plan_set(out, F2_Vj, "Vj", sat_mul(Bc, d), dt);
        plan_set(out, F2_Sij, "Sij", sat_mul(Br, Bc), DTYPE_FP32);
        plan_set(out, F2_Oi, "Oi", sat_mul(Br, d), DTYPE_FP32);
        plan_set(out, F2_mi, "mi", Br, DTYPE_FP32);
        plan_set(out, F2_li, "li", Br, DTYPE_FP32);
        break;
    default:
        fl_fatal("internal: unknown attention algorithm %d", (int)a);
    }
}

size_t attn_sram_need(attn_algo a, bool backward, size_t Br, size_t Bc, size_t d, dtype_t dt)
{
    sram_plan p;
    attn_sram_plan(a, backward, Br, Bc, d, dt, &p);
    return p.bytes;
}

/* blocks_choose takes a need function without the algorithm: one per (algorithm, direction). */
static size_t need_std(size_t Br, size_t Bc, size_t d, dtype_t dt) { return attn_sram_need(ATTN_STANDARD, false, Br, Bc, d, dt); }
static size_t need_f1(size_t Br, size_t Bc, size_t d, dtype_t dt) { return attn_sram_need(ATTN_FLASH1, false, Br, Bc, d, dt); }
static size_t need_f2(size_t Br, size_t Bc, size_t d, dtype_t dt) { return attn_sram_need(ATTN_FLASH2, false, Br, Bc, d, dt); }
static size_t need_std_bw(size_t Br, size_t Bc, size_t d, dtype_t dt) { return attn_sram_need(ATTN_STANDARD, true, Br, Bc, d, dt); }
static size_t need_f1_bw(size_t Br, size_t Bc, size_t d, dtype_t dt) { return attn_sram_need(ATTN_FLASH1, true, Br, Bc, d, dt); }
static size_t need_f2_bw(size_t Br, size_t Bc, size_t d, dtype_t dt) { return attn_sram_need(ATTN_FLASH2, true, Br, Bc, d, dt); }

/* The resident block is the big one: only flash2's forward keeps query blocks outside. */
block_rule attn_block_rule(attn_algo a, bool backward)
{
    return a == ATTN_FLASH2 && !backward ? BLOCK_RULE_Q_OUTER : BLOCK_RULE_KV_OUTER;
}

int attn_choose_blocks(attn_params *p, bool backward, size_t M_bytes, dtype_t dt, size_t Br_req, size_t Bc_req,
                       block_choice *out, char *err, size_t errlen)
{
    return attn_choose_blocks_rule(p, backward, M_bytes, dt, Br_req, Bc_req, attn_block_rule(p->algo, backward), out,
                                   err, errlen);
}

int attn_choose_blocks_rule(attn_params *p, bool backward, size_t M_bytes, dtype_t dt, size_t Br_req, size_t Bc_req,
                            block_rule rule, block_choice *out, char *err, size_t errlen)
{
    static const sram_need_fn need[2][ATTN_NALGOS] = {{need_std, need_f1, need_f2},
                                                      {need_std_bw, need_f1_bw, need_f2_bw}};
    if ((unsigned)p->algo >= ATTN_NALGOS) {
        snprintf(err, errlen, "unknown attention algorithm %d", (int)p->algo);
        return -1;
    }
    if (!p->N || !p->d) {
        snprintf(err, errlen, "N = %zu and d = %zu must both be at least 1", p->N, p->d);
        return -1;
    }
    if (blocks_choose_rule(M_bytes, p->N, p->d, dt, Br_req, Bc_req, need[backward][p->algo], rule, out, err,
                           errlen))
        return -1;
    p->Br = out->Br;
    p->Bc = out->Bc;
    return 0;
}

bool attn_tile_skipped(const attn_params *p, size_t i, size_t j)
{
    return p->causal && j * p->Bc > min_size((i + 1) * p->Br, p->N) - 1;
}

/* ---- shapes, tensors ----------------------------------------------------------------------------------------- */

void attn_check_params(const attn_params *p)
{
    size_t n;
    if ((unsigned)p->algo >= ATTN_NALGOS)
        fl_fatal("unknown attention algorithm %d", (int)p->algo);
    if (!p->B || !p->N || !p->H || !p->d)
        fl_fatal("attention shape B=%zu N=%zu H=%zu d=%zu: every size must be at least 1", p->B, p->N, p->H, p->d);
    /* The largest count any ledger reaches is the FLOPs, 4·B·H·N²·d: it must fit in 64 bits. */
    size_t bh;
    if (!size_mul_ok(p->B, p->H, &bh) || !size_mul4_ok(bh, p->N, p->N, p->d, &n) || !size_mul_ok(n, 4, &n))
        fl_fatal("attention shape B=%zu N=%zu H=%zu d=%zu: its counts (4·B·H·N²·d FLOPs) overflow 64 bits", p->B,
                 p->N, p->H, p->d);
    if (!p->Br || !p->Bc || p->Br > p->N || p->Bc > p->N)
        fl_fatal("blocks Br=%zu, Bc=%zu must lie in 1..N (N=%zu); attn_choose_blocks sets them", p->Br, p->Bc, p->N);
    if (!(p->scale >= 0) || isinf(p->scale))
        fl_fatal("softmax scale %g must be finite and >= 0 (0 means 1/sqrt(d))", p->scale);
}

float attn_scale(const attn_params *p) { return (float)(p->scale ? p->scale : 1.0 / sqrt((double)p->d)); }

attn_tensors attn_alloc(mem_t *m, const attn_params *p, dtype_t dt, bool backward)
{
    attn_tensors t;
    memset(&t, 0, sizeof t);
    if ((unsigned)p->algo >= ATTN_NALGOS)
        fl_fatal("unknown attention algorithm %d", (int)p->algo);
    if (!p->B || !p->N || !p->H || !p->d)
        fl_fatal("attention shape B=%zu N=%zu H=%zu d=%zu: every size must be at least 1", p->B, p->N, p->H, p->d);
    t.q = hbm_alloc_bnhd(m, "Q", dt, p->B, p->N, p->H, p->d);
    t.k = hbm_alloc_bnhd(m, "K", dt, p->B, p->N, p->H, p->d);
    t.v = hbm_alloc_bnhd(m, "V", dt, p->B, p->N, p->H, p->d);
    t.out = hbm_alloc_bnhd(m, "O", dt, p->B, p->N, p->H, p->d);
    switch (p->algo) {
    case ATTN_STANDARD:   /* S is allocated and freed inside the forward pass */
        t.P = hbm_alloc_bhnn(m, "P", dt, p->B, p->H, p->N);
        break;
    case ATTN_FLASH1:
        t.m = hbm_alloc_bhn(m, "m", DTYPE_FP32, p->B, p->H, p->N);
        t.l = hbm_alloc_bhn(m, "l", DTYPE_FP32, p->B, p->H, p->N);
        break;
    default:
        t.lse = hbm_alloc_bhn(m, "L", DTYPE_FP32, p->B, p->H, p->N);
        break;
    }
    if (backward) {
        t.dout = hbm_alloc_bnhd(m, "dO", dt, p->B, p->N, p->H, p->d);
        t.dq = hbm_alloc_bnhd(m, "dQ", dt, p->B, p->N, p->H, p->d);
        t.dk = hbm_alloc_bnhd(m, "dK", dt, p->B, p->N, p->H, p->d);
        t.dv = hbm_alloc_bnhd(m, "dV", dt, p->B, p->N, p->H, p->d);
    }
    return t;
}

void attn_free(mem_t *m, attn_tensors *t)
{
    hbm_tensor **all[] = {&t->q, &t->k, &t->v, &t->out, &t->lse, &t->m, &t->l, &t->P, &t->S,
                          &t->dout, &t->dq, &t->dk, &t->dv};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        hbm_free(m, *all[i]);
        *all[i] = NULL;
    }
}

/* ---- running: serially on m, or heads (and flash2's query blocks) on OpenMP workers -------------------------- */

static void plan_alloc(mem_t *m, const sram_plan *plan, float **buf)
{
    for (size_t k = 0; k < plan->n; k++)
        buf[k] = sram_alloc(m, plan->buf[k].elems, plan->buf[k].dt, plan->buf[k].name);
}

static void plan_free(mem_t *m, const sram_plan *plan, float **buf)
{
    for (size_t k = plan->n; k-- > 0;)
        sram_free(m, buf[k]);
}

void attn_run(mem_t *m, const attn_params *p, attn_tensors *t, const sram_plan *plan, size_t nitems,
              attn_item_fn fn)
{
    float *buf[16];
    int threads = p->threads;
#ifdef _OPENMP
    if (threads <= 0)
        threads = omp_get_max_threads();
#endif
    /* A trace must come out in program order; one item gains nothing from a worker. */
    if (mem_observed(m) || threads <= 1 || nitems <= 1) {
        plan_alloc(m, plan, buf);
        for (size_t x = 0; x < nitems; x++)
            fn(m, p, t, buf, x);
        plan_free(m, plan, buf);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) private(buf)
    {
        mem_t *w = mem_fork(m);
        plan_alloc(w, plan, buf);
        /* Every item writes its own rows of the outputs and nothing else: no floating-point value is summed
         * across threads, so outputs are bitwise the same for any thread count, and counts are integer sums. */
#pragma omp for schedule(dynamic, 1)
        for (long x = 0; x < (long)nitems; x++)
            fn(w, p, t, buf, (size_t)x);
        plan_free(w, plan, buf);
#pragma omp critical(flashlab_attn_join)
        mem_join(m, w);
    }
#endif
}

static void need_tensor(const hbm_tensor *x, const char *name, const char *algo)
{
    if (!x)
        fl_fatal("internal: %s needs tensor %s; allocate the tensors with attn_alloc for this algorithm", algo, name);
}

static void check_sram(const mem_t *m, const attn_params *p, bool backward, dtype_t dt)
{
    size_t need = attn_sram_need(p->algo, backward, p->Br, p->Bc, p->d, dt);
    if (need > mem_sram_capacity(m))
        fl_fatal("SRAM too small: %s %s with Br=%zu, Bc=%zu, d=%zu (%s) needs %zu bytes, M = %zu bytes",
                 attn_algo_name(p->algo), backward ? "backward" : "forward", p->Br, p->Bc, p->d, dtype_name(dt),
                 need, mem_sram_capacity(m));
}

void attn_forward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    attn_check_params(p);
    const char *name = attn_algo_name(p->algo);
    need_tensor(t->q, "Q", name);
    need_tensor(t->k, "K", name);
    need_tensor(t->v, "V", name);
    need_tensor(t->out, "O", name);
    check_sram(m, p, false, hbm_dtype(t->q));
    switch (p->algo) {
    case ATTN_STANDARD:
        need_tensor(t->P, "P", name);
        standard_forward(m, p, t);
        break;
    case ATTN_FLASH1:
        need_tensor(t->m, "m", name);
        need_tensor(t->l, "l", name);
        flash1_forward(m, p, t);
        break;
    default:
        need_tensor(t->lse, "L", name);
        flash2_forward(m, p, t);
        break;
    }
}

void attn_backward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    attn_check_params(p);
    const char *name = attn_algo_name(p->algo);
    need_tensor(t->dout, "dO", name);
    need_tensor(t->dq, "dQ", name);
    need_tensor(t->dk, "dK", name);
    need_tensor(t->dv, "dV", name);
    check_sram(m, p, true, hbm_dtype(t->q));
    switch (p->algo) {
    case ATTN_STANDARD: standard_backward(m, p, t); break;
    case ATTN_FLASH1: flash1_backward(m, p, t); break;
    default: flash2_backward(m, p, t); break;
    }
}

/* ---- closed forms -------------------------------------------------------------------------------------------- *
 * Derived from the pseudocode line by line, as arithmetic: nothing here walks the tiles. Per head, with
 * Tr = ⌈N/Br⌉ query blocks and Tc = ⌈N/Bc⌉ key blocks; the rows of all blocks of Q (or K) add up to N, ragged
 * last block included, so "load every block once" is N rows. The totals are then multiplied by B*H.
 *
 * Causal (key k masked for query q when k > q): tile (i, j) holds queries q0 = i*Br .. last_i = min((i+1)Br, N)-1
 * and keys j*Bc ..; it is skipped when all its keys are masked for all its queries: j*Bc > last_i.
 *  - Column j (flash1's outer loop): visited for i*Br + Br - 1 >= j*Bc, i.e. i >= ⌊j*Bc/Br⌋ (the last block,
 *    whose last row is N-1 >= j*Bc, is always visited). So column j visits Tr - ⌊j*Bc/Br⌋ tiles holding
 *    N - Br*⌊j*Bc/Br⌋ query rows, and over all j:
 *        tiles = Tc*Tr - F,   query rows visited R = Tc*N - Br*F,   F = Σ_{j<Tc} ⌊j*Bc/Br⌋.
 *  - Row block i (flash2's outer loop): visits key blocks 0 .. ⌊last_i/Bc⌋. For i < Tr-1, last_i = (i+1)Br - 1
 *    and the key rows visited are min((⌊last_i/Bc⌋ + 1)*Bc, N); the last block visits all Tc blocks, N keys.
 *        tiles = Tc + (Tr-1) + G,  G = Σ_{i<Tr-1} ⌊(i*Br + Br-1)/Bc⌋
 *        key rows visited C = N + Bc*((Tr-1) + G) - X*(Tc*Bc - N)
 *    where X counts the blocks i < Tr-1 that reach the ragged last key block (⌊last_i/Bc⌋ = Tc-1), i.e.
 *    i >= ⌊(Tc-1)*Bc/Br⌋: X = max(0, Tr-1 - ⌊(Tc-1)*Bc/Br⌋); for them min(., N) trims Tc*Bc - N rows.
 *    (Both tile counts are the same set of pairs; the tests hold them equal.)
 * F and G are floor sums, computed in O(log) steps by floor_sum below. */

/* Σ_{x=0}^{n-1} ⌊(a*x + b)/c⌋, c > 0: the Euclid-like reduction (swap the roles of a and c each round). Every
 * partial sum is a part of the total, which stays below N^2 here, so uint64 does not overflow. */
static uint64_t floor_sum(uint64_t n, uint64_t c, uint64_t a, uint64_t b)
{
    uint64_t s = 0;
    while (n) {
        if (a >= c) {
            s += (n * (n - 1) / 2) * (a / c);
            a %= c;
        }
        if (b >= c) {
            s += n * (b / c);
            b %= c;
        }
        uint64_t top = a * n + b;
        if (top < c)
            break;
        n = top / c;
        b = top % c;
        uint64_t tmp = c;
        c = a;
        a = tmp;
    }
    return s;
}

static void io_row(attn_io *io, const char *tensor, uint64_t rd, uint64_t wr)
{
    io->row[io->n++] = (attn_io_row){tensor, rd, wr};
    io->rd += rd;
    io->wr += wr;
}

void attn_io_closed_form(const attn_params *p, bool backward, attn_io *out)
{
    attn_check_params(p);
    memset(out, 0, sizeof *out);
    if (backward) {
        attn_backward_closed_form(p, out);
        return;
    }
    const uint64_t N = p->N, d = p->d, Br = p->Br, Bc = p->Bc, BH = (uint64_t)p->B * p->H;
    const uint64_t Tr = ceil_div(p->N, p->Br), Tc = ceil_div(p->N, p->Bc), Nd = N * d;
    uint64_t tiles = Tr * Tc;   /* per head */

    switch (p->algo) {
    case ATTN_STANDARD: {
        /* Phase S: for each i, load Qi once and every Kj, write every Sij: Q Nd, K Tr*Nd, S N^2 written.
         * Softmax: read each row of S once if it fits in Si (N <= Br*Bc), else three passes (max, sum,
         * normalize); write P: N^2. PV: for each i, read every Pij and Vj, write Oi: P N^2, V Tr*Nd, O Nd.
         * No causal skipping: standard attention materializes all N^2 scores. */
        unsigned passes = N <= Br * Bc ? 1 : 3;
        out->softmax_passes = passes;
        io_row(out, "Q", BH * Nd, 0);
        io_row(out, "K", BH * Tr * Nd, 0);
        io_row(out, "V", BH * Tr * Nd, 0);
        io_row(out, "O", 0, BH * Nd);
        io_row(out, "S", BH * passes * N * N, BH * N * N);
        io_row(out, "P", BH * N * N, BH * N * N);
        break;
    }
    case ATTN_FLASH1: {
        /* Line 2 writes O, l, m once (Nd + 2N). Line 6 loads each Kj, Vj once (Nd each). Each visited tile loads
         * Qi, Oi, li, mi (line 8) and writes Oi, li, mi (lines 12-13): rows-of-Qi * (d, d, 1, 1) each way.
         * Non-causal every tile is visited: R = Tc*N. */
        uint64_t R = Tc * N;
        if (p->causal) {
            uint64_t F = floor_sum(Tc, Br, Bc, 0);
            tiles = Tc * Tr - F;
            R = Tc * N - Br * F;
        }
        io_row(out, "Q", BH * R * d, 0);
        io_row(out, "K", BH * Nd, 0);
        io_row(out, "V", BH * Nd, 0);
        io_row(out, "O", BH * R * d, BH * (Nd + R * d));
        io_row(out, "m", BH * R, BH * (N + R));
        io_row(out, "l", BH * R, BH * (N + R));
        break;
    }
    default: {
        /* Line 4 loads each Qi once (Nd); line 7 loads Kj, Vj for each visited tile (key rows * d each); lines
         * 14-15 write Oi and Li once (Nd + N). Non-causal: C = Tr*N. */
        uint64_t C = Tr * N;
        if (p->causal) {
            uint64_t G = floor_sum(Tr - 1, Bc, Br, Br - 1);
            uint64_t f = (Tc - 1) * Bc / Br;
            uint64_t X = Tr - 1 > f ? Tr - 1 - f : 0;
            tiles = Tc + (Tr - 1) + G;
            C = N + Bc * ((Tr - 1) + G) - X * (Tc * Bc - N);
        }
        io_row(out, "Q", BH * Nd, 0);
        io_row(out, "K", BH * C * d, 0);
        io_row(out, "V", BH * C * d, 0);
        io_row(out, "O", 0, BH * Nd);
        io_row(out, "L", 0, BH * N);
        break;
    }
    }
    out->tiles = BH * tiles;
    out->skipped = BH * (Tr * Tc - tiles);
}
