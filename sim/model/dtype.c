/* dtype.c — bit-exact fp16/bf16 rounding (see include/model/dtype.h). */
#include "dtype.h"

#include <float.h>
#include <string.h>

#include "util.h"

static uint32_t float_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float bits_float(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Every switch below names each dtype (-Wswitch finds one forgotten); a value outside the enum is a bug. */
static _Noreturn void bad_dtype(dtype_t t) { fl_internal("dtype %d is not fp32, fp16 or bf16", (int)t); }

size_t dtype_size(dtype_t t)
{
    switch (t) {
    case DTYPE_FP32: return 4;
    case DTYPE_FP16: return 2;
    case DTYPE_BF16: return 2;
    }
    bad_dtype(t);
}

const char *dtype_name(dtype_t t)
{
    switch (t) {
    case DTYPE_FP32: return "fp32";
    case DTYPE_FP16: return "fp16";
    case DTYPE_BF16: return "bf16";
    }
    bad_dtype(t);
}

int dtype_parse(const char *s, dtype_t *out)
{
    if (!strcmp(s, "fp32") || !strcmp(s, "float32")) *out = DTYPE_FP32;
    else if (!strcmp(s, "fp16") || !strcmp(s, "float16")) *out = DTYPE_FP16;
    else if (!strcmp(s, "bf16") || !strcmp(s, "bfloat16")) *out = DTYPE_BF16;
    else return -1;
    return 0;
}

float dtype_max(dtype_t t)
{
    switch (t) {
    case DTYPE_FP32: return FLT_MAX;
    case DTYPE_FP16: return 65504.0f;
    case DTYPE_BF16: return bits_float(0x7f7f0000u);
    }
    bad_dtype(t);
}

double dtype_eps(dtype_t t)
{
    switch (t) {
    case DTYPE_FP32: return 1.0 / 16777216.0;   /* 24-bit significand */
    case DTYPE_FP16: return 1.0 / 2048.0;       /* 11-bit significand */
    case DTYPE_BF16: return 1.0 / 256.0;        /* 8-bit significand */
    }
    bad_dtype(t);
}

/* Round the 'shift' low bits of m away, to nearest with ties to even. */
static uint32_t round_shift(uint32_t m, unsigned shift)
{
    uint32_t kept = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1);
    return kept + (rem > half || (rem == half && (kept & 1u)));
}

uint16_t fp16_from_float(float x)
{
    uint32_t u = float_bits(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu, e = a >> 23;

    if (a > 0x7f800000u)                      /* NaN: keep it quiet and non-zero */
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x1ffu));
    if (e >= 143)                             /* |x| >= 2^16, inf included: beyond fp16's range */
        return (uint16_t)(sign | 0x7c00u);
    if (e >= 113) {                           /* a normal fp16; a carry may roll into the exponent (or to inf) */
        uint32_t h = ((e - 112) << 10) | ((a & 0x7fffffu) >> 13);
        uint32_t rem = a & 0x1fffu;
        h += rem > 0x1000u || (rem == 0x1000u && (h & 1u));
        return (uint16_t)(sign | h);
    }
    if (e < 102)                              /* below half the smallest subnormal: rounds to zero */
        return sign;
    /* a subnormal fp16: units of 2^-24 */
    return (uint16_t)(sign | round_shift((a & 0x7fffffu) | 0x800000u, 126 - e));
}

float fp16_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) {                             /* zero or subnormal: m * 2^-24, exact in float */
        float v = (float)m * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (e == 31)
        return bits_float(sign | 0x7f800000u | (m << 13));
    return bits_float(sign | ((e + 112) << 23) | (m << 13));
}

uint16_t bf16_from_float(float x)
{
    uint32_t u = float_bits(x);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);          /* ties to even; overflow rounds to inf by carrying */
    return (uint16_t)(u >> 16);
}

float bf16_to_float(uint16_t b) { return bits_float((uint32_t)b << 16); }

float dtype_round(dtype_t t, float x)
{
    switch (t) {
    case DTYPE_FP32: return x;
    case DTYPE_FP16: return fp16_to_float(fp16_from_float(x));
    case DTYPE_BF16: return bf16_to_float(bf16_from_float(x));
    }
    bad_dtype(t);
}

float dtype_get(dtype_t t, const void *base, size_t idx)
{
    switch (t) {
    case DTYPE_FP32: return ((const float *)base)[idx];
    case DTYPE_FP16: return fp16_to_float(((const uint16_t *)base)[idx]);
    case DTYPE_BF16: return bf16_to_float(((const uint16_t *)base)[idx]);
    }
    bad_dtype(t);
}

void dtype_set(dtype_t t, void *base, size_t idx, float x)
{
    switch (t) {
    case DTYPE_FP32: ((float *)base)[idx] = x; return;
    case DTYPE_FP16: ((uint16_t *)base)[idx] = fp16_from_float(x); return;
    case DTYPE_BF16: ((uint16_t *)base)[idx] = bf16_from_float(x); return;
    }
    bad_dtype(t);
}
