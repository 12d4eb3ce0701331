/* attn_flash1.c — FlashAttention forward, Algorithm 1 of Dao et al. 2022, line by line.
 *
 * The outer loop walks key/value blocks j, the inner loop query blocks i. The running output Oi and the running
 * statistics li, mi live in HBM: every visited tile reads them (line 8) and writes them back (lines 12–13). So Oi
 * is rounded to the storage dtype after every key block: that is FlashAttention-1's real precision cost in fp16,
 * and it is kept. Heads run in parallel; the j loop carries Oi through HBM, so one head is one piece of work.
 *
 * Causal: tile (i, j) whose first key j*Bc is after its last query min((i+1)Br, N) - 1 is skipped (no loads, no
 * stores). Inside a visited tile, masked scores are -inf; a row masked entirely there has m~ij = -inf, and then 0
 * is subtracted instead (e^(-inf - 0) = 0), so e^(-inf - (-inf)) is never evaluated and no NaN appears.
 */
#include <math.h>

#include "attn_internal.h"
#include "util.h"

/* The subtrahend of exp(x - m): m itself, or 0 when m = -inf (a row with nothing unmasked yet). */
static inline float sub(float m) { return m == -INFINITY ? 0.0f : m; }

static void flash1_head(mem_t *m, const attn_params *p, attn_tensors *t, float *const *buf, size_t item)
{
    size_t b = item / p->H, h = item % p->H, N = p->N, d = p->d, Br = p->Br, Bc = p->Bc;
    size_t Tr = ceil_div(N, Br), Tc = ceil_div(N, Bc);
    hbm_mat Q = hbm_head(t->q, b, h), K = hbm_head(t->k, b, h), V = hbm_head(t->v, b, h),
            O = hbm_head(t->out, b, h), l = hbm_head(t->l, b, h), mm = hbm_head(t->m, b, h);
    float *Kj = buf[F1_Kj], *Vj = buf[F1_Vj], *Qi = buf[F1_Qi], *Oi = buf[F1_Oi], *li = buf[F1_li],
          *mi = buf[F1_mi], *Sij = buf[F1_Sij], *mtij = buf[F1_mtij], *ltij = buf[F1_ltij],
          *mi_new = buf[F1_mi_new], *li_new = buf[F1_li_new];
    float scale = attn_scale(p);
    bool real = !mem_count_only(m);

    /* Alg.1 line 1: Br, Bc were set by attn_choose_blocks (Bc = ⌈M/4d⌉, Br = min(⌈M/4d⌉, d), fitted to M). */
    /* Alg.1 line 2: initialize O = (0)Nxd, l = (0)N, m = (-inf)N in HBM. */
    mem_note(m, "Alg.1 line 2: O = 0, l = 0, m = -inf in HBM (head b=%zu h=%zu)", b, h);
    hbm_fill_rows(m, O, 0, N, 0.0f, "O=0");
    hbm_fill_rows(m, l, 0, N, 0.0f, "l=0");
    hbm_fill_rows(m, mm, 0, N, -INFINITY, "m=-inf");

    /* Alg.1 lines 3-4: Q, O, l, m in Tr blocks of Br rows; K, V in Tc blocks of Bc rows (the last may be short). */
    for (size_t j = 0; j < Tc; j++) {                                   /* Alg.1 line 5 */
        size_t k0 = j * Bc, kc = min_size(Bc, N - k0);
        mem_note(m, "Alg.1 line 6: load K%zu, V%zu (rows %zu..%zu)", j, j, k0, k0 + kc - 1);
        hbm_load_rows(m, Kj, K, k0, kc, "Kj");
        hbm_load_rows(m, Vj, V, k0, kc, "Vj");
        for (size_t i = 0; i < Tr; i++) {                               /* Alg.1 line 7 */
            size_t q0 = i * Br, qr = min_size(Br, N - q0);
            if (attn_tile_skipped(p, i, j)) {                           /* causal: every key after every query */
                mem_step(m, (long)i, (long)j, ATTN_STEP_SKIP);
                continue;
            }
            mem_step(m, (long)i, (long)j, "Alg.1 lines 8-13");

            /* Alg.1 line 8: load Qi, Oi, li, mi from HBM to on-chip SRAM. */
            mem_note(m, "Alg.1 line 8: load Q%zu, O%zu, l%zu, m%zu (rows %zu..%zu)", i, i, i, i, q0, q0 + qr - 1);
            hbm_load_rows(m, Qi, Q, q0, qr, "Qi");
            hbm_load_rows(m, Oi, O, q0, qr, "Oi");
            hbm_load_rows(m, li, l, q0, qr, "li");
            hbm_load_rows(m, mi, mm, q0, qr, "mi");

            /* Alg.1 line 9: Sij = scale Qi Kj^T (Br x Bc), masked scores -inf. */
            if (real)
                for (size_t r = 0; r < qr; r++)
                    for (size_t c = 0; c < kc; c++) {
                        float acc = 0;
                        for (size_t x = 0; x < d; x++)
                            acc += Qi[r * d + x] * Kj[c * d + x];
                        Sij[r * kc + c] = p->causal && k0 + c > q0 + r ? -INFINITY : scale * acc;
                    }
            mem_compute(m, "Alg.1 9: Sij = Qi Kj^T", 2 * (uint64_t)qr * kc * d, 0);

            /* Alg.1 line 10: m~ij = rowmax(Sij), P~ij = exp(Sij - m~ij) (in place), l~ij = rowsum(P~ij). */
            if (real)
                for (size_t r = 0; r < qr; r++) {
                    float mx = -INFINITY, sum = 0;
                    for (size_t c = 0; c < kc; c++)
                        mx = fmaxf(mx, Sij[r * kc + c]);
                    for (size_t c = 0; c < kc; c++)
                        sum += (Sij[r * kc + c] = expf(Sij[r * kc + c] - sub(mx)));
                    mtij[r] = mx;
                    ltij[r] = sum;
                }
            mem_compute(m, "Alg.1 10: m~ij P~ij l~ij", 0, (uint64_t)qr * kc);

            /* Alg.1 line 11: mi_new = max(mi, m~ij), li_new = e^(mi - mi_new) li + e^(m~ij - mi_new) l~ij.
             * Alg.1 line 12: Oi <- diag(li_new)^-1 (diag(li) e^(mi - mi_new) Oi + e^(m~ij - mi_new) P~ij Vj).
             * Both lines use the same two factors per row, so they share one pass over the rows. */
            if (real)
                for (size_t r = 0; r < qr; r++) {
                    mi_new[r] = fmaxf(mi[r], mtij[r]);
                    float a = expf(mi[r] - sub(mi_new[r])), e = expf(mtij[r] - sub(mi_new[r]));
                    li_new[r] = a * li[r] + e * ltij[r];
                    for (size_t x = 0; x < d; x++) {
                        float pv = 0;
                        for (size_t c = 0; c < kc; c++)
                            pv += Sij[r * kc + c] * Vj[c * d + x];
                        /* li_new = 0 only for a row with no unmasked key yet: its output stays 0 */
                        Oi[r * d + x] = li_new[r] > 0 ? (li[r] * a * Oi[r * d + x] + e * pv) / li_new[r] : 0.0f;
                    }
                }
            mem_compute(m, "Alg.1 11: mi_new li_new", 0, 2 * (uint64_t)qr);
            mem_compute(m, "Alg.1 12: P~ij Vj, new Oi", 2 * (uint64_t)qr * kc * d, 0);
            mem_note(m, "Alg.1 lines 12-13: write O%zu, l%zu, m%zu back to HBM", i, i, i);
            hbm_store_rows(m, O, q0, qr, Oi, "Oi");                     /* rounded to the storage dtype */

            /* Alg.1 line 13: li <- li_new, mi <- mi_new, written to HBM. */
            hbm_store_rows(m, l, q0, qr, li_new, "li");
            hbm_store_rows(m, mm, q0, qr, mi_new, "mi");
        }
    }
}

void flash1_forward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    sram_plan plan;
    attn_sram_plan(ATTN_FLASH1, false, p->Br, p->Bc, p->d, hbm_dtype(t->q), &plan);
    mem_phase(m, "forward");
    attn_run(m, p, t, &plan, p->B * p->H, flash1_head);
}
