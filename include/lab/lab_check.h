/* lab_check.h — the truth a lesson holds its runs to: fp64 references of every head (forward, gradients, the tiled
 * product), Tri Dao's criterion applied entry by entry to gradients, and the reference itself against central finite
 * differences. The criterion and its factor are named once, in lab.h (lab_tridao_tol, lab_tridao_ratio).
 *
 *   lab_ref ref = lab_ref_attention(cfg, &in, causal, true);      // O, L in double, and err_lowp
 *   double tol = verify_tridao_bound(ref.err_lowp, 2 * dtype_eps(dt) * ref.o_max);
 *   ok = lab_within(lab_max_abs(ref.o, r.o, in.n), tol);
 *   lab_ref_free(&ref);
 */
#ifndef FLASHLAB_LAB_CHECK_H
#define FLASHLAB_LAB_CHECK_H

#include "lab_attn.h"

typedef struct {
    double *o, *lse;          /* every head: O (B, N, H, d) and L (B, H, N), double (NULL under --count-only) */
    double err_lowp;          /* with lowp: max |O_lowp - O|, O_lowp materialized in --dtype (ref_attention_lowp) */
    double o_max, v_max, lse_max;   /* max |O|, max |v|, max |L| */
} lab_ref;
/* The reference of cfg's shape on in (q, k, v), causal or not; nothing (NULLs, NaN) under --count-only. */
lab_ref lab_ref_attention(const cli_cfg *cfg, const lab_inputs *in, bool causal, bool lowp);
/* The same under a sliding window of W >= 1 keys (attention.h: key j visible to query i iff i - W < j <= i). */
lab_ref lab_ref_attention_window(const cli_cfg *cfg, const lab_inputs *in, size_t W, bool lowp);
/* A forward run's O and L against ref: O by Tri Dao's criterion with a floor of `roundings` roundings of max|O| in
 * the storage dtype, L to l_rtol·(1 + max|L|); with L->say, one line each (not under --count-only). ok: both hold
 * (NaN never does), or nothing was computed. */
typedef struct {
    double err_o, tol_o, err_L, tol_L;
    bool ok;
} lab_fwd_err;
lab_fwd_err lab_fwd_check(const lab_t *L, const lab_ref *ref, const lab_attn *r, double roundings, double l_rtol);
void lab_ref_free(lab_ref *r);
/* Gradients of the loss sum(O o dO) for every head (B, N, H, d), from in's q, k, v, dout: fp64 (g), as a framework
 * computes them in --dtype (low: ref_attention_backward_lowp), and the size of the sums behind each entry (mag). */
typedef struct {
    double *g[3], *low[3], *mag[3];   /* dQ, dK, dV each */
} lab_ref_grads;
lab_ref_grads lab_ref_backward(const cli_cfg *cfg, const lab_inputs *in);
void lab_ref_grads_free(lab_ref_grads *r);
/* Without softmax: max |o - Q K^T V| over every head of in's q, k, v (tiled_reference, in double); o is (B, N, H, d).
 * NaN when o holds a NaN; NaN too under --count-only (nothing computed). */
double lab_tiled_max_err(const cli_cfg *cfg, const lab_inputs *in, const float *o);
/* The reference gradient against central finite differences of the loss sum(O o dO) through the fp64 forward, on
 * head (0, 0): `samples` entries each of Q, K, V drawn from --seed + 1, step h. With L->say a table: each entry's
 * difference quotient, the reference and got's value (got: a run's dQ, dK, dV, named name), then the verdict against
 * tol. Returns max |fd - reference| / (1 + |fd|) (NaN stays NaN). */
double lab_fd_check(const lab_t *L, const lab_inputs *in, float *const got[3], const char *name, int samples,
                    double h, double tol);

/* Backward runs' dQ, dK, dV against lab_ref_backward by Tri Dao's criterion entry by entry (lab_tridao_ratio), the
 * slack slack_ulps roundings of the entry's sums: one of the dtype (sqrt(Tc) for a FlashAttention dQ, rounded at each
 * of its Tc read-modify-writes) and sqrt(N) of fp32. err[a][x]: run a's max |error| of gradient x. With L->say one
 * line per run and gradient: max |err|, the framework's, err/bound and "ok" or "EXCEEDED". True when all pass. */
bool lab_attn_grads_check(const lab_t *L, const lab_attn *const *runs, size_t n, const lab_inputs *in,
                          double slack_ulps, double err[][3]);

#endif
