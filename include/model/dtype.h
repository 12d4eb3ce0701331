/* dtype.h — the storage types of HBM tensors and SRAM tiles: fp32, fp16 (IEEE binary16) and bf16.
 *
 * Storing a value into an fp16 or bf16 tensor rounds it exactly as the hardware does (round to nearest, ties to
 * even), so overflow is real: e^12 = 162754.8 stored in fp16 is +inf, because fp16's largest finite value is 65504.
 * Arithmetic on tiles is done in float; only stores round. Conversions are bit-exact and written here by hand so the
 * CPU simulator and the CUDA host code agree to the bit.
 *
 *   float y = dtype_round(DTYPE_FP16, expf(12.0f));   // +inf
 */
#ifndef FLASHLAB_DTYPE_H
#define FLASHLAB_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { DTYPE_FP32, DTYPE_FP16, DTYPE_BF16 } dtype_t;

size_t dtype_size(dtype_t t);             /* bytes per element: 4, 2, 2 */
const char *dtype_name(dtype_t t);        /* "fp32", "fp16", "bf16" */
int dtype_parse(const char *s, dtype_t *out); /* 0 on success, -1 for an unknown name */
float dtype_max(dtype_t t);               /* largest finite value: 3.40e38, 65504, 3.39e38 */
double dtype_eps(dtype_t t);              /* unit roundoff 2^-p: 2^-24, 2^-11, 2^-8 */

/* The value a store into type t keeps: x rounded to nearest-even, ±inf past the largest finite value. */
float dtype_round(dtype_t t, float x);

/* Bit-exact conversions (round to nearest, ties to even; NaN stays NaN). */
uint16_t fp16_from_float(float x);
float fp16_to_float(uint16_t h);
uint16_t bf16_from_float(float x);
float bf16_to_float(uint16_t b);

/* Element idx of an array of type t at base, as float; and the store of x (rounded) into it. */
float dtype_get(dtype_t t, const void *base, size_t idx);
void dtype_set(dtype_t t, void *base, size_t idx, float x);

#endif
