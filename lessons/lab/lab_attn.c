/* lab_attn.c — one attention run on a fresh memory model, and ledger comparisons (include/lab/lab_attn.h). */
#include "lab_attn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"  // defines: ref_attention_bnhd, ref_attention_lowp_bnhd, ref_attention_backward*
#include "rng.h"
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

void lab_attn_open(lab_t *L, lab_attn *r, const lab_inputs *in)
{
    r->m = mem_create(r->cfg.M_bytes, r->cfg.count_only);
    if (!r->backward)
        lab_watch(L, r->m);
    r->t = attn_alloc(r->m, &r->p, r->cfg.dtype, r->backward);
    hbm_tensor *dst[4] = {r->t.q, r->t.k, r->t.v, r->backward ? r->t.dout : NULL};
    for (int x = 0; in && x < 4; x++)
        if (dst[x] && in->x[x])
            hbm_upload(dst[x], in->x[x]);
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
        attn_forward(r->m, &r->p, &r->t);
        r->fwd_hbm_peak = mem_hbm_peak(r->m);
        mem_ledger_reset(r->m);
        lab_watch(L, r->m);
        mem_note(r->m, "%s: %s backward", r->cfg.lesson ? r->cfg.lesson : "lab", attn_algo_name(r->p.algo));
    }
    if (r->map)
        mem_observe(r->m, tilemap_paint_step, r->map);
    if (r->backward)
        attn_backward(r->m, &r->p, &r->t);
    else
        attn_forward(r->m, &r->p, &r->t);
    if (r->map)
        mem_unobserve(r->m, tilemap_paint_step, r->map);
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
    bool ok = tot.rd_elems == io->rd && tot.wr_elems == io->wr;
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

uint64_t lab_masked_rows(const attn_params *p)
{
    uint64_t rows = 0;
    size_t Tr = ceil_div(p->N, p->Br), Tc = ceil_div(p->N, p->Bc);
    for (size_t i = 0; i < Tr; i++)   /* queries of a visited tile (i, j) before its first key */
        for (size_t j = 0; j < Tc; j++)
            if (!attn_tile_skipped(p, i, j)) {
                size_t q0 = i * p->Br, qr = min_size(p->Br, p->N - q0), k0 = j * p->Bc;
                rows += k0 > q0 ? min_size(k0 - q0, qr) : 0;
            }
    return rows;
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

void lab_attn_print_map(const lab_t *L, const lab_attn *r, const char *what)
{
    if (!L->show || !r->map)
        return;
    printf("  the %zu x %zu tiles of head 0%s:\n", r->Tr, r->Tc, what);
    tilemap_print(r->map, stdout, "  ");
}

void lab_attn_print_plan(const lab_t *L, const lab_attn *r)
{
    if (!L->say)
        return;
    sram_plan pl;
    dtype_t dt = r->cfg.dtype;
    attn_sram_plan(r->p.algo, r->backward, r->p.Br, r->p.Bc, r->p.d, dt, &pl);
    printf("  %-8s Br=%zu, Bc=%zu (Tr=%zu, Tc=%zu): %s\n           SRAM:", attn_algo_name(r->p.algo), r->p.Br,
           r->p.Bc, r->Tr, r->Tc, r->bc.rule);
    for (size_t k = 0; k < pl.n; k++)
        printf(" %s%s", pl.buf[k].name, pl.buf[k].dt == DTYPE_FP32 && dt != DTYPE_FP32 ? "(fp32)" : "");
    printf(" = %zu bytes\n", pl.bytes);
}

bool lab_attn_peaks(const lab_attn *const *runs, size_t n, size_t N, uint64_t *peak)
{
    for (size_t a = 0; a < n; a++) {
        cli_cfg c = runs[a]->cfg;
        c.N = N;
        c.count_only = true;
        c.trace = TRACE_NONE;
        c.Br = min_size(c.Br, N);
        c.Bc = min_size(c.Bc, N);
        lab_attn r = lab_attn_plan(&c, runs[a]->p.algo, runs[a]->backward, NULL);
        if (6.0 * (double)r.Tr * (double)r.Tc * (double)(c.B * c.H) > (double)LAB_SWEEP_MAX_TILES)
            return false;
        lab_attn_go(NULL, &r, NULL);
        peak[a] = mem_hbm_peak(r.m);
        lab_attn_free(&r);
    }
    return true;
}

void lab_attn_peak_table(const lab_t *L, const lab_attn *const *runs, size_t n, int sizes)
{
    if (!L->say)
        return;
    char b[32];
    printf("  %8s", "N");
    for (size_t a = 0; a < n; a++)
        printf(" %14s", attn_algo_name(runs[a]->p.algo));
    printf(" %12s\n", n > 1 ? "std / flash" : "");
    for (int k = 0; k < sizes; k++) {
        uint64_t peak[8];
        size_t N = runs[0]->p.N << k;
        if (n > 8 || !lab_attn_peaks(runs, n, N, peak)) {
            printf("  %8zu  (not run: too many tiles to walk)\n", N);
            continue;
        }
        printf("  %8zu", N);
        for (size_t a = 0; a < n; a++)
            printf(" %14s", fmt_bytes(peak[a], b, sizeof b));
        if (n > 1)
            printf(" %12.1f", (double)peak[0] / (double)peak[n - 1]);
        printf("\n");
    }
}

bool lab_attn_grads_check(const lab_t *L, const lab_attn *const *runs, size_t n, const lab_inputs *in,
                          double slack_ulps, double err[][3])
{
    const cli_cfg *cfg = L->cfg;
    lab_ref_grads ref = lab_ref_backward(cfg, in);
    bool ok = true;
    for (size_t a = 0; a < n; a++)
        for (int x = 0; x < 3; x++) {
            double walk = runs[a]->p.algo != ATTN_STANDARD && x == 0 ? sqrt((double)runs[a]->Tc) : 1.0, err_lp;
            double ulps = slack_ulps * (dtype_eps(cfg->dtype) * walk + dtype_eps(DTYPE_FP32) * sqrt((double)cfg->N));
            double ratio = lab_tridao_ratio(ref.g[x], runs[a]->g[x], ref.low[x], ref.mag[x], in->n, ulps, &err[a][x],
                                            &err_lp);
            ok = ok && ratio <= 1;
            lab_say(L, "  %-9s d%c   %12.3g %12.3g %12.2f  %s\n", attn_algo_name(runs[a]->p.algo), "QKV"[x],
                    err[a][x], err_lp, ratio, ratio <= 1 ? "ok" : "EXCEEDED");
        }
    lab_ref_grads_free(&ref);
    return ok;
}

void lab_sum_run(summary_t *s, const char *prefix, const lab_attn *r, unsigned keys)
{
    lab_sum_u64_prefixed(s, prefix, "Br", r->p.Br);
    lab_sum_u64_prefixed(s, prefix, "Bc", r->p.Bc);
    lab_sum_ledger(s, prefix, r->m, keys);
}

lab_ref lab_ref_attention(const cli_cfg *cfg, const lab_inputs *in, bool causal, bool lowp)
{
    lab_ref r = {.err_lowp = NAN, .o_max = NAN, .v_max = NAN, .lse_max = NAN};
    if (cfg->count_only || !in->x[0])
        return r;
    size_t n = in->n, nl = cfg->B * cfg->H * cfg->N;
    double scale = 1.0 / sqrt((double)cfg->d);
    r.o = xmalloc(n * sizeof *r.o);
    r.lse = xmalloc(nl * sizeof *r.lse);
    ref_attention_bnhd(in->x[0], in->x[1], in->x[2], cfg->B, cfg->N, cfg->H, cfg->d, scale, causal, r.o, r.lse);
    r.o_max = r.v_max = r.lse_max = 0;
    for (size_t x = 0; x < n; x++) {
        r.o_max = fmax(r.o_max, fabs(r.o[x]));
        r.v_max = fmax(r.v_max, fabs(in->x[2][x]));
    }
    for (size_t x = 0; x < nl; x++)
        r.lse_max = fmax(r.lse_max, fabs(r.lse[x]));
    if (lowp) {
        double *olow = xmalloc(n * sizeof *olow);
        ref_attention_lowp_bnhd(in->x[0], in->x[1], in->x[2], cfg->B, cfg->N, cfg->H, cfg->d, scale, causal,
                                cfg->dtype, olow);
        r.err_lowp = 0;
        for (size_t x = 0; x < n; x++)
            r.err_lowp = fmax(r.err_lowp, fabs(olow[x] - r.o[x]));
        free(olow);
    }
    return r;
}

lab_ref_grads lab_ref_backward(const cli_cfg *cfg, const lab_inputs *in)
{
    lab_ref_grads r = {{NULL}, {NULL}, {NULL}};
    size_t N = cfg->N, d = cfg->d, B = cfg->B, H = cfg->H, n = in->n;
    double scale = 1.0 / sqrt((double)d), *h[4], *o[3];
    for (int x = 0; x < 3; x++) {
        r.g[x] = xmalloc(n * sizeof(double));
        r.low[x] = xmalloc(n * sizeof(double));
        r.mag[x] = xmalloc(n * sizeof(double));
        o[x] = xmalloc(N * d * sizeof(double));
    }
    for (int x = 0; x < 4; x++)
        h[x] = xmalloc(N * d * sizeof(double));
    for (size_t b = 0; b < B; b++)
        for (size_t hh = 0; hh < H; hh++) {
            for (int x = 0; x < 4; x++)
                ref_head_get(in->x[x], B, N, H, d, b, hh, h[x]);
            ref_attention_backward(h[0], h[1], h[2], h[3], N, d, scale, cfg->causal, o[0], o[1], o[2]);
            for (int x = 0; x < 3; x++)
                ref_head_put(o[x], B, N, H, d, b, hh, r.g[x]);
            ref_attention_backward_lowp(h[0], h[1], h[2], h[3], N, d, scale, cfg->causal, cfg->dtype, o[0], o[1],
                                        o[2]);
            for (int x = 0; x < 3; x++)
                ref_head_put(o[x], B, N, H, d, b, hh, r.low[x]);
            ref_attention_backward_mag(h[0], h[1], h[2], h[3], N, d, scale, cfg->causal, o[0], o[1], o[2]);
            for (int x = 0; x < 3; x++)
                ref_head_put(o[x], B, N, H, d, b, hh, r.mag[x]);
        }
    for (int x = 0; x < 3; x++)
        free(o[x]);
    for (int x = 0; x < 4; x++)
        free(h[x]);
    return r;
}

static double loss(double *const X[4], size_t N, size_t d, double scale, bool causal, double *O)
{
    ref_attention(X[0], X[1], X[2], N, d, scale, causal, O, NULL);
    double s = 0;
    for (size_t i = 0; i < N * d; i++)
        s += O[i] * X[3][i];
    return s;
}

double lab_fd_check(const lab_t *L, const lab_inputs *in, float *const got[3], const char *name, int samples,
                    double h, double tol)
{
    const cli_cfg *cfg = L->cfg;
    size_t N = cfg->N, d = cfg->d, B = cfg->B, H = cfg->H;
    double scale = 1.0 / sqrt((double)d), *X[4], *G[3], *g[3], *O = xmalloc(N * d * sizeof *O), worst = 0;
    for (int x = 0; x < 4; x++) {
        X[x] = xmalloc(N * d * sizeof(double));
        ref_head_get(in->x[x], B, N, H, d, 0, 0, X[x]);
    }
    for (int x = 0; x < 3; x++) {
        G[x] = xmalloc(N * d * sizeof(double));
        g[x] = xmalloc(N * d * sizeof(double));
        ref_head_get(got[x], B, N, H, d, 0, 0, G[x]);
    }
    ref_attention_backward(X[0], X[1], X[2], X[3], N, d, scale, cfg->causal, g[0], g[1], g[2]);
    rng_t rng;
    rng_seed(&rng, cfg->seed + 1);
    lab_say(L, "\nCentral finite differences of the loss, step h = %g, on head (0, 0): (f(x+h) - f(x-h)) / 2h\n"
            "in double through the reference forward, against the reference gradient (tolerance %g (1 + |g|)) and "
            "%s's:\n  %-10s %16s %16s %14s\n", h, tol, name, "entry", "finite diff", "reference", name);
    for (int x = 0; x < 3; x++)
        for (int s = 0; s < samples; s++) {
            size_t i = (size_t)rng_below(&rng, N * d);
            double keep = X[x][i];
            X[x][i] = keep + h;
            double up = loss(X, N, d, scale, cfg->causal, O);
            X[x][i] = keep - h;
            double down = loss(X, N, d, scale, cfg->causal, O);
            X[x][i] = keep;
            double fd = (up - down) / (2 * h), e = fabs(fd - g[x][i]) / (1 + fabs(fd));
            worst = isnan(e) || e > worst ? e : worst;
            char label[32];
            snprintf(label, sizeof label, "d%c[%zu,%zu]", "QKV"[x], i / d, i % d);
            lab_say(L, "  %-10s %16.10f %16.10f %14.6f\n", label, fd, g[x][i], G[x][i]);
        }
    lab_say(L, "  max |fd - reference| / (1 + |fd|) = %.3g: %s\n", worst, worst <= tol ? "ok" : "EXCEEDED");
    for (int x = 0; x < 4; x++)
        free(X[x]);
    for (int x = 0; x < 3; x++)
        free(G[x]), free(g[x]);
    free(O);
    return worst;
}

void lab_ref_grads_free(lab_ref_grads *r)
{
    for (int x = 0; x < 3; x++) {
        free(r->g[x]), free(r->low[x]), free(r->mag[x]);
        r->g[x] = r->low[x] = r->mag[x] = NULL;
    }
}

void lab_ref_free(lab_ref *r)
{
    free(r->o), free(r->lse);
    r->o = r->lse = NULL;
}
