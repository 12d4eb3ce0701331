/* flash_api.c — flash_attn_func's arguments in front of FlashAttention-2 on the memory model (flash_api.h). Every
 * check comes before anything is allocated, so a refused call leaves the model as it was. */
#include "flash_api.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* x must be a (batch, seqlen, nheads, headdim) tensor with q's sizes and dtype (q itself: dim NULL). */
static int check_like(const hbm_tensor *x, const char *name, const size_t *qdim, dtype_t qdt, size_t dim[4],
                      char *err, size_t errlen)
{
    if (!x)
        return fl_err(err, errlen, "%s is missing", name);
    if (hbm_shape(x, dim) != LAYOUT_BNHD)
        return fl_err(err, errlen, "%s must be a (batch, seqlen, nheads, headdim) tensor (hbm_alloc_bnhd)", name);
    if (qdim && memcmp(dim, qdim, 4 * sizeof *dim))
        return fl_err(err, errlen, "q is (%zu, %zu, %zu, %zu) but %s is (%zu, %zu, %zu, %zu): here q, k, v and dout "
                    "have one shape (no cross-attention, no grouped heads)", qdim[0], qdim[1], qdim[2], qdim[3], name,
                    dim[0], dim[1], dim[2], dim[3]);
    if (qdim && hbm_dtype(x) != qdt)
        return fl_err(err, errlen, "q is %s but %s is %s: one dtype for all", dtype_name(qdt), name,
                    dtype_name(hbm_dtype(x)));
    return 0;
}

int flash_attn_func(mem_t *m, hbm_tensor *q, hbm_tensor *k, hbm_tensor *v, double dropout_p, double softmax_scale,
                    bool causal, flash_attn *fa, char *err, size_t errlen)
{
    return flash_attn_func_window(m, q, k, v, dropout_p, softmax_scale, causal, -1, -1, fa, err, errlen);
}

int flash_attn_func_window(mem_t *m, hbm_tensor *q, hbm_tensor *k, hbm_tensor *v, double dropout_p,
                           double softmax_scale, bool causal, long window_left, long window_right, flash_attn *fa,
                           char *err, size_t errlen)
{
    size_t Br = fa->Br, Bc = fa->Bc, dq[4], dk[4], dv[4], n;
    *fa = (flash_attn){.Br = Br, .Bc = Bc};
    if (check_like(q, "q", NULL, 0, dq, err, errlen) || check_like(k, "k", dq, hbm_dtype(q), dk, err, errlen) ||
        check_like(v, "v", dq, hbm_dtype(q), dv, err, errlen))
        return -1;
    if (dropout_p != 0)   /* NaN too */
        return fl_err(err, errlen, "dropout_p = %g: only 0 is supported (this simulator has no dropout; pass 0.0, as "
                    "flash_attn_func takes at evaluation)", dropout_p);
    if (!isfinite(softmax_scale))
        return fl_err(err, errlen, "softmax_scale = %g must be a finite number (0 or negative: 1/sqrt(headdim))",
                    softmax_scale);
    long right = causal ? 0 : window_right;   /* flash-attn: causal is right = 0 */
    if (right > 0 || (right < 0 && window_left >= 0))
        return fl_err(err, errlen, "window_size = (%ld, %ld)%s lets a query see keys after it: only causal windows "
                      "(left, 0) run here", window_left, window_right, causal ? " with causal" : "");
    attn_params p = {.algo = ATTN_FLASH2, .B = dq[0], .N = dq[1], .H = dq[2], .d = dq[3],
                     .scale = softmax_scale > 0 ? softmax_scale : 0, .causal = right == 0,
                     .window = right == 0 && window_left >= 0 ? (size_t)window_left + 1 : 0};
    if (!size_mul_ok(p.B, p.H, &n) || !size_mul4_ok(n, p.N, p.N, p.d, &n) || !size_mul_ok(n, 4, &n))
        return fl_err(err, errlen, "q is (%zu, %zu, %zu, %zu): its counts (4·B·H·N²·d FLOPs) overflow 64 bits", p.B, p.N,
                    p.H, p.d);
    block_choice bc;
    char why[512];
    if (attn_choose_blocks(&p, false, mem_sram_capacity(m), hbm_dtype(q), Br, Bc, &bc, why, sizeof why))
        return fl_err(err, errlen, "flash_attn_func: %s", why);
    fa->fwd = p;
    fa->t = (attn_tensors){.q = q, .k = k, .v = v};
    fa->t.out = fa->out = hbm_alloc_bnhd(m, "O", hbm_dtype(q), p.B, p.N, p.H, p.d);
    fa->t.lse = fa->lse = hbm_alloc_bhn(m, "L", DTYPE_FP32, p.B, p.H, p.N);
    attn_forward(m, &fa->fwd, &fa->t);
    return 0;
}

int flash_attn_backward(mem_t *m, flash_attn *fa, hbm_tensor *dout, char *err, size_t errlen)
{
    size_t dq[4], dd[4];
    if (!fa->out)
        return fl_err(err, errlen, "flash_attn_backward needs the result of flash_attn_func");
    if (fa->dq)
        return fl_err(err, errlen, "flash_attn_backward was already called on this result");
    if (fa->fwd.window)
        return fl_err(err, errlen, "flash_attn_backward: the forward ran a sliding window (window_size = (%zu, 0)); "
                      "the backward pass here runs none", fa->fwd.window - 1);
    hbm_shape(fa->t.q, dq);
    if (check_like(dout, "dout", dq, hbm_dtype(fa->t.q), dd, err, errlen))
        return -1;
    attn_params p = fa->fwd;
    block_choice bc;
    char why[512];
    if (attn_choose_blocks(&p, true, mem_sram_capacity(m), hbm_dtype(dout), fa->Br, fa->Bc, &bc, why, sizeof why))
        return fl_err(err, errlen, "flash_attn_backward: %s", why);
    fa->bwd = p;
    fa->t.dout = dout;
    fa->t.dq = fa->dq = hbm_alloc_bnhd(m, "dQ", hbm_dtype(dout), p.B, p.N, p.H, p.d);
    fa->t.dk = fa->dk = hbm_alloc_bnhd(m, "dK", hbm_dtype(dout), p.B, p.N, p.H, p.d);
    fa->t.dv = fa->dv = hbm_alloc_bnhd(m, "dV", hbm_dtype(dout), p.B, p.N, p.H, p.d);
    attn_backward(m, &fa->bwd, &fa->t);
    return 0;
}

void flash_attn_release(mem_t *m, flash_attn *fa)
{
    hbm_tensor **own[] = {&fa->t.out, &fa->t.lse, &fa->t.dq, &fa->t.dk, &fa->t.dv};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        hbm_free(m, *own[i]);
        *own[i] = NULL;
    }
    fa->out = fa->lse = fa->dq = fa->dk = fa->dv = NULL;
    fa->t.q = fa->t.k = fa->t.v = fa->t.dout = NULL;
}
