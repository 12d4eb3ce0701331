/* attn_common.c — what the attention algorithms share (see attn_common.h): parameter checks, SRAM plans, the
 * parallel runner, tile arithmetic and closed-form helpers. Knows no particular algorithm. */
#include "attn_common.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- parameters and tensors ----------------------------------------------------------------------------------- */

void attn_check_params(const attn_params *p)
{
    size_t n;
    if ((unsigned)p->algo >= ATTN_NALGOS)
        fl_internal("attention algorithm %d is not in the table (include/model/algos.def)", (int)p->algo);
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
    if (p->window && !p->causal)
        fl_fatal("a sliding window (window=%zu) is causal's mask with a lower edge: set causal too", p->window);
}

float attn_scale(const attn_params *p) { return (float)(p->scale ? p->scale : 1.0 / sqrt((double)p->d)); }

void attn_need(const hbm_tensor *x, const char *name, const char *algo)
{
    if (!x)
        fl_internal("%s needs tensor %s; allocate the tensors with attn_alloc for this algorithm", algo, name);
}

/* Queries q0..q1 see keys lo..q1 between them (lo = q0 + 1 - W with a window, else 0): every row's own range
 * (r - W, r] is a piece of it, and the pieces of neighbouring rows overlap. Keys k0..k1 are all visible to every
 * query when k1 <= q0 (causal) and k0 > q1 - W (the window). */
attn_tile_kind attn_tile_mask(const attn_params *p, size_t i, size_t j)
{
    if (!p->causal)
        return ATTN_TILE_FULL;
    size_t q0 = i * p->Br, q1 = min_size(q0 + p->Br, p->N) - 1, k0 = j * p->Bc, k1 = min_size(k0 + p->Bc, p->N) - 1;
    size_t W = p->window;
    if (k0 > q1 || (W && q0 + 1 > W && k1 < q0 + 1 - W))
        return ATTN_TILE_SKIPPED;
    return k1 <= q0 && (!W || W > q1 - k0) ? ATTN_TILE_FULL : ATTN_TILE_PARTIAL;
}

bool attn_tile_skipped(const attn_params *p, size_t i, size_t j)
{
    return attn_tile_mask(p, i, j) == ATTN_TILE_SKIPPED;
}

/* ---- SRAM plans ----------------------------------------------------------------------------------------------- */

/* Saturating size arithmetic: a plan too large to count is "SIZE_MAX bytes", which no M holds. */
static size_t sat_mul(size_t a, size_t b)
{
    size_t r;
    return size_mul_ok(a, b, &r) ? r : SIZE_MAX;
}

void attn_plan_add(sram_plan *pl, size_t k, const char *name, size_t rows, size_t cols, dtype_t dt)
{
    size_t elems = sat_mul(rows, cols);
    if (k != pl->n || k >= sizeof pl->buf / sizeof pl->buf[0])
        fl_internal("SRAM plan buffer %s at index %zu after %zu buffers (at most %zu)", name, k, pl->n,
                    sizeof pl->buf / sizeof pl->buf[0]);
    pl->buf[pl->n++] = (sram_buf_spec){name, elems, dt};
    size_t b = sat_mul(elems, dtype_size(dt));
    pl->bytes = (b > SIZE_MAX - pl->bytes) ? SIZE_MAX : pl->bytes + b;
}

static size_t plan_dim(char c, size_t Br, size_t Bc, size_t d)
{
    switch (c) {
    case 'r':
        return Br;
    case 'c':
        return Bc;
    case 'd':
        return d;
    case '1':
        return 1;
    }
    fl_internal("SRAM plan dimension '%c' (r, c, d or 1)", c);
}

void attn_plan_table(sram_plan *pl, const attn_buf *bufs, size_t n, size_t Br, size_t Bc, size_t d, dtype_t dt)
{
    *pl = (sram_plan){.n = 0};
    for (size_t k = 0; k < n; k++) {
        if (!bufs[k].name)
            fl_internal("SRAM plan table: no buffer at index %zu of %zu", k, n);
        attn_plan_add(pl, k, bufs[k].name, plan_dim(bufs[k].rows, Br, Bc, d), plan_dim(bufs[k].cols, Br, Bc, d),
                      bufs[k].fp32 ? DTYPE_FP32 : dt);
    }
}

void attn_plan_max(sram_plan *out, const sram_plan *x)
{
    if (!out->n || x->bytes > out->bytes)
        *out = *x;
}

void attn_plan_alloc(mem_t *m, const sram_plan *pl, float **buf)
{
    for (size_t k = 0; k < pl->n; k++)
        buf[k] = sram_alloc(m, pl->buf[k].elems, pl->buf[k].dt, pl->buf[k].name);
}

void attn_plan_free(mem_t *m, const sram_plan *pl, float **buf)
{
    for (size_t k = pl->n; k-- > 0;)
        sram_free(m, buf[k]);
}

/* ---- running: serially on m, or items on OpenMP workers ------------------------------------------------------- */

void attn_run(mem_t *m, const attn_params *p, attn_tensors *t, const sram_plan *plan, size_t nitems,
              attn_item_fn fn)
{
    float *buf[sizeof plan->buf / sizeof plan->buf[0]];
    int threads = p->threads;
#ifdef _OPENMP
    if (threads <= 0)
        threads = omp_get_max_threads();
#endif
    /* A trace must come out in program order; one item gains nothing from a worker. */
    if (mem_observed(m) || threads <= 1 || nitems <= 1) {
        if (plan)
            attn_plan_alloc(m, plan, buf);
        for (size_t x = 0; x < nitems; x++)
            fn(m, p, t, plan ? buf : NULL, x);
        if (plan)
            attn_plan_free(m, plan, buf);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) private(buf)
    {
        mem_t *w = mem_fork(m);
        if (plan)
            attn_plan_alloc(w, plan, buf);
        /* Every item writes its own rows of the outputs and nothing else: no floating-point value is summed
         * across threads, so outputs are bitwise the same for any thread count, and counts are integer sums. */
#pragma omp for schedule(dynamic, 1)
        for (long x = 0; x < (long)nitems; x++)
            fn(w, p, t, plan ? buf : NULL, (size_t)x);
        if (plan)
            attn_plan_free(w, plan, buf);
#pragma omp critical(flashlab_attn_join)
        mem_join(m, w);
    }
#endif
}

/* ---- arithmetic on SRAM tiles --------------------------------------------------------------------------------- */

void attn_scores(float *Sij, const float *Qi, const float *Kj, size_t qr, size_t kc, size_t d, float scale,
                 bool causal, size_t q0, size_t k0)
{
    tile_qkt(Qi, Kj, qr, kc, d, scale, Sij);
    if (causal)   /* row r sees keys up to q0 + r: columns from q0 + r + 1 - k0 on are masked */
        for (size_t r = 0; r < qr; r++)
            for (size_t c = q0 + r + 1 > k0 ? q0 + r + 1 - k0 : 0; c < kc; c++)
                Sij[r * kc + c] = -INFINITY;
}

void attn_mask_window(float *Sij, size_t qr, size_t kc, size_t W, size_t q0, size_t k0)
{
    for (size_t r = 0; W && r < qr; r++)   /* row r sees keys from q0 + r + 1 - W on: columns before that are masked */
        for (size_t c = 0; c < kc && q0 + r + 1 > W && k0 + c < q0 + r + 1 - W; c++)
            Sij[r * kc + c] = -INFINITY;
}

/* ---- closed forms --------------------------------------------------------------------------------------------- */

uint64_t attn_mul(uint64_t a, uint64_t b)
{
    if (a && b > UINT64_MAX / a)
        fl_fatal("the closed-form ledger overflows 64 bits (N, B or H too large)");
    return a * b;
}

void attn_io_add(attn_io *io, const char *tensor, uint64_t rd, uint64_t wr)
{
    size_t k = 0;
    while (k < io->n && strcmp(io->row[k].tensor, tensor))
        k++;
    if (k == io->n) {
        if (io->n == sizeof io->row / sizeof io->row[0])
            fl_internal("closed form with more than %zu tensors", sizeof io->row / sizeof io->row[0]);
        io->row[io->n++] = (attn_io_row){tensor, 0, 0};
    }
    if (rd > UINT64_MAX - io->row[k].rd || wr > UINT64_MAX - io->row[k].wr)
        fl_fatal("the closed-form ledger overflows 64 bits (N, B or H too large)");
    io->row[k].rd += rd;
    io->row[k].wr += wr;
}

/* The Euclid-like reduction (swap the roles of a and c each round). Every partial sum is a part of the total,
 * which stays below N^2 here, so uint64 does not overflow. */
uint64_t attn_floor_sum(uint64_t n, uint64_t c, uint64_t a, uint64_t b)
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

void attn_kv_sweep(const attn_params *p, uint64_t *tiles, uint64_t *rows)
{
    const uint64_t N = p->N, Br = p->Br, Bc = p->Bc, Tr = ceil_div(p->N, p->Br), Tc = ceil_div(p->N, p->Bc);
    uint64_t F = p->causal ? attn_floor_sum(Tc, Br, Bc, 0) : 0;
    *tiles = Tc * Tr - F;
    *rows = Tc * N - Br * F;
}

void attn_kv_sums(const attn_params *p, uint64_t *keys, uint64_t *entries)
{
    const uint64_t N = p->N, Br = p->Br, Bc = p->Bc, Tr = ceil_div(p->N, p->Br), Tc = ceil_div(p->N, p->Bc);
    uint64_t tiles, rows, fL = p->causal ? (Tc - 1) * Bc / Br : 0, kcL = N - (Tc - 1) * Bc;
    attn_kv_sweep(p, &tiles, &rows);
    uint64_t tL = Tr - fL, RL = N - Br * fL;
    *keys = attn_mul(Bc, tiles - tL) + kcL * tL;
    *entries = attn_mul(Bc, rows - RL) + attn_mul(kcL, RL);
}

void attn_kv_io(const attn_params *p, attn_io *io, uint64_t *R, uint64_t *C, uint64_t *E)
{
    uint64_t tiles;
    attn_kv_sweep(p, &tiles, R);
    attn_kv_sums(p, C, E);
    io->tiles = tiles;
    io->skipped = attn_mul(ceil_div(p->N, p->Br), ceil_div(p->N, p->Bc)) - tiles;
}

void attn_bwd_sweep(mem_t *m, const attn_params *p, attn_tensors *t, size_t item, const sram_plan *pl,
                    void (*tile)(const attn_tile *x))
{
    static const char *const kv_names[4] = {"Kj", "Vj", "dKj", "dVj"};
    for (size_t k = 0; k < 4; k++)
        if (pl->n < 4 || strcmp(pl->buf[k].name, kv_names[k]))
            fl_internal("a backward plan must start with Kj, Vj, dKj, dVj (buffer %zu)", k);
    size_t b = item / p->H, h = item % p->H, N = p->N, d = p->d, Br = p->Br, Bc = p->Bc;
    size_t Tr = ceil_div(N, Br), Tc = ceil_div(N, Bc);
    hbm_mat K = hbm_head(t->k, b, h), V = hbm_head(t->v, b, h), dK = hbm_head(t->dk, b, h), dV = hbm_head(t->dv, b, h);
    float *buf[sizeof pl->buf / sizeof pl->buf[0]];
    attn_plan_alloc(m, pl, buf);
    float *Kj = buf[0], *Vj = buf[1], *dKj = buf[2], *dVj = buf[3];
    attn_tile x = {.m = m, .p = p, .t = t, .b = b, .h = h, .buf = buf, .scale = attn_scale(p),
                   .real = !mem_count_only(m)};

    for (size_t j = 0; j < Tc; j++) {                                  /* FA1 Alg.4 line 6, FA2 Alg.2 line 5 */
        x.j = j, x.c0 = j * Bc, x.nc = min_size(Bc, N - x.c0);
        hbm_load_rows(m, Kj, K, x.c0, x.nc, "Kj");                      /* load Kj, Vj */
        hbm_load_rows(m, Vj, V, x.c0, x.nc, "Vj");
        if (x.real) {                                                   /* dKj = 0, dVj = 0 on chip */
            memset(dKj, 0, Bc * d * sizeof *dKj);
            memset(dVj, 0, Bc * d * sizeof *dVj);
        }
        for (size_t i = 0; i < Tr; i++) {                              /* FA1 line 9, FA2 line 8 */
            x.i = i, x.r0 = i * Br, x.nr = min_size(Br, N - x.r0);
            if (attn_tile_skipped(p, i, j)) {
                mem_step(m, (long)i, (long)j, ATTN_STEP_SKIP);
                continue;
            }
            mem_step(m, (long)i, (long)j, "tile");
            tile(&x);
        }
        hbm_store_rows(m, dK, x.c0, x.nc, dKj, "dKj");                  /* FA1 line 24, FA2 line 18 */
        hbm_store_rows(m, dV, x.c0, x.nc, dVj, "dVj");
    }
    attn_plan_free(m, pl, buf);
}
