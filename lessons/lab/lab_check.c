/* lab_check.c — fp64 references, Tri Dao's criterion on gradients, finite differences (include/lab/lab_check.h). */
#include "lab_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "reference.h"  // defines: ref_attention*, ref_head_get, ref_head_put
#include "report.h"     // defines: report_mark
#include "rng.h"
#include "tiled.h"      // defines: tiled_reference
#include "util.h"

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

/* The reference under causal, or a window W >= 1 (then causal is implied). */
static lab_ref ref_masked(const cli_cfg *cfg, const lab_inputs *in, bool causal, size_t W, bool lowp)
{
    lab_ref r = {.err_lowp = NAN, .o_max = NAN, .v_max = NAN, .lse_max = NAN};
    if (cfg->count_only || !in->x[0])
        return r;
    size_t n = in->n, nl = cfg->B * cfg->H * cfg->N;
    double scale = 1.0 / sqrt((double)cfg->d);
    r.o = xmalloc(n * sizeof *r.o);
    r.lse = xmalloc(nl * sizeof *r.lse);
    if (W)
        ref_attention_window_bnhd(in->x[0], in->x[1], in->x[2], cfg->B, cfg->N, cfg->H, cfg->d, scale, W, r.o, r.lse);
    else
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
        if (W)
            ref_attention_lowp_window_bnhd(in->x[0], in->x[1], in->x[2], cfg->B, cfg->N, cfg->H, cfg->d, scale, W,
                                           cfg->dtype, olow);
        else
            ref_attention_lowp_bnhd(in->x[0], in->x[1], in->x[2], cfg->B, cfg->N, cfg->H, cfg->d, scale, causal,
                                    cfg->dtype, olow);
        r.err_lowp = 0;
        for (size_t x = 0; x < n; x++)
            r.err_lowp = fmax(r.err_lowp, fabs(olow[x] - r.o[x]));
        free(olow);
    }
    return r;
}

lab_ref lab_ref_attention(const cli_cfg *cfg, const lab_inputs *in, bool causal, bool lowp)
{
    return ref_masked(cfg, in, causal, 0, lowp);
}

lab_ref lab_ref_attention_window(const cli_cfg *cfg, const lab_inputs *in, size_t W, bool lowp)
{
    return ref_masked(cfg, in, true, W, lowp);
}

lab_fwd_err lab_fwd_check(const lab_t *L, const lab_ref *ref, const lab_attn *r, double roundings, double l_rtol)
{
    const cli_cfg *cfg = &r->cfg;
    dtype_t dt = cfg->dtype;
    lab_fwd_err e = {.err_o = lab_max_abs(ref->o, r->o, hbm_numel(r->t.out)),
                     .tol_o = verify_tridao_bound(ref->err_lowp, roundings * dtype_eps(dt) * ref->o_max),
                     .err_L = lab_max_abs(ref->lse, r->lse, cfg->B * cfg->H * cfg->N),
                     .tol_L = l_rtol * (1 + ref->lse_max)};
    e.ok = cfg->count_only || (lab_within(e.err_o, e.tol_o) && lab_within(e.err_L, e.tol_L));
    if (!cfg->count_only)
        lab_say(L, "  max |O - O_ref| = %.3g (allowed %.3g: 2 x a materialized %s implementation's %.3g + %gu·max|O|) "
                "%s\n  max |L - L_ref| = %.3g (allowed %.3g) %s\n", e.err_o, e.tol_o, dtype_name(dt), ref->err_lowp,
                roundings, report_mark(lab_within(e.err_o, e.tol_o)), e.err_L, e.tol_L,
                report_mark(lab_within(e.err_L, e.tol_L)));
    return e;
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

double lab_tiled_max_err(const cli_cfg *cfg, const lab_inputs *in, const float *o)
{
    if (cfg->count_only || !o)
        return NAN;
    size_t N = cfg->N, d = cfg->d, B = cfg->B, H = cfg->H;
    double *qd = xmalloc(N * d * sizeof *qd), *kd = xmalloc(N * d * sizeof *kd), *vd = xmalloc(N * d * sizeof *vd),
           *od = xmalloc(N * d * sizeof *od), err = 0;
    float *oh = xmalloc(N * d * sizeof *oh);
    for (size_t b = 0; b < B; b++)
        for (size_t h = 0; h < H; h++) {
            ref_head_get(in->x[0], B, N, H, d, b, h, qd);
            ref_head_get(in->x[1], B, N, H, d, b, h, kd);
            ref_head_get(in->x[2], B, N, H, d, b, h, vd);
            tiled_reference(qd, kd, vd, N, d, od);
            for (size_t x = 0; x < N; x++)
                for (size_t c = 0; c < d; c++)
                    oh[x * d + c] = o[((b * N + x) * H + h) * d + c];
            double e = lab_max_abs(od, oh, N * d);
            err = isnan(e) || e > err ? e : err;
        }
    free(qd), free(kd), free(vd), free(od), free(oh);
    return err;
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
