/* decode.c — one new token per sequence against a KV cache (Flash-Decoding: Dao, Haziza, Massa, Sizov 2023).
 *
 * Decoding is attention with one query row: Sij is G x Bc instead of Br x Bc, so there is almost nothing to compute
 * and the whole cost is reading K and V once. Two ideas make that read as small and as parallel as it can be:
 *   grouped-query heads  the G = Hq/Hkv query heads that share a KV head are loaded together (Qg, G x d) and the
 *                        cache streams past them once, not G times: K+V reads drop from 2·B·Hq·N·d to 2·B·Hkv·N·d;
 *   split-KV             B·Hkv passes are too few pieces of work for a GPU's SMs when B is small, so each pass is cut
 *                        into S splits along the cache; each split is FA2's row block (online softmax, Oi unnormalized
 *                        until the end) and writes its normalized Oi and log-sum-exp Li; kernel 2 merges the S
 *                        partials of a row with lesson02's merge: m = max(m, Ls), ℓ = ℓ·e^(m_old − m) + e^(Ls − m),
 *                        Oi = Oi·e^(m_old − m) + Os·e^(Ls − m) (each partial enters as the state (Ls, ℓ = 1)).
 * A paged cache changes only where rows are: row n of sequence b is row n % P of page block_table[b][n / P]; a split
 * reads the table entry of each page it touches, once, and a chunk that crosses a page edge is gathered in pieces.
 * Every piece of work writes its own rows and nothing else, so pieces run in parallel with bitwise equal results.
 */
#include "decode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "tile_math.h"
#include "util.h"

static inline float sub(float m) { return m == -INFINITY ? 0.0f : m; }

/* R rows of online-softmax state before their first key: mi = -inf, li = 0, Oi = 0. */
static void rows_start(size_t R, size_t d, float *mi, float *li, float *Oi)
{
    for (size_t r = 0; r < R; r++) {
        mi[r] = -INFINITY;
        li[r] = 0;
        for (size_t x = 0; x < d; x++)
            Oi[r * d + x] = 0;
    }
}

int decode_check(const decode_params *p, char *err, size_t errlen)
{
    size_t n;
    if (!p->B || !p->N || !p->Hq || !p->Hkv || !p->d || !p->splits)
        return fl_err(err, errlen, "decode shape B=%zu N=%zu Hq=%zu Hkv=%zu d=%zu S=%zu: every size must be at least 1",
                    p->B, p->N, p->Hq, p->Hkv, p->d, p->splits);
    if (p->Hq % p->Hkv)
        return fl_err(err, errlen, "%zu query heads do not split evenly over %zu KV heads: Hq must be a multiple of Hkv",
                    p->Hq, p->Hkv);
    if (p->splits > p->N)
        return fl_err(err, errlen, "%zu splits of a %zu-token cache: S must lie in 1..N, every split holding a row",
                    p->splits, p->N);
    /* The largest count: the FLOPs 4·B·Hq·N·d (and S·B·Hq·d, S <= N, is smaller). */
    if (!size_mul4_ok(p->B, p->Hq, p->N, p->d, &n) || !size_mul_ok(n, 4, &n))
        return fl_err(err, errlen, "decode shape B=%zu N=%zu Hq=%zu d=%zu: its counts (4·B·Hq·N·d FLOPs) overflow 64 bits",
                    p->B, p->N, p->Hq, p->d);
    if (p->page_size && (!size_mul_ok(p->B, ceil_div(p->N, p->page_size), &n) || n > DECODE_MAX_PAGES))
        return fl_err(err, errlen, "%zu sequences of %zu pages of %zu rows: more than %zu pages", p->B,
                    ceil_div(p->N, p->page_size), p->page_size, DECODE_MAX_PAGES);
    if (!(p->scale >= 0) || isinf(p->scale))
        return fl_err(err, errlen, "softmax scale %g must be finite and >= 0 (0 means 1/sqrt(d))", p->scale);
    return 0;
}

static void check_or_die(const decode_params *p)
{
    char err[256];
    if (decode_check(p, err, sizeof err))
        fl_fatal("%s", err);
}

size_t decode_group(const decode_params *p) { return p->Hq / p->Hkv; }
size_t decode_units(const decode_params *p) { return p->grouped ? p->Hkv : p->Hq; }
size_t decode_split_start(const decode_params *p, size_t s) { return (size_t)((uint64_t)s * p->N / p->splits); }
size_t decode_pages_per_seq(const decode_params *p) { return p->page_size ? ceil_div(p->N, p->page_size) : 0; }

static float attn_scale_of(const decode_params *p)
{
    return (float)(p->scale ? p->scale : 1.0 / sqrt((double)p->d));
}

/* ---- SRAM plans: the buffers each kernel allocates, in order; the code takes them by these indices ------------ */
enum { KV_Qg, KV_Kj, KV_Vj, KV_Sij, KV_Oi, KV_mi, KV_li, KV_bt, KV_NBUF };
enum { MG_Os, MG_Ls, MG_Oi, MG_mi, MG_li, MG_NBUF };

typedef struct {
    const char *name;
    size_t elems;
    dtype_t dt;
} buf_spec;
typedef struct {
    buf_spec buf[KV_NBUF];
    size_t n, bytes;
} buf_plan;

static size_t rows_per_pass(const decode_params *p) { return p->grouped ? decode_group(p) : 1; }

static void add(buf_plan *pl, const char *name, size_t elems, dtype_t dt)
{
    pl->buf[pl->n++] = (buf_spec){name, elems, dt};
    pl->bytes += elems * dtype_size(dt);
}

static void kv_plan(const decode_params *p, dtype_t dt, size_t Bc, buf_plan *pl)
{
    size_t R = rows_per_pass(p), d = p->d;
    *pl = (buf_plan){.n = 0};
    add(pl, "Qg", R * d, dt);
    add(pl, "Kj", Bc * d, dt);
    add(pl, "Vj", Bc * d, dt);
    add(pl, "Sij", R * Bc, DTYPE_FP32);
    add(pl, "Oi", R * d, DTYPE_FP32);
    add(pl, "mi", R, DTYPE_FP32);
    add(pl, "li", R, DTYPE_FP32);
    if (p->page_size)
        add(pl, "bt", 1, DTYPE_FP32);   /* the block-table entry of the page being read */
}

static void merge_plan(const decode_params *p, buf_plan *pl)
{
    size_t R = rows_per_pass(p), d = p->d;
    *pl = (buf_plan){.n = 0};
    add(pl, "Os", R * d, DTYPE_FP32);
    add(pl, "Ls", R, DTYPE_FP32);
    add(pl, "Oi", R * d, DTYPE_FP32);
    add(pl, "mi", R, DTYPE_FP32);
    add(pl, "li", R, DTYPE_FP32);
}

size_t decode_sram_need(const decode_params *p, dtype_t dt, size_t Bc)
{
    buf_plan kv, mg;
    kv_plan(p, dt, Bc, &kv);
    merge_plan(p, &mg);
    return p->splits > 1 ? max_size(kv.bytes, mg.bytes) : kv.bytes;
}

int decode_choose_block(decode_params *p, size_t M_bytes, dtype_t dt, size_t Bc_req, char *err, size_t errlen)
{
    if (decode_check(p, err, errlen))
        return -1;
    size_t Bc = Bc_req;
    if (!Bc) {
        /* Kernel 1's bytes grow with each cache row of the chunk (a row of Kj and of Vj, a column of Sij); the
         * merge's do not. The most rows that fit, but no more than the longest split holds. */
        buf_plan kv0;
        kv_plan(p, dt, 0, &kv0);
        size_t per_row = 2 * p->d * dtype_size(dt) + rows_per_pass(p) * sizeof(float);
        Bc = M_bytes > kv0.bytes ? min_size((M_bytes - kv0.bytes) / per_row, ceil_div(p->N, p->splits)) : 0;
    }
    size_t need = decode_sram_need(p, dt, max_size(Bc, 1));
    if (!Bc || need > M_bytes)
        return fl_err(err, errlen, "SRAM too small: decode chunks of Bc=%zu cache rows beside G=%zu query rows (d=%zu, "
                    "%s) need %zu bytes, M = %zu bytes: the smallest SRAM that fits is -M %zu", max_size(Bc, 1),
                    rows_per_pass(p), p->d, dtype_name(dt), need, M_bytes, need);
    p->Bc = Bc;
    return 0;
}

/* ---- tensors ------------------------------------------------------------------------------------------------- */
decode_tensors decode_alloc(mem_t *m, const decode_params *p, dtype_t dt, const size_t *table, size_t npages)
{
    check_or_die(p);
    decode_tensors t;
    memset(&t, 0, sizeof t);
    size_t BH = p->B * p->Hq, pps = decode_pages_per_seq(p);
    t.q = hbm_alloc_mat(m, "Q", dt, BH, p->d);
    if (!p->page_size) {
        t.k = hbm_alloc_bnhd(m, "K", dt, p->B, p->N, p->Hkv, p->d);
        t.v = hbm_alloc_bnhd(m, "V", dt, p->B, p->N, p->Hkv, p->d);
    } else {
        t.npages = npages ? npages : p->B * pps;
        if (t.npages > DECODE_MAX_PAGES)
            fl_fatal("a pool of %zu pages: at most %zu", t.npages, DECODE_MAX_PAGES);
        t.table = xmalloc(p->B * pps * sizeof *t.table);
        for (size_t x = 0; x < p->B * pps; x++) {
            t.table[x] = table ? table[x] : x;
            if (t.table[x] >= t.npages)
                fl_fatal("block table entry %zu (sequence %zu, page %zu) is %zu: the pool has %zu pages", x, x / pps,
                         x % pps, t.table[x], t.npages);
        }
        t.k = hbm_alloc_bnhd(m, "K", dt, t.npages, p->page_size, p->Hkv, p->d);
        t.v = hbm_alloc_bnhd(m, "V", dt, t.npages, p->page_size, p->Hkv, p->d);
        t.block_table = hbm_alloc_mat(m, "block_table", DTYPE_FP32, p->B, pps);
        if (!mem_count_only(m)) {
            float *f = xmalloc(p->B * pps * sizeof *f);
            for (size_t x = 0; x < p->B * pps; x++)
                f[x] = (float)t.table[x];
            hbm_upload(t.block_table, f);
            free(f);
        }
    }
    if (p->splits > 1) {
        t.o_split = hbm_alloc_mat(m, "O_split", DTYPE_FP32, p->splits * BH, p->d);
        t.l_split = hbm_alloc_mat(m, "L_split", DTYPE_FP32, p->splits * BH, 1);
    }
    t.o = hbm_alloc_mat(m, "O", dt, BH, p->d);
    return t;
}

void decode_free(mem_t *m, decode_tensors *t)
{
    hbm_tensor *all[] = {t->q, t->k, t->v, t->o, t->o_split, t->l_split, t->block_table};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i])
            hbm_free(m, all[i]);
    free(t->table);
    memset(t, 0, sizeof *t);
}

size_t decode_table_shared(const decode_params *p, size_t shared, size_t *table)
{
    size_t pps = decode_pages_per_seq(p);
    shared = p->B >= 2 ? min_size(shared, pps) : 0;
    size_t npages = p->B * pps - shared;
    for (size_t x = 0, next = 0; x < p->B * pps; x++)
        table[x] = x / pps == 1 && x % pps < shared ? table[x % pps] : npages - 1 - next++;
    return npages;
}

void decode_upload(decode_tensors *t, const decode_params *p, const float *q, const float *k, const float *v)
{
    if (!q || !k || !v)
        return;   /* count-only: no data */
    hbm_upload(t->q, q);
    if (!p->page_size) {
        hbm_upload(t->k, k);
        hbm_upload(t->v, v);
        return;
    }
    size_t P = p->page_size, row = p->Hkv * p->d, pps = decode_pages_per_seq(p), n = t->npages * P * row;
    float *kp = xcalloc(n, sizeof *kp), *vp = xcalloc(n, sizeof *vp);
    for (size_t b = 0; b < p->B; b++)
        for (size_t r = 0; r < p->N; r++) {
            size_t dst = (t->table[b * pps + r / P] * P + r % P) * row, src = (b * p->N + r) * row;
            memcpy(kp + dst, k + src, row * sizeof *kp);
            memcpy(vp + dst, v + src, row * sizeof *vp);
        }
    hbm_upload(t->k, kp);
    hbm_upload(t->v, vp);
    free(kp);
    free(vp);
}

/* ---- kernel 1: one split of one pass over a KV head ---------------------------------------------------------- */

/* Rows c0 .. c0+kc-1 of KV head h of sequence b into Kj, Vj. Paged: piece by piece, one page at a time, reading the
 * block-table entry of each page the split has not looked up yet (*page: the logical page whose entry is in bt). */
static void load_chunk(mem_t *m, const decode_params *p, decode_tensors *t, float *const *buf, size_t b, size_t h,
                       size_t c0, size_t kc, size_t *page)
{
    if (!p->page_size) {
        hbm_load_rows(m, buf[KV_Kj], hbm_head(t->k, b, h), c0, kc, "Kj");
        hbm_load_rows(m, buf[KV_Vj], hbm_head(t->v, b, h), c0, kc, "Vj");
        return;
    }
    size_t P = p->page_size, d = p->d;
    for (size_t r = c0; r < c0 + kc;) {
        size_t lp = r / P, piece = min_size(c0 + kc, (lp + 1) * P) - r;
        if (lp != *page) {
            mem_note(m, "paged: read block_table[%zu][%zu]", b, lp);
            hbm_load_tile(m, buf[KV_bt], hbm_whole(t->block_table), b, 1, lp, 1, "bt");
            *page = lp;
        }
        /* The page the entry names; count-only buffers hold no data, so there the host's copy of the table says. */
        size_t phys = mem_count_only(m) ? t->table[b * decode_pages_per_seq(p) + lp] : (size_t)buf[KV_bt][0];
        if (phys >= t->npages)
            fl_fatal("internal: block table gives page %zu of %zu", phys, t->npages);
        hbm_load_rows(m, buf[KV_Kj] + (r - c0) * d, hbm_head(t->k, phys, h), r - lp * P, piece, "Kj");
        hbm_load_rows(m, buf[KV_Vj] + (r - c0) * d, hbm_head(t->v, phys, h), r - lp * P, piece, "Vj");
        r += piece;
    }
}

static void kv_split(mem_t *m, const decode_params *p, decode_tensors *t, float *const *buf, size_t item)
{
    size_t S = p->splits, U = decode_units(p), G = decode_group(p), R = rows_per_pass(p), d = p->d, Bc = p->Bc;
    size_t s = item % S, g = item / S % U, b = item / S / U;
    size_t h0 = p->grouped ? g * G : g, h = h0 / G, q0 = b * p->Hq + h0;   /* first query head, its KV head, row */
    size_t n0 = decode_split_start(p, s), n1 = decode_split_start(p, s + 1), page = SIZE_MAX;
    float *Qg = buf[KV_Qg], *Kj = buf[KV_Kj], *Vj = buf[KV_Vj], *Sij = buf[KV_Sij], *Oi = buf[KV_Oi],
          *mi = buf[KV_mi], *li = buf[KV_li];
    float scale = attn_scale_of(p);
    bool real = !mem_count_only(m);

    /* FD kernel 1: load the query rows of the heads that share KV head h (Qg: G x d, once per split). */
    mem_note(m, "kv: sequence %zu, KV head %zu, split %zu: cache rows %zu..%zu, query heads %zu..%zu", b, h, s, n0,
             n1 - 1, h0, h0 + R - 1);
    hbm_load_rows(m, Qg, hbm_whole(t->q), q0, R, "Qg");
    /* FA2 Alg.1 line 5: on chip, Oi = 0, li = 0, mi = -inf. */
    if (real)
        rows_start(R, d, mi, li, Oi);

    for (size_t c0 = n0; c0 < n1; c0 += Bc) {                          /* this split's chunks of the cache */
        size_t kc = min_size(Bc, n1 - c0);
        mem_step(m, (long)(b * U + g), (long)s, "kv chunk");
        /* FA2 Alg.1 line 7: load Kj, Vj (rows c0 .. c0+kc-1 of KV head h), once for all R query rows. */
        load_chunk(m, p, t, buf, b, h, c0, kc, &page);

        /* FA2 Alg.1 line 8: Sij = scale Qg Kj^T (R x kc: the G heads' scores against the chunk). */
        if (real)
            tile_qkt(Qg, Kj, R, kc, d, scale, Sij);
        mem_compute(m, "Sij = Qg Kj^T", 2 * (uint64_t)R * kc * d + (uint64_t)R * kc, 0);

        /* FA2 Alg.1 lines 9-10, FA2's own row update: m_new = max(mi, rowmax Sij), P~ = e^(Sij - m_new),
         * li = e^(mi - m_new) li + rowsum P~, Oi = e^(mi - m_new) Oi + P~ Vj (unnormalized until the end). */
        if (real)
            tile_softmax_pv_update(Sij, R, kc, Vj, d, mi, li, Oi);
        mem_compute(m, "mi, P~ij, li", (uint64_t)R * (3 * kc + 2), (uint64_t)R * kc + R);
        mem_compute(m, "Oi = a Oi + P~ij Vj", 2 * (uint64_t)R * kc * d + (uint64_t)R * d, 0);
    }

    /* FA2 Alg.1 lines 12-13: Oi = Oi / li, and (S > 1) Li = mi + log li in mi's buffer. Every split holds a key. */
    if (real)
        for (size_t r = 0; r < R; r++) {
            for (size_t x = 0; x < d; x++)
                Oi[r * d + x] /= li[r];
            if (S > 1)
                mi[r] += logf(li[r]);
        }
    mem_compute(m, S > 1 ? "Oi /= li, Li" : "Oi /= li", (uint64_t)R * d + (S > 1 ? R : 0), S > 1 ? R : 0);
    if (S == 1) {
        /* One split: Oi is the answer. Write o. */
        hbm_store_rows(m, hbm_whole(t->o), q0, R, Oi, "Oi");
    } else {
        /* FD kernel 1, split s: write the partial Oi and its log-sum-exp Li for kernel 2. */
        hbm_store_rows(m, hbm_whole(t->o_split), s * p->B * p->Hq + q0, R, Oi, "Oi");
        hbm_store_rows(m, hbm_whole(t->l_split), s * p->B * p->Hq + q0, R, mi, "Li");
    }
}

/* ---- kernel 2: merge the S partials of the rows of one pass -------------------------------------------------- */
static void merge_rows(mem_t *m, const decode_params *p, decode_tensors *t, float *const *buf, size_t item)
{
    size_t U = decode_units(p), G = decode_group(p), R = rows_per_pass(p), d = p->d;
    size_t g = item % U, b = item / U, h0 = p->grouped ? g * G : g, q0 = b * p->Hq + h0;
    float *Os = buf[MG_Os], *Ls = buf[MG_Ls], *Oi = buf[MG_Oi], *mi = buf[MG_mi], *li = buf[MG_li];
    bool real = !mem_count_only(m);

    mem_note(m, "merge: sequence %zu, query heads %zu..%zu, %zu partials", b, h0, h0 + R - 1, p->splits);
    if (real)
        rows_start(R, d, mi, li, Oi);
    for (size_t s = 0; s < p->splits; s++) {
        mem_step(m, (long)(b * U + g), (long)s, "merge");
        /* FD kernel 2: load split s's partial Os and its log-sum-exp Ls. */
        hbm_load_rows(m, Os, hbm_whole(t->o_split), s * p->B * p->Hq + q0, R, "Os");
        hbm_load_rows(m, Ls, hbm_whole(t->l_split), s * p->B * p->Hq + q0, R, "Ls");
        /* lesson02's merge with the state (Ls, 1): m_new = max(mi, Ls), a = e^(mi - m_new), c = e^(Ls - m_new),
         * li = a li + c, Oi = a Oi + c Os. */
        if (real)
            for (size_t r = 0; r < R; r++) {
                float m_new = fmaxf(mi[r], Ls[r]);
                float a = expf(mi[r] - sub(m_new)), c = expf(Ls[r] - sub(m_new));
                li[r] = a * li[r] + c;
                for (size_t x = 0; x < d; x++)
                    Oi[r * d + x] = a * Oi[r * d + x] + c * Os[r * d + x];
                mi[r] = m_new;
            }
        mem_compute(m, "merge: Oi = a Oi + c Os", (uint64_t)R * (3 * d + 5), 2 * (uint64_t)R);
    }
    /* O = Oi / li: the weights e^(Ls - m)/li sum to 1. Write o. */
    if (real)
        for (size_t r = 0; r < R; r++)
            for (size_t x = 0; x < d; x++)
                Oi[r * d + x] /= li[r];
    mem_compute(m, "merge: O = Oi / li", (uint64_t)R * d, 0);
    hbm_store_rows(m, hbm_whole(t->o), q0, R, Oi, "Oi");
}

/* ---- running the pieces of work ------------------------------------------------------------------------------ */
typedef void (*item_fn)(mem_t *m, const decode_params *p, decode_tensors *t, float *const *buf, size_t item);

static void plan_alloc(mem_t *m, const buf_plan *pl, float **buf)
{
    for (size_t k = 0; k < pl->n; k++)
        buf[k] = sram_alloc(m, pl->buf[k].elems, pl->buf[k].dt, pl->buf[k].name);
}

static void plan_free(mem_t *m, const buf_plan *pl, float **buf)
{
    for (size_t k = pl->n; k-- > 0;)
        sram_free(m, buf[k]);
}

/* fn(item) for item = 0 .. n-1: on m in order when observed (traces stay in program order) or on one thread, else
 * on OpenMP workers with their own SRAM and ledger, joined exactly. Items write disjoint rows. */
static void run_items(mem_t *m, const decode_params *p, decode_tensors *t, const buf_plan *pl, size_t n, item_fn fn)
{
    float *buf[KV_NBUF];
    int threads = p->threads;
#ifdef _OPENMP
    if (threads <= 0)
        threads = omp_get_max_threads();
#endif
    if (mem_observed(m) || threads <= 1 || n <= 1) {
        plan_alloc(m, pl, buf);
        for (size_t x = 0; x < n; x++)
            fn(m, p, t, buf, x);
        plan_free(m, pl, buf);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) private(buf)
    {
        mem_t *w = mem_fork(m);
        plan_alloc(w, pl, buf);
#pragma omp for schedule(dynamic, 1)
        for (long x = 0; x < (long)n; x++)
            fn(w, p, t, buf, (size_t)x);
        plan_free(w, pl, buf);
#pragma omp critical(flashlab_decode_join)
        mem_join(m, w);
    }
#endif
}

void decode_run(mem_t *m, const decode_params *p, decode_tensors *t)
{
    check_or_die(p);
    dtype_t dt = hbm_dtype(t->q);
    if (!p->Bc)
        fl_fatal("internal: decode with Bc = 0; decode_choose_block sets it");
    if (decode_sram_need(p, dt, p->Bc) > mem_sram_capacity(m))
        fl_fatal("SRAM too small: decode with Bc=%zu needs %zu bytes, M = %zu bytes", p->Bc,
                 decode_sram_need(p, dt, p->Bc), mem_sram_capacity(m));
    if ((p->splits > 1 && (!t->o_split || !t->l_split)) || (p->page_size && !t->block_table))
        fl_fatal("internal: decode tensors do not match the shape; allocate them with decode_alloc");
    buf_plan kv, mg;
    kv_plan(p, dt, p->Bc, &kv);
    merge_plan(p, &mg);
    size_t pieces = p->B * decode_units(p);
    mem_phase(m, "kv");
    run_items(m, p, t, &kv, p->splits * pieces, kv_split);
    if (p->splits > 1) {
        mem_phase(m, "merge");
        run_items(m, p, t, &mg, pieces, merge_rows);
    }
}

/* ---- the closed form, from the two kernels' loops (not from the code above) ---------------------------------- */
static void row(decode_io *io, const char *tensor, uint64_t rd, const char *rd_how, uint64_t wr, const char *wr_how)
{
    io->row[io->n++] = (decode_io_row){tensor, rd, wr, rd_how, wr_how};
    io->rd += rd;
    io->wr += wr;
}

void decode_closed_form(const decode_params *p, decode_io *out)
{
    check_or_die(p);
    uint64_t B = p->B, N = p->N, Hq = p->Hq, d = p->d, S = p->splits, U = p->grouped ? p->Hkv : p->Hq;
    memset(out, 0, sizeof *out);
    /* Split s holds ⌊(s+1)N/S⌋ − ⌊sN/S⌋ rows: N mod S splits of ⌊N/S⌋ + 1 rows, the rest of ⌊N/S⌋. */
    uint64_t q = N / S, r = N % S, Bc = p->Bc;
    uint64_t chunks = r * ((q + 1 + Bc - 1) / Bc) + (S - r) * ((q + Bc - 1) / Bc);   /* per pass, over its splits */
    row(out, "Q", S * B * Hq * d, "S·B·Hq·d", 0, "");          /* every split loads its rows of q */
    row(out, "K", B * U * N * d, p->grouped ? "B·Hkv·N·d" : "B·Hq·N·d", 0, "");           /* every cache row once per pass */
    row(out, "V", B * U * N * d, p->grouped ? "B·Hkv·N·d" : "B·Hq·N·d", 0, "");
    if (p->page_size) {
        /* Split s reads one entry per page it touches: the ⌈N/P⌉ pages once each, plus one more for every split
         * boundary ⌊sN/S⌋ (s = 1 .. S-1) that falls inside a page, whose page the splits on both sides read. */
        uint64_t P = p->page_size, touched = (N + P - 1) / P;
        for (uint64_t s = 1; s < S; s++)
            touched += (s * N / S) % P != 0;
        row(out, "block_table", B * U * touched, p->grouped ? "B·Hkv·(⌈N/P⌉ + cut pages)" : "B·Hq·(⌈N/P⌉ + cut pages)", 0, "");
    }
    if (S > 1) {
        row(out, "O_split", S * B * Hq * d, "S·B·Hq·d", S * B * Hq * d, "S·B·Hq·d");   /* kernel 1 writes, kernel 2 reads */
        row(out, "L_split", S * B * Hq, "S·B·Hq", S * B * Hq, "S·B·Hq");
    }
    row(out, "O", 0, "", B * Hq * d, "B·Hq·d");
    out->chunks = chunks;
    /* mem.h's FLOP convention, per chunk of kc rows and R query rows: Sij 2·R·kc·d + R·kc (the scale); line 9
     * R·(3kc + 2) (max, subtract, sum; m_new and li's update) with R·kc + R exps; line 10 2·R·kc·d + R·d (the rescale).
     * Summed: kc over a pass is N, R over a sequence's passes is Hq, chunks per pass C. Each split's end: R·d divides,
     * and with S > 1 R adds and R logs (exps) for Li. Merge, per partial and row: 3d + 5 FLOPs (a·Oi + c·Os, a max,
     * two subtracts, a·li + c) and 2 exps; then d divides per row. */
    out->flops = B * Hq * (4 * N * d + 4 * N + chunks * (d + 2)) + S * B * Hq * d +
                 (S > 1 ? S * B * Hq + S * B * Hq * (3 * d + 5) + B * Hq * d : 0);
    out->exps = B * Hq * (N + chunks) + (S > 1 ? S * B * Hq + 2 * S * B * Hq : 0);
}

/* ---- what the lesson reasons with ---------------------------------------------------------------------------- */
/* Dense (no sparsity) fp16/bf16 tensor-core peaks and HBM bandwidth from NVIDIA's data sheets. */
const decode_gpu decode_gpus[] = {
    {"A100 SXM 40GB", 312, 1.555, 108, "NVIDIA A100 data sheet: FP16 tensor 312 TFLOP/s dense, 1,555 GB/s"},
    {"A100 SXM 80GB", 312, 2.039, 108, "NVIDIA A100 data sheet: FP16 tensor 312 TFLOP/s dense, 2,039 GB/s"},
    {"H100 SXM", 989, 3.35, 132, "NVIDIA H100 data sheet: BF16/FP16 tensor 1,979 TFLOP/s with sparsity (989 dense), 3.35 TB/s"},
    {"H200 SXM", 989, 4.8, 132, "NVIDIA H200 data sheet: BF16/FP16 tensor 1,979 TFLOP/s with sparsity (989 dense), 4.8 TB/s"},
};
const size_t decode_ngpus = sizeof decode_gpus / sizeof decode_gpus[0];

decode_cache_bytes decode_cache_size(size_t B, size_t N, size_t n_max, size_t P, size_t shared_rows, size_t Hkv,
                                     size_t d, dtype_t dt)
{
    uint64_t row = 2 * (uint64_t)Hkv * d * dtype_size(dt);   /* one token's K and V */
    uint64_t pages = (uint64_t)B * ceil_div(N, P), shared = B >= 2 ? min_size(shared_rows, N) / P : 0;
    return (decode_cache_bytes){.used = (uint64_t)B * N * row,
                                .contiguous = (uint64_t)B * n_max * row,
                                .paged = pages * P * row,
                                .paged_shared = (pages - shared) * P * row};
}
