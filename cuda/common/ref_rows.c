/* ref_rows.c — one query row of attention in fp64 and in a low precision (ref_rows.h). */
#include "ref_rows.h"

#include <math.h>

/* Element (n, x) of head (b, h) in a (B, N, H, d) tensor. */
static size_t at(const ref_input *in, size_t b, size_t n, size_t h, size_t x)
{
    return ((b * in->N + n) * in->H + h) * in->d + x;
}

double ref_row64(const ref_input *in, size_t b, size_t h, size_t row, double *p, double *O)
{
    const size_t keys = in->causal ? row + 1 : in->N, d = in->d;
    double mx = -INFINITY, sum = 0;
    for (size_t j = 0; j < keys; j++) {
        double s = 0;
        for (size_t x = 0; x < d; x++)
            s += (double)in->q[at(in, b, row, h, x)] * (double)in->k[at(in, b, j, h, x)];
        p[j] = s * in->scale;
        mx = p[j] > mx ? p[j] : mx;
    }
    for (size_t j = 0; j < keys; j++)
        sum += (p[j] = exp(p[j] - mx));
    for (size_t x = 0; x < d; x++) {
        double o = 0;
        for (size_t j = 0; j < keys; j++)
            o += p[j] / sum * (double)in->v[at(in, b, j, h, x)];
        O[x] = o;
    }
    return mx + log(sum);
}

double ref_row_lowp(const ref_input *in, dtype_t dt, size_t b, size_t h, size_t row, float *p, double *O)
{
    const size_t keys = in->causal ? row + 1 : in->N, d = in->d;
    const float sc = (float)in->scale;
    float mx = -INFINITY, sum = 0;
    for (size_t j = 0; j < keys; j++) {
        float acc = 0;
        for (size_t x = 0; x < d; x++)   /* fp16/bf16 products are exact in float */
            acc += (float)((double)in->q[at(in, b, row, h, x)] * in->k[at(in, b, j, h, x)]);
        p[j] = dtype_round(dt, sc * acc);
        mx = fmaxf(mx, p[j]);
    }
    for (size_t j = 0; j < keys; j++)
        sum += (p[j] = expf(p[j] - mx));
    for (size_t j = 0; j < keys; j++)
        p[j] = dtype_round(dt, p[j] / sum);
    for (size_t x = 0; x < d; x++) {
        float o = 0;
        for (size_t j = 0; j < keys; j++)
            o += p[j] * (float)(double)in->v[at(in, b, j, h, x)];
        O[x] = dtype_round(dt, o);
    }
    return (double)mx + log((double)sum);
}
