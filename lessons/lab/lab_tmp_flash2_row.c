/* lab_tmp_flash2_row.c — TEMPORARY, DELETE ON MERGING MAIN: sim/model/attn_flash2.c exports
 * attn_flash2_row_update (declared in include/model/attention.h) from the algorithms' side. Until that lands this
 * copy lets lesson06 be written against the declaration; it is FA2 Alg.1 lines 9-10 for one row, in flash2_block's
 * arithmetic order. */
#include <math.h>

#include "lab_attn.h"

static inline float sub(float m) { return m == -INFINITY ? 0.0f : m; }

void attn_flash2_row_update(float *s, size_t kc, const float *Vj, size_t d, float *mi, float *li, float *oi)
{
    float m_new = *mi, sum = 0;
    for (size_t c = 0; c < kc; c++)
        m_new = fmaxf(m_new, s[c]);
    float alpha = expf(*mi - sub(m_new));
    for (size_t c = 0; c < kc; c++)
        sum += (s[c] = expf(s[c] - sub(m_new)));
    *li = alpha * *li + sum;
    for (size_t x = 0; x < d; x++) {
        float pv = 0;
        for (size_t c = 0; c < kc; c++)
            pv += s[c] * Vj[c * d + x];
        oi[x] = alpha * oi[x] + pv;
    }
    *mi = m_new;
}
