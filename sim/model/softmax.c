/* softmax.c — naive, safe (3 passes) and online (2 passes) softmax on the memory model (see include/model/softmax.h). */
#include "softmax.h"

#include <math.h>
#include <stdio.h>

#include "util.h"

const char *softmax_algo_name(softmax_algo a)
{
    static const char *const names[] = {"naive", "safe", "online"};
    return names[a];
}

softmax_state softmax_state_empty(void) { return (softmax_state){-INFINITY, 0.0f}; }

softmax_state softmax_online_update(softmax_state s, const float *x, size_t n)
{
    if (n == 0)
        return s;
    float m_block = -INFINITY;
    for (size_t k = 0; k < n; k++)
        m_block = fmaxf(m_block, x[k]);
    float m_new = fmaxf(s.m, m_block);
    if (m_new == -INFINITY)        /* nothing finite yet: e^(−inf − (−inf)) would be NaN */
        return s;
    float sum = expf(x[0] - m_new);     /* the block's own sum first: fp32 error (Bc + Tc) ulps, not N */
    for (size_t k = 1; k < n; k++)
        sum += expf(x[k] - m_new);
    return (softmax_state){m_new, s.l * expf(s.m - m_new) + sum};   /* rescale the old sum to the new max */
}

softmax_state softmax_merge(softmax_state a, softmax_state b)
{
    float m = fmaxf(a.m, b.m);
    if (m == -INFINITY)
        return softmax_state_empty();
    return (softmax_state){m, a.l * expf(a.m - m) + b.l * expf(b.m - m)};
}

/* ---- blocks ---------------------------------------------------------------------------------------------------- */

static size_t stats_per_row(softmax_algo a) { return a == SOFTMAX_NAIVE ? 1 : 2; }

size_t softmax_sram_need(softmax_algo a, size_t Br, size_t Bc, dtype_t dt)
{
    size_t tile, stats;
    if (!size_mul_ok(Br, Bc, &tile) || !size_mul_ok(tile, dtype_size(dt), &tile) ||
        !size_mul_ok(Br, stats_per_row(a) * sizeof(float), &stats) || !size_add_ok(tile, stats, &tile))
        return SIZE_MAX;
    return tile;
}

int softmax_choose_blocks(softmax_algo a, size_t M_bytes, size_t R, size_t N, dtype_t dt, size_t Br_req,
                          size_t Bc_req, softmax_blocks *out, char *err, size_t errlen)
{
    size_t s = dtype_size(dt), st = stats_per_row(a) * sizeof(float);
    *out = (softmax_blocks){0, 0, 0, ""};
    if (Br_req > R || Bc_req > N) {
        snprintf(err, errlen, "block %s = %zu is larger than the %s (%zu)", Br_req > R ? "rows Br" : "cols Bc",
                 Br_req > R ? Br_req : Bc_req, Br_req > R ? "number of rows" : "row length N", Br_req > R ? R : N);
        return -1;
    }
    size_t Br = Br_req, Bc = Bc_req;
    if (!Br)   /* as many rows as fit with their statistics and at least one column each (or Bc_req columns) */
        Br = min_size(R, M_bytes / (st + s * (Bc ? Bc : 1)));
    if (Br && !Bc && M_bytes >= Br * st)
        Bc = min_size(N, (M_bytes - Br * st) / (Br * s));
    size_t need = Br && Bc ? softmax_sram_need(a, Br, Bc, dt) : SIZE_MAX;
    if (need > M_bytes) {
        size_t br = Br ? Br : 1, bc = Bc ? Bc : 1;
        size_t least = softmax_sram_need(a, br, bc, dt);
        snprintf(err, errlen, "SRAM too small: a %zu x %zu tile of %s plus %zu statistics per row needs %zu bytes, "
                 "M = %zu: the smallest SRAM that fits is -M %zu", br, bc, dtype_name(dt), stats_per_row(a), least,
                 M_bytes, least);
        return -1;
    }
    *out = (softmax_blocks){Br, Bc, need, ""};
    snprintf(out->rule, sizeof out->rule, "Br=%zu row%s %s and Bc=%zu column%s %s: the tile and %zu fp32 "
             "statistic%s per row use %zu of M=%zu bytes", Br, Br > 1 ? "s" : "",
             Br_req ? "as given" : Br == R ? (R == 1 ? "(the one row)" : "(all rows, in parallel)") : "(as many as fit, in parallel)", Bc,
             Bc > 1 ? "s" : "", Bc_req ? "as given" : Bc == N ? "(whole rows)" : "(the widest tile that fits)",
             stats_per_row(a), stats_per_row(a) > 1 ? "s" : "", need, M_bytes);
    return 0;
}

/* ---- the passes ------------------------------------------------------------------------------------------------ */

typedef struct {
    mem_t *m;
    hbm_mat x, y;
    size_t R, N, Br, Bc, Tr, Tc;
    float *X, *mi, *li;       /* SRAM: the tile Xij and the statistics of its rows */
    bool data;                /* false in count-only mode: loops and counts only */
} sm_ctx;

/* The tile (i, j): rows r0 .. r0+rows, columns c0 .. c0+cols. */
static void tile_of(const sm_ctx *c, size_t i, size_t j, size_t *r0, size_t *rows, size_t *c0, size_t *cols)
{
    *r0 = i * c->Br;
    *rows = min_size(c->Br, c->R - *r0);
    *c0 = j * c->Bc;
    *cols = min_size(c->Bc, c->N - *c0);
}

/* Naive: e = exp(x) into HBM; ℓ = Σ e; y = e / ℓ. No max is subtracted, so e overflows to inf for large x. */
static void naive_rows(sm_ctx *c, size_t i, hbm_mat e)
{
    size_t r0, rows, c0, cols;
    mem_phase(c->m, "exp");
    for (size_t j = 0; j < c->Tc; j++) {
        tile_of(c, i, j, &r0, &rows, &c0, &cols);
        mem_step(c->m, (long)i, (long)j, "e = exp(x)");
        hbm_load_tile(c->m, c->X, c->x, r0, rows, c0, cols, "Xij");
        if (c->data)
            for (size_t k = 0; k < rows * cols; k++)
                c->X[k] = expf(c->X[k]);
        mem_compute(c->m, "e = exp(x)", 0, rows * cols);
        hbm_store_tile(c->m, e, r0, rows, c0, cols, c->X, "Eij");   /* rounds to e's dtype: inf past its max */
    }
    mem_phase(c->m, "sum");
    for (size_t r = 0; c->data && r < c->Br; r++)
        c->li[r] = 0.0f;
    for (size_t j = 0; j < c->Tc; j++) {
        tile_of(c, i, j, &r0, &rows, &c0, &cols);
        mem_step(c->m, (long)i, (long)j, "l += sum(e)");
        hbm_load_tile(c->m, c->X, e, r0, rows, c0, cols, "Eij");
        if (c->data)
            for (size_t r = 0; r < rows; r++) {
                float sum = c->X[r * cols];
                for (size_t k = 1; k < cols; k++)
                    sum += c->X[r * cols + k];
                c->li[r] += sum;
            }
        mem_compute(c->m, "l += sum(e)", rows * cols, 0);
        mem_rows(c->m, 0, 0, r0, rows, NULL, c->li);
    }
    mem_phase(c->m, "divide");
    for (size_t j = 0; j < c->Tc; j++) {
        tile_of(c, i, j, &r0, &rows, &c0, &cols);
        mem_step(c->m, (long)i, (long)j, "y = e / l");
        hbm_load_tile(c->m, c->X, e, r0, rows, c0, cols, "Eij");
        if (c->data)
            for (size_t r = 0; r < rows; r++)
                for (size_t k = 0; k < cols; k++)
                    c->X[r * cols + k] /= c->li[r];
        mem_compute(c->m, "y = e / l", rows * cols, 0);
        hbm_store_tile(c->m, c->y, r0, rows, c0, cols, c->X, "Yij");
    }
}

/* The last pass of safe and online softmax: y = e^(x − m) / ℓ with the row's final m and ℓ. */
static void normalize_rows(sm_ctx *c, size_t i)
{
    size_t r0, rows, c0, cols;
    mem_phase(c->m, "normalize");
    for (size_t j = 0; j < c->Tc; j++) {
        tile_of(c, i, j, &r0, &rows, &c0, &cols);
        mem_step(c->m, (long)i, (long)j, "y = exp(x - m) / l");
        hbm_load_tile(c->m, c->X, c->x, r0, rows, c0, cols, "Xij");
        if (c->data)
            for (size_t r = 0; r < rows; r++)
                for (size_t k = 0; k < cols; k++)
                    c->X[r * cols + k] = expf(c->X[r * cols + k] - c->mi[r]) / c->li[r];
        mem_compute(c->m, "y = exp(x - m) / l", 2 * rows * cols, rows * cols);
        hbm_store_tile(c->m, c->y, r0, rows, c0, cols, c->X, "Yij");
    }
}

/* Safe: pass 1 m = max x; pass 2 ℓ = Σ e^(x − m); pass 3 normalize. Each pass reads the whole row again. */
static void safe_rows(sm_ctx *c, size_t i)
{
    size_t r0, rows, c0, cols;
    for (size_t r = 0; c->data && r < c->Br; r++) {
        c->mi[r] = -INFINITY;
        c->li[r] = 0.0f;
    }
    mem_phase(c->m, "max");
    for (size_t j = 0; j < c->Tc; j++) {
        tile_of(c, i, j, &r0, &rows, &c0, &cols);
        mem_step(c->m, (long)i, (long)j, "m = max(m, max(x))");
        hbm_load_tile(c->m, c->X, c->x, r0, rows, c0, cols, "Xij");
        if (c->data)
            for (size_t r = 0; r < rows; r++)
                for (size_t k = 0; k < cols; k++)
                    c->mi[r] = fmaxf(c->mi[r], c->X[r * cols + k]);
        mem_compute(c->m, "m = max(m, max(x))", rows * cols, 0);
        mem_rows(c->m, 0, 0, r0, rows, c->mi, c->li);
    }
    mem_phase(c->m, "sum");
    for (size_t j = 0; j < c->Tc; j++) {
        tile_of(c, i, j, &r0, &rows, &c0, &cols);
        mem_step(c->m, (long)i, (long)j, "l += sum(exp(x - m))");
        hbm_load_tile(c->m, c->X, c->x, r0, rows, c0, cols, "Xij");
        if (c->data)
            for (size_t r = 0; r < rows; r++) {
                const float *x = c->X + r * cols;
                float sum = expf(x[0] - c->mi[r]);   /* the block's sum, then into l: (Bc + Tc) ulps, not N */
                for (size_t k = 1; k < cols; k++)
                    sum += expf(x[k] - c->mi[r]);     /* the max is subtracted only for numerical safety */
                c->li[r] += sum;
            }
        mem_compute(c->m, "l += sum(exp(x - m))", 2 * rows * cols, rows * cols);
        mem_rows(c->m, 0, 0, r0, rows, c->mi, c->li);
    }
    normalize_rows(c, i);
}

/* Online: pass 1 updates (m, ℓ) block by block (softmax_online_update); pass 2 normalizes. */
static void online_rows(sm_ctx *c, size_t i, softmax_probe probe, void *ctx)
{
    size_t r0, rows, c0, cols;
    for (size_t r = 0; c->data && r < c->Br; r++) {
        c->mi[r] = -INFINITY;
        c->li[r] = 0.0f;
    }
    mem_phase(c->m, "max_sum");
    for (size_t j = 0; j < c->Tc; j++) {
        tile_of(c, i, j, &r0, &rows, &c0, &cols);
        mem_step(c->m, (long)i, (long)j, "m, l = update(m, l, x)");
        hbm_load_tile(c->m, c->X, c->x, r0, rows, c0, cols, "Xij");
        if (c->data)
            for (size_t r = 0; r < rows; r++) {
                const float *row = c->X + r * cols;
                softmax_state before = {c->mi[r], c->li[r]};
                softmax_state after = softmax_online_update(before, row, cols);
                c->mi[r] = after.m;
                c->li[r] = after.l;
                if (probe) {
                    float m_block = -INFINITY;
                    for (size_t k = 0; k < cols; k++)
                        m_block = fmaxf(m_block, row[k]);
                    probe(r0 + r, j, before, after, m_block, ctx);
                }
            }
        mem_compute(c->m, "m, l = update(m, l, x)", rows * (3 * cols + 3), rows * (cols + 1));
        mem_rows(c->m, 0, 0, r0, rows, c->mi, c->li);
    }
    normalize_rows(c, i);
}

void softmax_run(mem_t *m, softmax_algo a, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc, softmax_probe probe,
                 void *ctx)
{
    sm_ctx c = {.m = m, .x = hbm_whole(x), .y = hbm_whole(y), .Br = Br, .Bc = Bc, .data = !mem_count_only(m)};
    c.R = c.x.rows;
    c.N = c.x.cols;
    if (c.y.rows != c.R || c.y.cols != c.N)
        fl_internal("softmax of a %zu x %zu x into a %zu x %zu y", c.R, c.N, c.y.rows, c.y.cols);
    if (Br < 1 || Bc < 1 || Br > c.R || Bc > c.N)
        fl_internal("softmax blocks %zu x %zu for %zu rows of %zu", Br, Bc, c.R, c.N);
    c.Tr = ceil_div(c.R, Br);
    c.Tc = ceil_div(c.N, Bc);

    dtype_t dt = hbm_dtype(x);
    c.X = sram_alloc(m, Br * Bc, dt, "Xij");
    c.li = sram_alloc(m, Br, DTYPE_FP32, "li");
    if (a != SOFTMAX_NAIVE)
        c.mi = sram_alloc(m, Br, DTYPE_FP32, "mi");
    hbm_tensor *e = a == SOFTMAX_NAIVE ? hbm_alloc_mat(m, "e", dt, c.R, c.N) : NULL;

    for (size_t i = 0; i < c.Tr; i++) {
        if (a == SOFTMAX_NAIVE)
            naive_rows(&c, i, hbm_whole(e));
        else if (a == SOFTMAX_SAFE)
            safe_rows(&c, i);
        else
            online_rows(&c, i, probe, ctx);
    }
    mem_phase(m, "main");
    if (e)
        hbm_free(m, e);
    sram_free(m, c.mi);
    sram_free(m, c.li);
    sram_free(m, c.X);
}

void softmax_closed_form(softmax_algo a, size_t R, size_t N, size_t Br, size_t Bc, softmax_io *out)
{
    uint64_t RN = (uint64_t)R * N, Tc = ceil_div(N, Bc);
    *out = (softmax_io){0};
    out->tiles = (uint64_t)ceil_div(R, Br) * Tc;
    out->wr_y = RN;
    switch (a) {
    case SOFTMAX_NAIVE:   /* exp: read x, write e; sum: read e; divide: read e, write y */
        out->rd_x = RN;
        out->wr_e = RN;
        out->rd_e = 2 * RN;
        out->flops = 2 * RN;
        out->exps = RN;
        out->passes = 3;
        break;
    case SOFTMAX_SAFE:    /* max: RN compares; sum: sub + add, exp; normalize: sub + div, exp */
        out->rd_x = 3 * RN;
        out->flops = 5 * RN;
        out->exps = 2 * RN;
        out->passes = 3;
        break;
    case SOFTMAX_ONLINE:  /* pass 1: 3n + 3 FLOPs, n + 1 exps per row and block; pass 2 as safe's normalize */
        out->rd_x = 2 * RN;
        out->flops = 3 * RN + 3 * R * Tc + 2 * RN;
        out->exps = RN + R * Tc + RN;
        out->passes = 2;
        break;
    }
    out->rd = out->rd_x + out->rd_e;
    out->wr = out->wr_e + out->wr_y;
}
