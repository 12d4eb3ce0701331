/* flash_api.h — FlashAttention called the way a learner calls it next. In PyTorch, with flash-attn 2.x
 * (pip install flash-attn --no-build-isolation; it needs an NVIDIA GPU and CUDA):
 *
 *   from flash_attn import flash_attn_func
 *   out = flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False)   # q, k, v: (B, N, H, d)
 *   out.backward(dout)                                     # autograd: q.grad, k.grad, v.grad
 *
 * Here, on the memory model, FlashAttention-2's forward and backward (attention.h) behind the same arguments:
 *
 *   hbm_tensor *q = hbm_alloc_bnhd(m, "Q", DTYPE_FP16, B, N, H, d), *k = ..., *v = ...;   // (B, N, H, d)
 *   flash_attn fa = {0};                                   // fa.Br, fa.Bc: 0 = FlashAttention-2's rules for M
 *   if (flash_attn_func(m, q, k, v, 0.0, 0.0, false, &fa, err, sizeof err))   // softmax_scale 0: 1/sqrt(d)
 *       fprintf(stderr, "%s\n", err);                       // one line; nothing ran, nothing allocated
 *   hbm_download(fa.out, host_out);                        // fa.out (B, N, H, d); fa.lse (B, H, N): softmax_lse
 *   flash_attn_backward(m, &fa, dout, err, sizeof err);    // fa.dq, fa.dk, fa.dv (B, N, H, d)
 *   flash_attn_release(m, &fa);                            // frees out, lse, dq, dk, dv; q, k, v, dout stay
 *
 * The arguments mean what flash_attn_func's mean, in its order: q, k, v one shape and dtype, (batch, seqlen, nheads,
 * headdim); dropout_p the probability of dropping an attention weight: only 0 (there is no dropout here; any other
 * value is refused); softmax_scale multiplies q k^T before the softmax, 0 or negative meaning Python's None,
 * 1/sqrt(headdim); causal masks key j > query i. What C adds: the model m first, the result fa and an error buffer
 * last (no autograd: the backward is a call), errors returned (-1 and one line in err), never an exit. window_size
 * (flash-attn >= 2.3) is flash_attn_func_window's pair of arguments, causal sliding windows only, forward only. Not
 * supported here (flash_attn_func has them): k, v with another seqlen or fewer heads than q (cross-attention,
 * MQA/GQA), alibi_slopes, return_attn_probs. PyTorch's own torch.nn.functional.scaled_dot_product_attention(q, k, v,
 * is_causal=..., scale=...) computes the same on layout (B, H, N, d) (docs/lesson06.md maps the three).
 */
#ifndef FLASHLAB_FLASH_API_H
#define FLASHLAB_FLASH_API_H

#include <stdbool.h>
#include <stddef.h>

#include "attention.h"
#include "mem.h"

typedef struct {
    size_t Br, Bc;              /* in: blocks for both passes (0: each pass's own rule for M), the simulator's knob */
    hbm_tensor *out, *lse;      /* out (B, N, H, d) in q's dtype; softmax_lse L = m + log l (B, H, N), fp32 */
    hbm_tensor *dq, *dk, *dv;   /* after flash_attn_backward: (B, N, H, d) in q's dtype */
    attn_params fwd, bwd;       /* each pass as attention.h ran it: shape, scale, causal, its blocks */
    attn_tensors t;             /* every tensor of the call; q, k, v and dout are the caller's */
} flash_attn;

/* out = softmax(scale q k^T, masked if causal) v for every (batch, head), FlashAttention-2's forward on m; fa->Br,
 * fa->Bc are read, the rest of *fa is written. 0, or -1 with a one-line reason in err (nothing run or allocated). */
int flash_attn_func(mem_t *m, hbm_tensor *q, hbm_tensor *k, hbm_tensor *v, double dropout_p, double softmax_scale,
                    bool causal, flash_attn *fa, char *err, size_t errlen);
/* The same with window_size = (window_left, window_right) after causal, as flash-attn takes it: query i attends to
 * keys i - left .. i + right, a negative bound meaning none, and causal sets right = 0. flash_attn_func is
 * (-1, -1). What runs here is a causal window: right = 0 (or causal) with left >= 0 is attention.h's window
 * W = left + 1, key j visible iff i - W < j <= i (left >= N-1: plain causal); (-1, 0) is causal. Keys after the
 * query (right > 0, or right < 0 with left >= 0, without causal) are refused. flash_attn_backward refuses a window.
 *   flash_attn_func_window(m, q, k, v, 0.0, 0.0, true, 255, 0, &fa, err, sizeof err);   // W = 256 keys */
int flash_attn_func_window(mem_t *m, hbm_tensor *q, hbm_tensor *k, hbm_tensor *v, double dropout_p,
                           double softmax_scale, bool causal, long window_left, long window_right, flash_attn *fa,
                           char *err, size_t errlen);
/* dq, dk, dv of the loss sum(out o dout) for the call in fa (dout: q's shape and dtype), FlashAttention-2's backward;
 * once per call. 0, or -1 with a one-line reason in err. */
int flash_attn_backward(mem_t *m, flash_attn *fa, hbm_tensor *dout, char *err, size_t errlen);
/* Frees what the calls allocated (out, lse, dq, dk, dv); the caller's tensors stay. */
void flash_attn_release(mem_t *m, flash_attn *fa);

#endif
