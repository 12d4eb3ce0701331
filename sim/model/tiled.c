/* tiled.c — O = Q K^T V tile by tile, Algorithm 1's loop without the softmax (see include/model/tiled.h). */
#include "tiled.h"

#include <stdio.h>

#include "util.h"

size_t tiled_sram_need(size_t Br, size_t Bc, size_t d, dtype_t dt)
{
    size_t kv, qo, s, a, b;
    if (!size_mul4_ok(2, Bc, d, dtype_size(dt), &kv) || !size_mul4_ok(2, Br, d, dtype_size(dt), &qo) ||
        !size_mul4_ok(Br, Bc, sizeof(float), 1, &s) || !size_add_ok(kv, qo, &a) || !size_add_ok(a, s, &b))
        return SIZE_MAX;
    return b;
}

void tiled_qkv(mem_t *m, hbm_mat Q, hbm_mat K, hbm_mat V, hbm_mat O, size_t Br, size_t Bc)
{
    size_t N = Q.rows, d = Q.cols;
    if (K.rows != N || V.rows != N || O.rows != N || K.cols != d || V.cols != d || O.cols != d)
        fl_internal("tiled_qkv needs Q, K, V, O of one shape N x d");
    if (Br < 1 || Bc < 1 || Br > N || Bc > N)
        fl_internal("tiled_qkv blocks Br=%zu, Bc=%zu for N=%zu", Br, Bc, N);
    size_t Tr = ceil_div(N, Br), Tc = ceil_div(N, Bc);
    bool data = !mem_count_only(m);

    float *Kj = sram_alloc(m, Bc * d, hbm_dtype(K.t), "Kj");
    float *Vj = sram_alloc(m, Bc * d, hbm_dtype(V.t), "Vj");
    float *Qi = sram_alloc(m, Br * d, hbm_dtype(Q.t), "Qi");
    float *Oi = sram_alloc(m, Br * d, hbm_dtype(O.t), "Oi");
    float *Sij = sram_alloc(m, Br * Bc, DTYPE_FP32, "Sij");

    mem_note(m, "Alg.1 line 2: O = 0 in HBM");
    hbm_fill_rows(m, O, 0, N, 0.0f, "0");
    for (size_t j = 0; j < Tc; j++) {                             /* Alg.1 line 5 */
        size_t k0 = j * Bc, cols = min_size(Bc, N - k0);          /* key rows k0 .. k0+cols (ragged last block) */
        mem_note(m, "Alg.1 line 6: K_j, V_j = rows %zu:%zu stay in SRAM for all %zu query blocks", k0, k0 + cols, Tr);
        hbm_load_rows(m, Kj, K, k0, cols, "Kj");                  /* line 6 */
        hbm_load_rows(m, Vj, V, k0, cols, "Vj");
        for (size_t i = 0; i < Tr; i++) {                         /* line 7 */
            size_t q0 = i * Br, rows = min_size(Br, N - q0);
            char what[96] = "";
            if (mem_observed(m))
                snprintf(what, sizeof what, "O[%zu:%zu] += (Q[%zu:%zu] K[%zu:%zu]^T) V[%zu:%zu]", q0, q0 + rows, q0,
                         q0 + rows, k0, k0 + cols, k0, k0 + cols);
            mem_step(m, (long)i, (long)j, what);
            hbm_load_rows(m, Qi, Q, q0, rows, "Qi");              /* line 8 (no l_i, m_i without softmax) */
            hbm_load_rows(m, Oi, O, q0, rows, "Oi");
            if (data)                                             /* line 9: Sij = Qi Kj^T */
                for (size_t r = 0; r < rows; r++)
                    for (size_t c = 0; c < cols; c++) {
                        float s = 0.0f;
                        for (size_t k = 0; k < d; k++)
                            s += Qi[r * d + k] * Kj[c * d + k];
                        Sij[r * cols + c] = s;
                    }
            mem_compute(m, "Sij = Qi Kj^T", 2 * (uint64_t)rows * cols * d, 0);
            if (data)                                             /* line 12 without softmax: Oi += Sij Vj */
                for (size_t r = 0; r < rows; r++)
                    for (size_t c = 0; c < cols; c++)
                        for (size_t k = 0; k < d; k++)
                            Oi[r * d + k] += Sij[r * cols + c] * Vj[c * d + k];
            mem_compute(m, "Oi += Sij Vj", 2 * (uint64_t)rows * cols * d, 0);
            hbm_store_rows(m, O, q0, rows, Oi, "Oi");             /* line 12: write Oi to HBM */
        }
    }
    sram_free(m, Sij);
    sram_free(m, Oi);
    sram_free(m, Qi);
    sram_free(m, Vj);
    sram_free(m, Kj);
}

void tiled_closed_form(size_t N, size_t d, size_t Br, size_t Bc, size_t heads, tiled_io *out)
{
    uint64_t Nd = (uint64_t)N * d * heads, Tc = ceil_div(N, Bc);
    *out = (tiled_io){0};
    out->rd_K = Nd;                     /* line 6: every Kj once */
    out->rd_V = Nd;
    out->rd_Q = Tc * Nd;                /* line 8: all of Q once per key block */
    out->rd_O = Tc * Nd;
    out->wr_O = Nd + Tc * Nd;           /* line 2: O = 0; line 12: all of O once per key block */
    out->rd = out->rd_K + out->rd_V + out->rd_Q + out->rd_O;
    out->wr = out->wr_O;
    out->flops = 4 * (uint64_t)N * N * d * heads;
    out->tiles = (uint64_t)ceil_div(N, Br) * Tc * heads;
}

void tiled_reference(const double *Q, const double *K, const double *V, size_t N, size_t d, double *O)
{
    for (size_t i = 0; i < N; i++) {
        for (size_t k = 0; k < d; k++)
            O[i * d + k] = 0;
        for (size_t j = 0; j < N; j++) {
            double s = 0;
            for (size_t k = 0; k < d; k++)
                s += Q[i * d + k] * K[j * d + k];
            for (size_t k = 0; k < d; k++)
                O[i * d + k] += s * V[j * d + k];
        }
    }
}
