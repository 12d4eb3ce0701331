/* hw_check.h — what the homework tests share: random inputs, running one attention case on a memory model whose
 * SRAM is exactly the algorithm's plan, comparing against the double reference, and messages a student can act on.
 * Every check_hwNN.c defines homework_suite(), homework_name and homework_title for run_homework.c. */
#ifndef FLASHLAB_HW_CHECK_H
#define FLASHLAB_HW_CHECK_H

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "homework.h"
#include "reference.h"
#include "rng.h"
#include "util.h"

/* Time limit of one test: far above what a correct solution needs, short enough that an endless loop is caught. */
#define HW_TIMEOUT_S 60

/* fp32 storage and fp32 tile arithmetic against a double reference: a dot product of d terms and a softmax sum of
 * N terms each lose a few ulps (2^-24) per term. */
#define HW_ATOL 2e-5
#define HW_RTOL 1e-4
/* Large logits: q·k summed in fp32 over d terms of size ~qk_std^2 is off by ~sqrt(d)·qk_std^2 ulps, and e^(s - m)
 * moves by that much relatively, so the tolerance grows by HW_LOGIT_ULPS·sqrt(d)·qk_std^2·FLT_EPSILON. */
#define HW_LOGIT_ULPS 16.0

typedef struct {
    size_t B, N, H, d, Br, Bc;
    bool causal;
    float qk_std;    /* Q and K ~ N(0, qk_std^2): 1 for ordinary logits, 30 for logits in the thousands */
} hw_case;

static inline const char *hw_case_str(const hw_case *c, char *buf, size_t len)
{
    snprintf(buf, len, "B=%zu N=%zu H=%zu d=%zu Br=%zu Bc=%zu%s%s", c->B, c->N, c->H, c->d, c->Br, c->Bc,
             c->causal ? " causal" : "", c->qk_std > 1 ? " large-logits" : "");
    return buf;
}

/* What running a student's (or the reference's) forward on one case produced. */
typedef struct {
    io_count io;                  /* everything counted */
    io_count q, k, v, o, lse;     /* per tensor */
    attn_io cf;                   /* the closed form of the algorithm */
    double tol_atol;
    size_t n_out, bad, nan, zeros, worst;
    double max_err, got_worst, ref_worst;
    size_t bad_l, nan_l;          /* lse (flash2 only) */
    double max_err_l;
} hw_run;

/* Run fn on case c with inputs from seed; M is exactly what algo's SRAM plan needs. */
static inline void hw_attn_run(const hw_case *c, attn_algo algo, void (*fn)(mem_t *, const attn_params *,
                                                                            attn_tensors *),
                               uint64_t seed, hw_run *r)
{
    memset(r, 0, sizeof *r);
    attn_params p = {.algo = algo, .B = c->B, .N = c->N, .H = c->H, .d = c->d, .causal = c->causal, .Br = c->Br,
                     .Bc = c->Bc, .threads = 1};
    size_t n = c->B * c->N * c->H * c->d, nl = c->B * c->H * c->N;
    mem_t *m = mem_create(attn_sram_need(algo, false, c->Br, c->Bc, c->d, DTYPE_FP32), false);
    attn_tensors t = attn_alloc(m, &p, DTYPE_FP32, false);
    float *q = xmalloc(n * sizeof *q), *k = xmalloc(n * sizeof *k), *v = xmalloc(n * sizeof *v);
    float *o = xmalloc(n * sizeof *o), *l = xmalloc(nl * sizeof *l);
    double *o_ref = xmalloc(n * sizeof *o_ref), *l_ref = xmalloc(nl * sizeof *l_ref);
    rng_t g;
    rng_seed(&g, seed);
    rng_fill_normal(&g, q, n, c->qk_std);
    rng_fill_normal(&g, k, n, c->qk_std);
    rng_fill_normal(&g, v, n, 1.0f);
    hbm_upload(t.q, q);
    hbm_upload(t.k, k);
    hbm_upload(t.v, v);
    double scale = 1.0 / sqrt((double)c->d);
    ref_attention_bnhd(q, k, v, c->B, c->N, c->H, c->d, scale, c->causal, o_ref, l_ref);

    fn(m, &p, &t);

    hbm_download(t.out, o);
    r->tol_atol = HW_ATOL + HW_LOGIT_ULPS * sqrt((double)c->d) * c->qk_std * c->qk_std * FLT_EPSILON;
    r->n_out = n;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)o[i] - o_ref[i]);
        if (isnan(o[i]))
            r->nan++;
        if (o[i] == 0.0f)
            r->zeros++;
        if (isnan(o[i]) || e > r->tol_atol + HW_RTOL * fabs(o_ref[i])) {
            r->bad++;
            if (isnan(e) || e > r->max_err || r->bad == 1) {
                r->max_err = isnan(e) ? INFINITY : e;
                r->worst = i;
                r->got_worst = o[i];
                r->ref_worst = o_ref[i];
            }
        }
    }
    if (t.lse) {
        hbm_download(t.lse, l);
        for (size_t i = 0; i < nl; i++) {
            double e = fabs((double)l[i] - l_ref[i]);
            if (isnan(l[i]))
                r->nan_l++;
            if (isnan(l[i]) || e > r->tol_atol + HW_RTOL * fabs(l_ref[i])) {
                r->bad_l++;
                r->max_err_l = isnan(e) || e > r->max_err_l ? (isnan(e) ? INFINITY : e) : r->max_err_l;
            }
        }
    }
    r->io = mem_io(m, NULL, NULL);
    r->q = mem_io(m, "Q", NULL);
    r->k = mem_io(m, "K", NULL);
    r->v = mem_io(m, "V", NULL);
    r->o = mem_io(m, "O", NULL);
    r->lse = mem_io(m, "L", NULL);
    attn_io_closed_form(&p, false, &r->cf);
    attn_free(m, &t);
    mem_destroy(m);
    free(q), free(k), free(v), free(o), free(l), free(o_ref), free(l_ref);
}

/* The closed form's row for one tensor ("Q", "K", "V", "O", "L", "m", "l"); zeros when the algorithm has none. */
static inline attn_io_row hw_cf(const attn_io *cf, const char *tensor)
{
    for (size_t i = 0; i < cf->n; i++)
        if (!strcmp(cf->row[i].tensor, tensor))
            return cf->row[i];
    return (attn_io_row){tensor, 0, 0};
}

/* Fail with a message that names the case, the worst element (as b, row, h, col) and a hint for the symptom. */
static inline void hw_assert_output(const hw_case *c, const hw_run *r, const char *algo_hint)
{
    char cs[160];
    hw_case_str(c, cs, sizeof cs);
    if (r->zeros == r->n_out)
        ck_abort_msg("%s: O is all zeros — nothing reached t->out: store each finished Oi with "
                     "hbm_store_rows(m, hbm_head(t->out, b, h), row0, rows, Oi, \"Oi\")", cs);
    if (r->nan)
        ck_abort_msg("%s: %zu of %zu elements of O are NaN. A row whose running max is still -inf gives "
                     "exp(-inf - (-inf)) = NaN: subtract 0 instead of -inf (or skip fully masked rows)",
                     cs, r->nan, r->n_out);
    if (r->bad) {
        size_t x = r->worst % c->d, h = r->worst / c->d % c->H, row = r->worst / c->d / c->H % c->N,
               b = r->worst / c->d / c->H / c->N;
        ck_abort_msg("%s: %zu of %zu elements of O are wrong; worst O[b=%zu, row %zu, h=%zu, col %zu] = %.6g but "
                     "the double reference says %.6g (|error| %.3g > tolerance %.3g). %s",
                     cs, r->bad, r->n_out, b, row, h, x, r->got_worst, r->ref_worst, r->max_err,
                     r->tol_atol + HW_RTOL * fabs(r->ref_worst), algo_hint);
    }
}

#endif
