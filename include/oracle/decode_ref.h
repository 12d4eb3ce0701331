/* decode_ref.h — the double-precision truth for decoding against a KV cache, and how far a float result may be.
 *
 * Plain loops over logical layouts, no tiling, no splits, no pages: q (B, Hq, d), k and v (B, N, Hkv, d); query
 * head h reads KV head h / (Hq/Hkv); o (B, Hq, d) = softmax(scale q K^T) V.
 *
 *   double smag = decode_ref(B, N, Hq, Hkv, d, 1 / sqrt(d), q, k, v, o_ref);
 *   decode_tolerance(DTYPE_FP16, d, smag, Bc, chunks, S, max_abs_v, false, &atol, &rtol);   // then verify_close
 */
#ifndef FLASHLAB_DECODE_REF_H
#define FLASHLAB_DECODE_REF_H

#include <stddef.h>

#include <stdbool.h>
#include <stdio.h>

#include "decode.h"
#include "dtype.h"

/* Returns the largest scale·Σ_x |q_x k_x| over all scores: the size of the terms each score sums. */
double decode_ref(size_t B, size_t N, size_t Hq, size_t Hkv, size_t d, double scale, const float *q, const float *k,
                  const float *v, double *o);

/* Tolerance for o computed in fp32 from the same stored inputs and stored in dt: |o - o_ref| <= atol + rtol |o_ref|.
 * rtol: the one rounding of the stored o (dtype_eps(dt)). atol: fp32 sums, each off by at most its length times
 * 2^-24 (Higham's bound for recursive summation) times the size of its terms. A score sums d products of size smag
 * (decode_ref's return); its error e moves a weight by a factor e^e ≈ 1 + e, so o by e·vmax. ℓ and Oi sum up to Bc
 * terms a chunk and then one term per chunk, the merge S partials: relative errors, times vmax. Doubled for the
 * rescales between the sums. p_rounded (a kernel that rounds P~ to dt for the tensor cores' P~V, as FlashAttention
 * does): each weight off by dtype_eps(dt) relative, so o by at most dtype_eps(dt)·vmax more. Inline: the CUDA
 * library uses it without linking the simulator. */
static inline void decode_tolerance(dtype_t dt, size_t d, double smag, size_t Bc, size_t chunks, size_t splits,
                                    double vmax, bool p_rounded, double *atol, double *rtol)
{
    *rtol = dtype_eps(dt);
    *atol = 2.0 * ((double)d * smag + (double)(Bc + chunks + splits)) * 0x1p-24 * vmax +
            (p_rounded ? dtype_eps(dt) * vmax : 0.0);
}

/* o (decode_run's, or a kernel's with chunks of p->Bc rows) against decode_ref on the same inputs (logical layouts,
 * as stored in dt), within decode_tolerance; log (may be NULL) gets verify_close's lines. Returns max |o - o_ref|;
 * *ok says within. */
double decode_verify(const decode_params *p, dtype_t dt, const float *q, const float *k, const float *v,
                     const float *o, bool p_rounded, FILE *log, bool *ok);

#endif
