/* reference.c — plain double-precision softmax and attention (see include/oracle/reference.h). */
#include "reference.h"

#include <math.h>
#include <stdlib.h>

#include "util.h"

void ref_softmax(const double *x, size_t n, double *y)
{
    double mx = -INFINITY, sum = 0;
    for (size_t i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    for (size_t i = 0; i < n; i++)
        sum += (y[i] = exp(x[i] - mx));   /* mx is subtracted only for numerical stability */
    for (size_t i = 0; i < n; i++)
        y[i] /= sum;
}

/* The keys query i sees: first .. last-1. Causal stops at i; a window of W >= 1 (implying causal) starts at
 * i + 1 - W. */
static void visible(bool causal, size_t W, size_t N, size_t i, size_t *first, size_t *last)
{
    *last = causal || W ? i + 1 : N;
    *first = W && i + 1 > W ? i + 1 - W : 0;
}

/* Row i of P = softmax(scale * q_i K^T), masked; returns the row's log-sum-exp. */
static double prob_row(const double *Q, const double *K, size_t N, size_t d, double scale, bool causal, size_t W,
                       size_t i, double *p)
{
    double mx = -INFINITY, sum = 0;
    size_t first, last;
    visible(causal, W, N, i, &first, &last);
    for (size_t j = 0; j < first; j++)
        p[j] = 0;
    for (size_t j = first; j < last; j++) {
        double s = 0;
        for (size_t k = 0; k < d; k++)
            s += Q[i * d + k] * K[j * d + k];
        p[j] = s * scale;
        mx = p[j] > mx ? p[j] : mx;
    }
    for (size_t j = first; j < last; j++)
        sum += (p[j] = exp(p[j] - mx));
    for (size_t j = first; j < last; j++)
        p[j] /= sum;
    for (size_t j = last; j < N; j++)
        p[j] = 0;
    return mx + log(sum);
}

static double row_out(const double *Q, const double *K, const double *V, size_t N, size_t d, double scale,
                      bool causal, size_t W, size_t i, double *p, double *Oi)
{
    double lse = prob_row(Q, K, N, d, scale, causal, W, i, p);
    for (size_t k = 0; k < d; k++) {
        double o = 0;
        for (size_t j = 0; j < N; j++)
            o += p[j] * V[j * d + k];
        Oi[k] = o;
    }
    return lse;
}

double ref_attention_row(const double *Q, const double *K, const double *V, size_t N, size_t d, double scale,
                         bool causal, size_t i, double *p, double *Oi)
{
    return row_out(Q, K, V, N, d, scale, causal, 0, i, p, Oi);
}

/* One head, masked by causal and a window W (0: none). */
static void head(const double *Q, const double *K, const double *V, size_t N, size_t d, double scale, bool causal,
                 size_t W, double *O, double *L)
{
    double *p = xmalloc(N * sizeof *p);
    for (size_t i = 0; i < N; i++) {
        double lse = row_out(Q, K, V, N, d, scale, causal, W, i, p, O + i * d);
        if (L)
            L[i] = lse;
    }
    free(p);
}

void ref_attention(const double *Q, const double *K, const double *V, size_t N, size_t d, double scale, bool causal,
                   double *O, double *L)
{
    head(Q, K, V, N, d, scale, causal, 0, O, L);
}

void ref_attention_backward(const double *Q, const double *K, const double *V, const double *dO, size_t N, size_t d,
                            double scale, bool causal, double *dQ, double *dK, double *dV)
{
    double *p = xmalloc(N * sizeof *p), *dp = xmalloc(N * sizeof *dp);
    for (size_t x = 0; x < N * d; x++)
        dQ[x] = dK[x] = dV[x] = 0;
    for (size_t i = 0; i < N; i++) {
        prob_row(Q, K, N, d, scale, causal, 0, i, p);
        double D = 0;                                  /* D_i = sum_j P_ij dP_ij */
        for (size_t j = 0; j < N; j++) {
            double s = 0;
            for (size_t k = 0; k < d; k++)
                s += dO[i * d + k] * V[j * d + k];     /* dP = dO V^T */
            dp[j] = s;
            D += p[j] * s;
        }
        for (size_t j = 0; j < N; j++) {
            double ds = p[j] * (dp[j] - D);            /* dS = P o (dP - D) */
            for (size_t k = 0; k < d; k++) {
                dV[j * d + k] += p[j] * dO[i * d + k];
                dQ[i * d + k] += scale * ds * K[j * d + k];
                dK[j * d + k] += scale * ds * Q[i * d + k];
            }
        }
    }
    free(p);
    free(dp);
}

static float rnd(dtype_t dt, float x) { return dtype_round(dt, x); }

void ref_attention_backward_lowp(const double *Q, const double *K, const double *V, const double *dO, size_t N,
                                 size_t d, double scale, bool causal, dtype_t dt, double *dQ, double *dK, double *dV)
{
    /* Sums in float with fused multiply-adds, as a GPU or BLAS matmul accumulates in fp32; every materialized
     * matrix rounded to dt. */
    float *P = xmalloc(N * N * sizeof *P), *dS = xmalloc(N * N * sizeof *dS), *s = xmalloc(N * sizeof *s);
    float sc = (float)scale;
    for (size_t i = 0; i < N; i++) {
        size_t last = causal ? i + 1 : N;
        float mx = -INFINITY, sum = 0, D = 0;
        for (size_t j = 0; j < last; j++) {          /* S = scale Q K^T, stored in dt */
            float acc = 0;
            for (size_t k = 0; k < d; k++)
                acc = fmaf((float)Q[i * d + k], (float)K[j * d + k], acc);
            s[j] = rnd(dt, sc * acc);
            mx = s[j] > mx ? s[j] : mx;
        }
        for (size_t j = 0; j < last; j++)            /* P = softmax(S) in float, stored in dt */
            sum += (s[j] = expf(s[j] - mx));
        for (size_t j = 0; j < N; j++)
            P[i * N + j] = j < last ? rnd(dt, s[j] / sum) : 0;
        for (size_t j = 0; j < N; j++) {              /* dP = dO V^T, stored in dt; D = rowsum(P o dP) */
            float acc = 0;
            for (size_t k = 0; k < d; k++)
                acc = fmaf((float)dO[i * d + k], (float)V[j * d + k], acc);
            s[j] = rnd(dt, acc);
            D = fmaf(P[i * N + j], s[j], D);
        }
        for (size_t j = 0; j < N; j++)                /* dS = P o (dP - D), stored in dt */
            dS[i * N + j] = rnd(dt, P[i * N + j] * (s[j] - D));
    }
    for (size_t r = 0; r < N; r++)                    /* dV = P^T dO, dQ = scale dS K, dK = scale dS^T Q */
        for (size_t k = 0; k < d; k++) {
            float v = 0, q = 0, kk = 0;
            for (size_t x = 0; x < N; x++) {
                v = fmaf(P[x * N + r], (float)dO[x * d + k], v);
                q = fmaf(dS[r * N + x], (float)K[x * d + k], q);
                kk = fmaf(dS[x * N + r], (float)Q[x * d + k], kk);
            }
            dV[r * d + k] = rnd(dt, v);
            dQ[r * d + k] = rnd(dt, sc * q);
            dK[r * d + k] = rnd(dt, sc * kk);
        }
    free(P);
    free(dS);
    free(s);
}

void ref_attention_backward_mag(const double *Q, const double *K, const double *V, const double *dO, size_t N,
                                size_t d, double scale, bool causal, double *mQ, double *mK, double *mV)
{
    double *p = xmalloc(N * sizeof *p), *ms = xmalloc(N * sizeof *ms);
    for (size_t x = 0; x < N * d; x++)
        mQ[x] = mK[x] = mV[x] = 0;
    for (size_t i = 0; i < N; i++) {
        prob_row(Q, K, N, d, scale, causal, 0, i, p);
        double mD = 0;
        for (size_t j = 0; j < N; j++) {               /* dP'_ij = |dO_i| . |V_j|, D'_i = sum_j P_ij dP'_ij */
            double s = 0;
            for (size_t k = 0; k < d; k++)
                s += fabs(dO[i * d + k]) * fabs(V[j * d + k]);
            ms[j] = s;
            mD += p[j] * s;
        }
        for (size_t j = 0; j < N; j++) {
            double ds = p[j] * (ms[j] + mD);            /* dS'_ij = P_ij (dP'_ij + D'_i) */
            for (size_t k = 0; k < d; k++) {
                mV[j * d + k] += p[j] * fabs(dO[i * d + k]);
                mQ[i * d + k] += scale * ds * fabs(K[j * d + k]);
                mK[j * d + k] += scale * ds * fabs(Q[i * d + k]);
            }
        }
    }
    free(p);
    free(ms);
}

void ref_head_get(const float *x, size_t B, size_t N, size_t H, size_t d, size_t b, size_t h, double *out)
{
    (void)B;
    for (size_t n = 0; n < N; n++)
        for (size_t k = 0; k < d; k++)
            out[n * d + k] = x[((b * N + n) * H + h) * d + k];
}

void ref_head_put(const double *x, size_t B, size_t N, size_t H, size_t d, size_t b, size_t h, double *out_bnhd)
{
    (void)B;
    for (size_t n = 0; n < N; n++)
        for (size_t k = 0; k < d; k++)
            out_bnhd[((b * N + n) * H + h) * d + k] = x[n * d + k];
}

static void lowp_head(const double *Q, const double *K, const double *V, size_t N, size_t d, double scale,
                      bool causal, size_t W, dtype_t dt, double *O);

/* Every head of (B, N, H, d) inputs through head(), or lowp_head() in dt when lowp; W: a window (0: none). */
static void per_head(const float *Q, const float *K, const float *V, size_t B, size_t N, size_t H, size_t d,
                     double scale, bool causal, size_t W, bool lowp, dtype_t dt, double *O, double *L)
{
    size_t nd = N * d;
    double *q = xmalloc(nd * sizeof *q), *k = xmalloc(nd * sizeof *k), *v = xmalloc(nd * sizeof *v),
           *o = xmalloc(nd * sizeof *o);
    for (size_t b = 0; b < B; b++)
        for (size_t h = 0; h < H; h++) {
            ref_head_get(Q, B, N, H, d, b, h, q);
            ref_head_get(K, B, N, H, d, b, h, k);
            ref_head_get(V, B, N, H, d, b, h, v);
            if (lowp)
                lowp_head(q, k, v, N, d, scale, causal, W, dt, o);
            else
                head(q, k, v, N, d, scale, causal, W, o, L ? L + (b * H + h) * N : NULL);
            ref_head_put(o, B, N, H, d, b, h, O);
        }
    free(q);
    free(k);
    free(v);
    free(o);
}

void ref_attention_bnhd(const float *Q, const float *K, const float *V, size_t B, size_t N, size_t H, size_t d,
                        double scale, bool causal, double *O, double *L)
{
    per_head(Q, K, V, B, N, H, d, scale, causal, 0, false, DTYPE_FP32, O, L);
}

void ref_attention_window_bnhd(const float *Q, const float *K, const float *V, size_t B, size_t N, size_t H, size_t d,
                               double scale, size_t W, double *O, double *L)
{
    per_head(Q, K, V, B, N, H, d, scale, true, W, false, DTYPE_FP32, O, L);
}

static void lowp_head(const double *Q, const double *K, const double *V, size_t N, size_t d, double scale,
                      bool causal, size_t W, dtype_t dt, double *O)
{
    float *s = xmalloc(N * sizeof *s), sc = (float)scale;
    for (size_t i = 0; i < N; i++) {
        size_t first, last;
        visible(causal, W, N, i, &first, &last);
        float mx = -INFINITY, sum = 0;
        for (size_t j = first; j < last; j++) {
            float acc = 0;   /* fused multiply-adds in fp32, as a GPU or BLAS matmul accumulates */
            for (size_t k = 0; k < d; k++)
                acc = fmaf((float)Q[i * d + k], (float)K[j * d + k], acc);
            s[j] = dtype_round(dt, sc * acc);                  /* S stored in dt */
            mx = s[j] > mx ? s[j] : mx;
        }
        for (size_t j = first; j < last; j++)
            sum += (s[j] = expf(s[j] - mx));
        for (size_t j = first; j < last; j++)
            s[j] = dtype_round(dt, s[j] / sum);                /* P stored in dt */
        for (size_t k = 0; k < d; k++) {
            float o = 0;
            for (size_t j = first; j < last; j++)
                o = fmaf(s[j], (float)V[j * d + k], o);
            O[i * d + k] = dtype_round(dt, o);                 /* O stored in dt */
        }
    }
    free(s);
}

void ref_attention_lowp(const double *Q, const double *K, const double *V, size_t N, size_t d, double scale,
                        bool causal, dtype_t dt, double *O)
{
    lowp_head(Q, K, V, N, d, scale, causal, 0, dt, O);
}

void ref_attention_lowp_bnhd(const float *Q, const float *K, const float *V, size_t B, size_t N, size_t H, size_t d,
                             double scale, bool causal, dtype_t dt, double *O)
{
    per_head(Q, K, V, B, N, H, d, scale, causal, 0, true, dt, O, NULL);
}

void ref_attention_lowp_window_bnhd(const float *Q, const float *K, const float *V, size_t B, size_t N, size_t H,
                                    size_t d, double scale, size_t W, dtype_t dt, double *O)
{
    per_head(Q, K, V, B, N, H, d, scale, true, W, true, dt, O, NULL);
}
