/* check_dtype.c — fp16/bf16 rounding is bit-exact, round-to-nearest-even, and overflows like the hardware. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "check_util.h"
#include "dtype.h"
#include "rng.h"

START_TEST(fp16_overflow_is_real)
{
    /* The seed course: e^12 = 162754.79 does not fit in fp16 (max 65504). */
    ck_assert(isinf(dtype_round(DTYPE_FP16, expf(12.0f))));
    ck_assert(dtype_round(DTYPE_FP16, 65504.0f) == 65504.0f);
    ck_assert(dtype_round(DTYPE_FP16, 65519.0f) == 65504.0f);   /* below the rounding midpoint 65520 */
    ck_assert(isinf(dtype_round(DTYPE_FP16, 65520.0f)));        /* the midpoint ties to even: inf */
    ck_assert(isinf(dtype_round(DTYPE_FP16, -1e6f)) && dtype_round(DTYPE_FP16, -1e6f) < 0);
    ck_assert(!isinf(dtype_round(DTYPE_BF16, expf(12.0f))));    /* bf16 keeps fp32's exponent range */
    ck_assert(isinf(dtype_round(DTYPE_BF16, 3.4e38f)));         /* ... but rounds 3.4e38 past its max */
}
END_TEST

START_TEST(fp16_every_value_round_trips)
{
    for (unsigned h = 0; h < 65536; h++) {
        float f = fp16_to_float((uint16_t)h);
        if (isnan(f)) {
            ck_assert(isnan(fp16_to_float(fp16_from_float(f))));
            continue;
        }
        ck_assert_uint_eq(fp16_from_float(f), h);
    }
}
END_TEST

START_TEST(fp16_ties_to_even)
{
    /* 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties go to the even significand, 1. */
    ck_assert(dtype_round(DTYPE_FP16, 1.0f + 0x1p-11f) == 1.0f);
    ck_assert(dtype_round(DTYPE_FP16, 1.0f + 3 * 0x1p-11f) == 1.0f + 2 * 0x1p-10f);
    /* Subnormals: 2^-24 is the smallest; half of it ties to 0, a bit more rounds up. */
    ck_assert(dtype_round(DTYPE_FP16, 0x1p-24f) == 0x1p-24f);
    ck_assert(dtype_round(DTYPE_FP16, 0x1p-25f) == 0.0f);
    ck_assert(dtype_round(DTYPE_FP16, 0x1.8p-25f) == 0x1p-24f);
    ck_assert(dtype_round(DTYPE_FP16, 0x1.ffcp-15f) == 0x1p-14f);  /* largest subnormal carries into a normal */
}
END_TEST

/* The nearest representable neighbours of f in t, found by brute force over all 65536 encodings' order. */
START_TEST(rounding_is_nearest_on_random_floats)
{
    rng_t r;
    rng_seed(&r, 1234);
    for (int k = 0; k < 200000; k++) {
        float x = (float)(rng_normal(&r) * ldexp(1.0, (int)rng_below(&r, 40) - 25));
        for (int t = DTYPE_FP16; t <= DTYPE_BF16; t++) {
            float y = dtype_round((dtype_t)t, x);
            if (isinf(y))
                continue;
            /* y must be at least as close as its neighbours one ulp up and down */
            uint16_t b = t == DTYPE_FP16 ? fp16_from_float(y) : bf16_from_float(y);
            float up = t == DTYPE_FP16 ? fp16_to_float((uint16_t)(b + 1)) : bf16_to_float((uint16_t)(b + 1));
            float dn = t == DTYPE_FP16 ? fp16_to_float((uint16_t)(b - 1)) : bf16_to_float((uint16_t)(b - 1));
            double e = fabs((double)y - x);
            if ((b & 0x7fff) != 0x7fff && !isnan(up) && !isinf(up))
                ck_assert_msg(e <= fabs((double)up - x), "x=%a rounded to %a, but %a is closer", x, y, up);
            if ((b & 0x7fff) != 0 && !isnan(dn))
                ck_assert_msg(e <= fabs((double)dn - x), "x=%a rounded to %a, but %a is closer", x, y, dn);
        }
    }
}
END_TEST

START_TEST(bf16_known_values)
{
    ck_assert(dtype_round(DTYPE_BF16, 1.0f + 0x1p-8f) == 1.0f);              /* tie to even */
    ck_assert(dtype_round(DTYPE_BF16, 1.0f + 3 * 0x1p-8f) == 1.0f + 0x1p-6f); /* tie up to even */
    ck_assert(isnan(dtype_round(DTYPE_BF16, NAN)) && isnan(dtype_round(DTYPE_FP16, NAN)));
    ck_assert_uint_eq(dtype_size(DTYPE_BF16), 2);
    ck_assert_uint_eq(dtype_size(DTYPE_FP32), 4);
    dtype_t t;
    ck_assert_int_eq(dtype_parse("bf16", &t), 0);
    ck_assert_int_eq(t, DTYPE_BF16);
    ck_assert_int_eq(dtype_parse("fp8", &t), -1);
}
END_TEST

Suite *dtype_suite(void)
{
    Suite *s = suite_create("dtype");
    TCASE(s, "Rounding", 0, {fp16_overflow_is_real}, {fp16_every_value_round_trips}, {fp16_ties_to_even},
          {rounding_is_nearest_on_random_floats}, {bf16_known_values});
    return s;
}
