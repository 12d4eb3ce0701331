/* lab_attn.c — one attention run on a fresh memory model, and ledger comparisons (include/lab/lab_attn.h). */
#include "lab_attn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

lab_attn lab_attn_plan(const cli_cfg *cfg, attn_algo a, bool backward, const block_rule *rule)
{
    lab_attn r = {.backward = backward, .cfg = *cfg};
    r.p = (attn_params){.algo = a, .B = cfg->B, .N = cfg->N, .H = cfg->H, .d = cfg->d, .causal = cfg->causal,
                        .threads = cfg->threads};
    char err[512];
    block_rule br = rule ? *rule : attn_block_rule(a, backward);
    if (attn_choose_blocks_rule(&r.p, backward, cfg->M_bytes, cfg->dtype, cfg->Br, cfg->Bc, br, &r.bc, err,
                                sizeof err))
        fl_fatal("%s%s: %s", attn_algo_name(a), backward ? " backward" : "", err);
    r.Tr = ceil_div(cfg->N, r.p.Br);
    r.Tc = ceil_div(cfg->N, r.p.Bc);
    return r;
}

bool lab_attn_fits(const cli_cfg *cfg, attn_algo a, bool backward, size_t Br, size_t Bc)
{
    attn_params p = {.algo = a, .B = cfg->B, .N = cfg->N, .H = cfg->H, .d = cfg->d, .causal = cfg->causal};
    block_choice bc;
    char err[512];
    return attn_choose_blocks(&p, backward, cfg->M_bytes, cfg->dtype, Br, Bc, &bc, err, sizeof err) == 0;
}

mem_t *lab_attn_model(lab_t *L, lab_attn *r)
{
    r->m = mem_create(r->cfg.M_bytes, r->cfg.count_only);
    if (!r->backward)
        lab_watch(L, r->m);
    return r->m;
}

static void upload(hbm_tensor *t, const lab_inputs *in, int x)
{
    if (t && in && in->x[x])
        hbm_upload(t, in->x[x]);
}

void lab_attn_open(lab_t *L, lab_attn *r, const lab_inputs *in)
{
    if (!r->m)
        lab_attn_model(L, r);
    r->in = in;
    if (r->api) {   /* the caller's tensors only: flash_attn_func allocates O and L, the backward dQ, dK, dV */
        if (r->p.algo != ATTN_FLASH2)
            fl_internal("lab: flash_attn_func runs flash2, not %s", attn_algo_name(r->p.algo));
        const attn_params *p = &r->p;
        r->t = (attn_tensors){.q = hbm_alloc_bnhd(r->m, "Q", r->cfg.dtype, p->B, p->N, p->H, p->d),
                              .k = hbm_alloc_bnhd(r->m, "K", r->cfg.dtype, p->B, p->N, p->H, p->d),
                              .v = hbm_alloc_bnhd(r->m, "V", r->cfg.dtype, p->B, p->N, p->H, p->d)};
    } else {
        r->t = attn_alloc(r->m, &r->p, r->cfg.dtype, r->backward);
    }
    hbm_tensor *dst[4] = {r->t.q, r->t.k, r->t.v, r->backward ? r->t.dout : NULL};
    for (int x = 0; x < 4; x++)
        upload(dst[x], in, x);
}

/* The pass through flash_attn_func (and flash_attn_backward), on r's blocks; r->t gets every tensor of the call. */
static void api_pass(lab_attn *r, bool backward)
{
    char err[512];
    if (!backward) {
        flash_attn fa = {.Br = r->p.Br, .Bc = r->p.Bc};
        long left = r->p.window ? (long)r->p.window - 1 : -1;   /* window_size = (W - 1, 0) with causal */
        if (flash_attn_func_window(r->m, r->t.q, r->t.k, r->t.v, 0.0, r->p.scale, r->p.causal, left, -1, &fa, err,
                                   sizeof err))
            fl_fatal("%s", err);
        r->t = fa.t;
        return;
    }
    flash_attn fa = {.Br = r->p.Br, .Bc = r->p.Bc, .out = r->t.out, .lse = r->t.lse, .fwd = r->p, .t = r->t};
    if (flash_attn_backward(r->m, &fa, r->t.dout, err, sizeof err))
        fl_fatal("%s", err);
    r->t = fa.t;
}

static float *download(const hbm_tensor *t)
{
    float *x = xmalloc(hbm_numel(t) * sizeof *x);
    hbm_download(t, x);
    return x;
}

void lab_attn_run(lab_t *L, lab_attn *r)
{
    if (r->backward) {   /* the forward saves what the backward needs; only the backward is counted */
        if (r->api) {
            api_pass(r, false);
            r->t.dout = hbm_alloc_bnhd(r->m, "dO", r->cfg.dtype, r->p.B, r->p.N, r->p.H, r->p.d);
            upload(r->t.dout, r->in, 3);
        } else {
            attn_forward(r->m, &r->p, &r->t);
        }
        r->fwd_hbm_peak = mem_hbm_peak(r->m);
        mem_ledger_reset(r->m);
        lab_watch(L, r->m);
        mem_note(r->m, "%s: %s backward", r->cfg.lesson ? r->cfg.lesson : "lab", attn_algo_name(r->p.algo));
    }
    if (r->map)
        mem_observe(r->m, tilemap_paint_step, r->map);
    if (r->api)
        api_pass(r, r->backward);
    else if (r->backward)
        attn_backward(r->m, &r->p, &r->t);
    else
        attn_forward(r->m, &r->p, &r->t);
    if (r->map)
        mem_unobserve(r->m, tilemap_paint_step, r->map);
    if (r->map && r->p.window)   /* a window's map shows its band; causal maps keep their look */
        tilemap_mark_masked(r->map, &r->p);
    if (r->walk) {
        tilemap *map = tilewalk_close(r->walk);
        r->walk = NULL;
        if (r->map)
            tilemap_free(map);
        else
            r->map = map;
    }
    attn_io_closed_form(&r->p, r->backward, &r->io);
    r->closed_ok = lab_ledger_matches(r->m, &r->io);
    if (r->cfg.count_only)
        return;
    if (r->backward) {
        r->g[0] = download(r->t.dq);
        r->g[1] = download(r->t.dk);
        r->g[2] = download(r->t.dv);
    } else {
        r->o = download(r->t.out);
        r->lse = r->t.lse ? download(r->t.lse) : NULL;
    }
}

tilemap *lab_attn_map(const lab_t *L, const lab_attn *r)
{
    return L->show && r->Tr * r->Tc <= LAB_MAP_MAX_TILES ? tilemap_create(r->Tr, r->Tc) : NULL;
}

void lab_attn_walk(lab_attn *r, tilewalk_view view, tilewalk_fn after_tile, void *ctx)
{
    r->walk = tilewalk_open(r->m, r->Tr, r->Tc, view, stdout, after_tile, ctx);
}

void lab_attn_go(lab_t *L, lab_attn *r, const lab_inputs *in)
{
    lab_attn_open(L, r, in);
    lab_attn_run(L, r);
}

void lab_attn_free(lab_attn *r)
{
    tilemap_free(r->map);
    r->map = NULL;
    if (r->m) {
        attn_free(r->m, &r->t);
        mem_destroy(r->m);
        r->m = NULL;
    }
    free(r->o), free(r->lse);
    r->o = r->lse = NULL;
    for (int x = 0; x < 3; x++) {
        free(r->g[x]);
        r->g[x] = NULL;
    }
}

bool lab_ledger_matches(const mem_t *m, const attn_io *io)
{
    io_count tot = mem_io(m, NULL, NULL);
    bool ok = tot.rd_elems == io->rd && tot.wr_elems == io->wr && mem_flops(m, NULL) == io->flops_mm + io->flops_ew &&
              mem_exps(m, NULL) == io->exps;
    for (size_t k = 0; k < io->n; k++) {
        io_count c = mem_io(m, io->row[k].tensor, NULL);
        ok = ok && c.rd_elems == io->row[k].rd && c.wr_elems == io->row[k].wr;
    }
    return ok;
}

attn_io_row lab_io_row(const attn_io *io, const char *tensor)
{
    for (size_t k = 0; k < io->n; k++)
        if (!strcmp(io->row[k].tensor, tensor))
            return io->row[k];
    return (attn_io_row){tensor, 0, 0};
}

bool lab_attn_identical(const lab_attn *a, const lab_attn *b, bool *counts)
{
    size_t n = a->t.out ? hbm_numel(a->t.out) : 0, nl = a->t.lse ? hbm_numel(a->t.lse) : 0;
    bool c = lab_same_counts(a->m, b->m);
    if (counts)
        *counts = c;
    if (!a->o || !b->o)
        return c;
    return c && !memcmp(a->o, b->o, n * sizeof *a->o) && (!a->lse || !memcmp(a->lse, b->lse, nl * sizeof *a->lse));
}

static uint64_t nans(const float *x, const hbm_tensor *t)
{
    uint64_t n = 0;
    for (size_t i = 0; x && i < hbm_numel(t); i++)
        n += isnan(x[i]) != 0;
    return n;
}

uint64_t lab_attn_nans(const lab_attn *r)
{
    return nans(r->o, r->t.out) + nans(r->lse, r->t.lse) + nans(r->g[0], r->t.dq) + nans(r->g[1], r->t.dk) +
           nans(r->g[2], r->t.dv);
}

uint64_t lab_masked_rows(const attn_params *p, uint64_t *before_window)
{
    uint64_t rows = 0, early = 0;
    size_t Tr = ceil_div(p->N, p->Br), Tc = ceil_div(p->N, p->Bc), W = p->window;
    for (size_t i = 0; i < Tr; i++)
        for (size_t j = 0; j < Tc; j++)
            if (!attn_tile_skipped(p, i, j)) {
                size_t q0 = i * p->Br, qr = min_size(p->Br, p->N - q0), k0 = j * p->Bc;
                size_t k1 = min_size(k0 + p->Bc, p->N) - 1, q_end = q0 + qr;
                rows += k0 > q0 ? min_size(k0 - q0, qr) : 0;   /* queries before the tile's first key */
                if (W && W < p->N && q_end > k1 + W)              /* queries r >= k1 + W: the window starts later */
                    early += q_end - max_size(q0, k1 + W);
            }
    if (before_window)
        *before_window = early;
    return rows + early;
}

bool lab_same_counts(const mem_t *a, const mem_t *b)
{
    bool ok = mem_flops(a, NULL) == mem_flops(b, NULL) && mem_exps(a, NULL) == mem_exps(b, NULL) &&
              sram_peak(a) == sram_peak(b) && mem_ntensors(a) == mem_ntensors(b);
    for (size_t x = 0; x < mem_ntensors(a); x++) {
        io_count ca = mem_io(a, mem_tensor_name(a, x), NULL), cb = mem_io(b, mem_tensor_name(a, x), NULL);
        ok = ok && !memcmp(&ca, &cb, sizeof ca);
    }
    return ok;
}

void lab_sum_begin(summary_t *s, const lab_attn *r, const char *algo)
{
    summary_begin(s, &r->cfg, algo, r->p.Br, r->p.Bc);
    summary_ledger(s, r->m);
}

void lab_sum_run(summary_t *s, const char *prefix, const lab_attn *r, unsigned keys)
{
    lab_sum_u64_prefixed(s, prefix, "Br", r->p.Br);
    lab_sum_u64_prefixed(s, prefix, "Bc", r->p.Bc);
    lab_sum_ledger(s, prefix, r->m, keys);
}

