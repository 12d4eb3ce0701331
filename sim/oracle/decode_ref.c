/* decode_ref.c — decoding's double-precision reference (see include/oracle/decode_ref.h). */
#include "decode_ref.h"

#include <math.h>
#include <stdlib.h>

#include "util.h"
#include "verify.h"

double decode_ref(size_t B, size_t N, size_t Hq, size_t Hkv, size_t d, double scale, const float *q, const float *k,
                  const float *v, double *o)
{
    size_t G = Hq / Hkv;
    double *s = xmalloc(N * sizeof *s), smag = 0;
    for (size_t b = 0; b < B; b++)
        for (size_t h = 0; h < Hq; h++) {
            const float *qh = q + (b * Hq + h) * d;
            size_t kvh = h / G;
            double mx = -INFINITY, sum = 0;
            for (size_t n = 0; n < N; n++) {
                const float *kn = k + ((b * N + n) * Hkv + kvh) * d;
                double acc = 0, mag = 0;
                for (size_t x = 0; x < d; x++) {
                    acc += (double)qh[x] * kn[x];
                    mag += fabs((double)qh[x] * kn[x]);
                }
                s[n] = scale * acc;
                smag = fmax(smag, scale * mag);
                mx = fmax(mx, s[n]);
            }
            for (size_t n = 0; n < N; n++)
                sum += (s[n] = exp(s[n] - mx));
            double *oh = o + (b * Hq + h) * d;
            for (size_t x = 0; x < d; x++)
                oh[x] = 0;
            for (size_t n = 0; n < N; n++) {
                const float *vn = v + ((b * N + n) * Hkv + kvh) * d;
                for (size_t x = 0; x < d; x++)
                    oh[x] += s[n] / sum * vn[x];
            }
        }
    free(s);
    return smag;
}

double decode_verify(const decode_params *p, dtype_t dt, const float *q, const float *k, const float *v,
                     const float *o, bool p_rounded, FILE *log, bool *ok)
{
    size_t n = p->B * p->Hq * p->d, nkv = p->B * p->N * p->Hkv * p->d;
    double *ref = xmalloc(n * sizeof *ref), vmax = 0, atol, rtol;
    double scale = p->scale ? p->scale : 1 / sqrt((double)p->d);
    double smag = decode_ref(p->B, p->N, p->Hq, p->Hkv, p->d, scale, q, k, v, ref);
    for (size_t x = 0; x < nkv; x++)
        vmax = fmax(vmax, fabs(v[x]));
    decode_io io;
    decode_closed_form(p, &io);
    decode_tolerance(dt, p->d, smag, p->Bc, io.chunks, p->splits, vmax, p_rounded, &atol, &rtol);
    verify_stats st;
    *ok = verify_close(ref, o, n, atol, rtol, "o", &st, log);
    free(ref);
    return st.max_abs;
}
