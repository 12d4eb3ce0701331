/* check_ring.c — ring attention on simulated devices (sim/model/ring.c): the split covers the sequence once; the
 * link and device ledgers equal their closed forms on random P, N (ragged), d, B, H, dtype, causal or not, both
 * layouts; the output equals the fp64 single-device reference (and, for P = 1, attn_forward's bit for bit); under a
 * causal mask zigzag balances the tiles where contiguous does not; the modelled clock hides transfers exactly when
 * compute outlasts them; bad rings are refused, and ./lesson12 exits 2 with one line on bad input. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "check_util.h"
#include "proc.h"
#include "reference.h"
#include "ring.h"
#include "rng.h"
#include "util.h"
#include "verify.h"
#include "../cuda/tc/tc_chunk.h"   // defines: the GPU chunk kernel's index arithmetic (tc_chunk_map, ...), plain C

#define RANDOM_RINGS 40      /* random configurations per property */
/* Tri Dao's criterion (verify_tridao_bound): ORACLE_TRIDAO_FACTOR times a materialized dt implementation's error,
 * plus roundings of max |O| to dt: FA2's own output (2), then one per merge (P - 1 of them: O is stored in dt after
 * each). */
#define FLOOR_ROUNDINGS 2.0
#define L_RTOL 1e-5          /* L is fp32 on chip in every dtype: ~100 fp32 ulps of the largest |L| */
#define ZIGZAG_BALANCE 1.1   /* the bound on zigzag's causal imbalance (max/min tiles over devices) */

static ring_params random_ring(rng_t *g, bool causal, ring_layout layout, bool small)
{
    ring_params rp = {.layout = layout, .link_bytes_per_s = RING_NVLINK4_BYTES_PER_S, .peak_flops = RING_H100_FLOPS};
    rp.a = (attn_params){.algo = ATTN_FLASH2, .B = 1 + rng_below(g, 2), .H = 1 + rng_below(g, 2),
                         .d = 1 + rng_below(g, small ? 8 : 16), .causal = causal};
    rp.P = 1 + rng_below(g, small ? 5 : 9);
    rp.a.N = rp.P + rng_below(g, small ? 40 : 200);          /* P <= N, ragged chunks almost always */
    size_t M = 1024 + 64 * rng_below(g, 64);   /* SRAM the blocks are fitted to (the run gets 1 MiB) */
    dtype_t dt = DTYPE_FP32;
    block_choice bc;
    char err[200];
    if (rng_below(g, 2)) {   /* blocks by FA2's rule, or asked for (clamped to the longest chunk) */
        ck_assert_msg(!ring_choose_blocks(&rp, 1 << 20, dt, 1 + rng_below(g, 12), 1 + rng_below(g, 12), &bc, err,
                                          sizeof err), "%s", err);
    } else {
        while (ring_choose_blocks(&rp, M, dt, 0, 0, &bc, err, sizeof err))
            M *= 2;
    }
    return rp;
}

/* ---- the split ------------------------------------------------------------------------------------------------ */

START_TEST(split_covers_sequence_once)
{
    for (int layout = 0; layout < 2; layout++)
        for (size_t P = 1; P <= 9; P++)
            for (size_t N = P; N <= 3 * P + 40; N += 1 + N / 7) {
                ring_params rp = {.P = P, .layout = (ring_layout)layout, .a = {.N = N}};
                unsigned char *seen = calloc(N, 1);
                size_t total = 0, lo = SIZE_MAX, hi = 0;
                for (size_t r = 0; r < P; r++) {
                    ring_chunk c = ring_chunk_of(&rp, r);
                    ck_assert_uint_eq(c.npieces, layout ? 2u : 1u);
                    ck_assert_uint_ge(c.n, 1);
                    for (size_t k = 0; k < c.npieces; k++)
                        for (size_t i = 0; i < c.piece[k].n; i++) {
                            ck_assert_uint_lt(c.piece[k].pos + i, N);
                            ck_assert_msg(!seen[c.piece[k].pos + i]++, "position covered twice");
                        }
                    if (layout) {   /* zigzag: chunks r and 2P-1-r of 2P, in position order */
                        ck_assert_uint_le(c.piece[0].pos + c.piece[0].n, c.piece[1].pos);
                        ck_assert_uint_eq(c.piece[0].pos, r * (N / (2 * P)) + min_size(r, N % (2 * P)));
                    }
                    total += c.n, lo = min_size(lo, c.n), hi = max_size(hi, c.n);
                }
                ck_assert_uint_eq(total, N);
                ck_assert_uint_le(hi - lo, layout ? 2u : 1u);
                ck_assert_uint_eq(hi, ring_max_rows(&rp));
                free(seen);
            }
}
END_TEST

/* Under a mask, every step is the diagonal (s = 0), full, or nothing: check each step's window against the
 * positions it holds, key by key. */
START_TEST(steps_mask_whole_windows)
{
    for (int layout = 0; layout < 2; layout++)
        for (size_t P = 1; P <= 7; P++)
            for (size_t N = P; N <= 4 * P + 9; N += 3) {
                ring_params rp = {.P = P, .layout = (ring_layout)layout, .a = {.N = N, .causal = true}};
                for (size_t r = 0; r < P; r++)
                    for (size_t s = 0; s < P; s++) {
                        ring_work w = ring_step_work(&rp, r, s);
                        ring_chunk me = ring_chunk_of(&rp, r), it = ring_chunk_of(&rp, w.src);
                        ck_assert_uint_eq(w.src, (r + P - s) % P);
                        ck_assert(w.causal == (s == 0));
                        /* a query row of the device sees a key of the chunk iff key position <= query position;
                         * rows and keys outside the window must see nothing, inside (unmasked) everything */
                        for (size_t i = 0; i < me.n; i++)
                            for (size_t k = 0; k < it.n; k++) {
                                size_t qp = ring_position(&me, i), kp = ring_position(&it, k);
                                bool in = i >= w.q0 && i < w.q0 + w.nq && k >= w.k0 && k < w.k0 + w.nk;
                                bool sees = kp <= qp;
                                if (w.causal)
                                    ck_assert(in && (sees == (k <= i)));   /* storage order keeps the mask */
                                else
                                    ck_assert_msg(in == sees, "P=%zu N=%zu r=%zu s=%zu row %zu key %zu", P, N, r, s,
                                                  i, k);
                            }
                    }
            }
}
END_TEST

/* ring_chunk_rows: a window's rows keep the positions they have in the chunk, in increasing pieces. */
START_TEST(window_rows_keep_positions)
{
    for (int layout = 0; layout < 2; layout++)
        for (size_t P = 1; P <= 6; P++)
            for (size_t N = P; N <= 4 * P + 9; N += 2) {
                ring_params rp = {.P = P, .layout = (ring_layout)layout, .a = {.N = N}};
                for (size_t r = 0; r < P; r++) {
                    ring_chunk c = ring_chunk_of(&rp, r);
                    for (size_t w0 = 0; w0 < c.n; w0++)
                        for (size_t n = 1; w0 + n <= c.n; n++) {
                            ring_chunk w = ring_chunk_rows(&c, w0, n);
                            ck_assert_uint_eq(w.n, n);
                            ck_assert_uint_eq(w.piece[0].n + (w.npieces > 1 ? w.piece[1].n : 0), n);
                            if (w.npieces > 1)
                                ck_assert_uint_le(w.piece[0].pos + w.piece[0].n, w.piece[1].pos);
                            for (size_t i = 0; i < n; i++)
                                ck_assert_uint_eq(ring_position(&w, i), ring_position(&c, w0 + i));
                        }
                }
            }
}
END_TEST

/* What the GPU's chunk kernel computes (cuda/tc/tc_chunk.h), in fp64: window rows of chunk `me` against window keys
 * of chunk `it`, a key hidden when its position is after the query's (causal); O normalized, L = m + log l, and a
 * row that sees no key O = 0, L = -inf. Q, K, V: one head, (N, d). */
static void chunk_attention(const double *Q, const double *K, const double *V, size_t d, bool causal,
                            const ring_chunk *me, size_t q0, size_t nq, const ring_chunk *it, size_t k0, size_t nk,
                            double *O, double *L)
{
    ring_chunk qw = ring_chunk_rows(me, q0, nq), kw = ring_chunk_rows(it, k0, nk);
    double scale = 1.0 / sqrt((double)d), *s = malloc(nk * sizeof *s);
    for (size_t i = 0; i < nq; i++) {
        size_t qp = ring_position(&qw, i);
        double m = -INFINITY, l = 0;
        for (size_t j = 0; j < nk; j++) {
            size_t kp = ring_position(&kw, j);
            s[j] = -INFINITY;
            if (!causal || kp <= qp) {
                s[j] = 0;
                for (size_t x = 0; x < d; x++)
                    s[j] += Q[qp * d + x] * K[kp * d + x] * scale;
            }
            m = fmax(m, s[j]);
        }
        for (size_t x = 0; x < d; x++)
            O[i * d + x] = 0;
        for (size_t j = 0; m > -INFINITY && j < nk; j++) {
            double p = exp(s[j] - m);
            l += p;
            for (size_t x = 0; x < d; x++)
                O[i * d + x] += p * V[ring_position(&kw, j) * d + x];
        }
        for (size_t x = 0; l > 0 && x < d; x++)
            O[i * d + x] /= l;
        L[i] = l > 0 ? m + log(l) : -INFINITY;
    }
    free(s);
}

/* Both plans of the GPU path (step windows, or whole chunk pairs masked by position and skipped when hidden), with
 * the GPU's merge rule and its L = -inf identity, give single-device attention: fp64 throughout, so only the sums'
 * order differs (PLAN_TOL). And a whole pair is skipped exactly when no query of it sees a key. */
#define PLAN_TOL 1e-12   /* fp64 sums reordered: ~1e-16 per operation, well below */
START_TEST(plans_give_single_device_attention)
{
    rng_t g;
    rng_seed(&g, 2024);
    for (int k = 0; k < RANDOM_RINGS; k++)
        for (int causal = 0; causal < 2; causal++)
            for (int layout = 0; layout < 2; layout++)
                for (int whole = 0; whole < 2; whole++) {
                    ring_params rp = {.P = 1 + rng_below(&g, 8), .layout = (ring_layout)layout};
                    rp.a = (attn_params){.N = rp.P + rng_below(&g, 60), .d = 1 + rng_below(&g, 6), .causal = causal};
                    size_t N = rp.a.N, d = rp.a.d;
                    double *x[3], *ro = malloc(N * d * sizeof *ro), *rl = malloc(N * sizeof *rl);
                    for (int t = 0; t < 3; t++) {
                        x[t] = malloc(N * d * sizeof *x[t]);
                        for (size_t i = 0; i < N * d; i++)
                            x[t][i] = rng_normal(&g);
                    }
                    ref_attention(x[0], x[1], x[2], N, d, 1.0 / sqrt((double)d), causal, ro, rl);
                    for (size_t r = 0; r < rp.P; r++) {
                        ring_chunk me = ring_chunk_of(&rp, r);
                        double *O = malloc(me.n * d * sizeof *O), *L = malloc(me.n * sizeof *L),
                               *Os = malloc(me.n * d * sizeof *Os), *Ls = malloc(me.n * sizeof *Ls);
                        for (size_t s = 0; s < rp.P; s++) {
                            ring_work w = whole ? ring_step_whole(&rp, r, s) : ring_step_work(&rp, r, s);
                            ring_chunk it = ring_chunk_of(&rp, w.src);
                            if (whole) {
                                ck_assert(w.q0 == 0 && w.k0 == 0 && w.nk == it.n);
                                bool any = !causal;
                                for (size_t i = 0; i < me.n; i++)
                                    for (size_t j = 0; j < it.n; j++)
                                        any |= ring_position(&it, j) <= ring_position(&me, i);
                                ck_assert_msg(any == (w.nq == me.n) && (any || w.nq == 0), "P=%zu r=%zu s=%zu",
                                              rp.P, r, s);
                            }
                            if (!w.nq)
                                continue;
                            ck_assert_msg(s || (w.q0 == 0 && w.nq == me.n), "step 0 sets every row");
                            chunk_attention(x[0], x[1], x[2], d, causal, &me, w.q0, w.nq, &it, w.k0, w.nk,
                                            (s ? Os : O) + w.q0 * d, (s ? Ls : L) + w.q0);
                            for (size_t i = w.q0; s && i < w.q0 + w.nq; i++) {   /* the merge, as the GPU's */
                                double mx = fmax(L[i], Ls[i]);
                                if (mx == -INFINITY)
                                    continue;
                                double ea = exp(L[i] - mx), eb = exp(Ls[i] - mx);
                                for (size_t c = 0; c < d; c++)
                                    O[i * d + c] = (ea * O[i * d + c] + eb * Os[i * d + c]) / (ea + eb);
                                L[i] = mx + log(ea + eb);
                            }
                        }
                        for (size_t i = 0; i < me.n; i++) {
                            size_t pos = ring_position(&me, i);
                            ck_assert_msg(fabs(L[i] - rl[pos]) <= PLAN_TOL * (1 + fabs(rl[pos])),
                                          "P=%zu N=%zu %s %s %s: L at %zu", rp.P, N, ring_layout_name(rp.layout),
                                          causal ? "causal" : "full", whole ? "chunks" : "windows", pos);
                            for (size_t c = 0; c < d; c++)
                                ck_assert_msg(fabs(O[i * d + c] - ro[pos * d + c]) <= PLAN_TOL, "O at %zu", pos);
                        }
                        free(O), free(L), free(Os), free(Ls);
                    }
                    for (int t = 0; t < 3; t++)
                        free(x[t]);
                    free(ro), free(rl);
                }
}
END_TEST

/* ---- the GPU chunk kernel's index arithmetic (cuda/tc/tc_chunk.h), on the CPU -------------------------------- */

#define CHUNK_BR 128          /* the kernel's query rows per block: v09's 4 warps x 32 rows */
#define CHUNK_WARP_ROWS 32

/* n rows at random positions below ~1000: one piece, or two with a gap (either may be empty but not both). */
static tc_chunk_pos random_positions(rng_t *g, size_t n)
{
    size_t p0 = rng_below(g, 500), n0 = rng_below(g, 2) ? n : rng_below(g, n + 1);
    return (tc_chunk_pos){{p0, p0 + n0 + rng_below(g, 500)}, n0};
}

static int hidden_by_positions(const tc_chunk_pos *q, const tc_chunk_pos *k, size_t nk, int i, int j, int causal)
{
    return j >= (int)nk || (causal && tc_chunk_pos_of(k, (size_t)j) > tc_chunk_pos_of(q, (size_t)i));
}

/* The kernel's positions, its key-block range (no visible key left out, no block past the last visible one) and its
 * mask skip (a block it does not mask hides no key from the warp's rows) against the positions themselves. */
START_TEST(chunk_kernel_index_arithmetic)
{
    rng_t g;
    rng_seed(&g, 1515);
    for (int it = 0; it < 100; it++) {
        size_t nq = 1 + rng_below(&g, 200), nk = 1 + rng_below(&g, 200);
        tc_chunk_pos qp = random_positions(&g, nq), kp = random_positions(&g, nk);
        if (it % 2) {   /* the diagonal (a device's own chunk), or keys a step or two after it: masks cut blocks */
            size_t shift = rng_below(&g, 3);
            nk = nq, kp = qp, kp.pos[0] += shift, kp.pos[1] += shift;
        }
        tc_chunk_map qm = tc_chunk_map_of(&qp, nq), km = tc_chunk_map_of(&kp, nk);
        for (size_t i = 0; i < nq; i++)
            ck_assert_int_eq(tc_chunk_at(qm, (int)i), (int)tc_chunk_pos_of(&qp, i));
        for (int x = -1; x < 1600; x += 7) {   /* keys at or before x: a prefix, counted right */
            int n = tc_chunk_upto(km, x);
            for (size_t j = 0; j < nk; j++)
                ck_assert((int)j < n ? (int)tc_chunk_pos_of(&kp, j) <= x : (int)tc_chunk_pos_of(&kp, j) > x);
        }
        for (int causal = 0; causal < 2; causal++)
            for (int bc = 64; bc <= 128; bc += 64)
                for (int q0 = 0; q0 < (int)nq; q0 += CHUNK_BR) {
                    int jend = tc_chunk_key_blocks(qm, km, q0, CHUNK_BR, bc, causal), qend = min_size(q0 + CHUNK_BR, nq);
                    int last_seen = -1;   /* the last key some row of the block sees */
                    for (int i = q0; i < qend; i++)
                        for (int j = 0; j < (int)nk; j++) {
                            ck_assert_int_eq(tc_chunk_hidden(qm, km, i, j, causal),
                                             hidden_by_positions(&qp, &kp, nk, i, j, causal));
                            if (!hidden_by_positions(&qp, &kp, nk, i, j, causal))
                                last_seen = j > last_seen ? j : last_seen;
                        }
                    ck_assert_int_eq(jend, last_seen < 0 ? 1 : last_seen / bc + 1);
                    for (int row = q0; row < qend; row += CHUNK_WARP_ROWS)
                        for (int k0 = 0; k0 < jend * bc; k0 += bc) {
                            if (tc_chunk_crosses(qm, km, k0, bc, row, causal))
                                continue;
                            for (int i = row; i < row + CHUNK_WARP_ROWS && i < qend; i++)
                                for (int j = k0; j < k0 + bc; j++)
                                    ck_assert_msg(!hidden_by_positions(&qp, &kp, nk, i, j, causal),
                                                  "unmasked block k0=%d hides key %d from row %d", k0, j, i);
                        }
                }
    }
}
END_TEST

/* ---- ledgers -------------------------------------------------------------------------------------------------- */

static void check_ledgers(const ring_params *rp, ring_t *R, dtype_t dt)
{
    size_t P = rp->P;
    const attn_params *a = &rp->a;
    uint64_t BHd = (uint64_t)a->B * a->H * a->d, total = 0;
    for (size_t r = 0; r < P; r++) {
        uint64_t link = 0;
        for (size_t s = 0; s + 1 < P; s++) {
            ring_count c = ring_link(R, r, s);
            ck_assert_uint_eq(c.elems, 2 * BHd * ring_chunk_of(rp, (r + P - s) % P).n);
            ck_assert_uint_eq(c.bytes, c.elems * dtype_size(dt));
            link += c.elems;
        }
        ck_assert_uint_eq(link, ring_link_closed_form(rp, r));
        total += link;

        ring_device_io want;
        ring_device_closed_form(rp, dt, r, &want);
        mem_t *m = ring_mem(R, r);
        for (size_t k = 0; k < want.io.n; k++) {
            io_count got = mem_io(m, want.io.row[k].tensor, NULL);
            ck_assert_msg(got.rd_elems == want.io.row[k].rd && got.wr_elems == want.io.row[k].wr,
                          "P=%zu N=%zu d=%zu %s %s device %zu: %s read %llu written %llu, closed form %llu, %llu", P,
                          a->N, a->d, ring_layout_name(rp->layout), a->causal ? "causal" : "full", r,
                          want.io.row[k].tensor, (unsigned long long)got.rd_elems, (unsigned long long)got.wr_elems,
                          (unsigned long long)want.io.row[k].rd, (unsigned long long)want.io.row[k].wr);
        }
        io_count all = mem_io(m, NULL, NULL);
        ck_assert_uint_eq(all.rd_elems, want.io.rd);
        ck_assert_uint_eq(all.wr_elems, want.io.wr);
        ck_assert_uint_eq(ring_tiles(R, r), want.io.tiles);
        ck_assert_uint_eq(mem_hbm_peak(m), want.hbm_peak);
    }
    /* the total: 2·d·Σ_p (P - 1)·n_p per head */
    ck_assert_uint_eq(total, 2 * BHd * (P - 1) * a->N);
    ck_assert_uint_eq(ring_link_total(R).elems, total);
}

START_TEST(ledgers_equal_closed_forms)
{
    rng_t g;
    rng_seed(&g, 1515);
    for (int k = 0; k < RANDOM_RINGS; k++)
        for (int causal = 0; causal < 2; causal++)
            for (int layout = 0; layout < 2; layout++) {
                ring_params rp = random_ring(&g, causal, (ring_layout)layout, false);
                dtype_t dt = (dtype_t)rng_below(&g, 3);
                ring_t *R = ring_create(&rp, 1 << 20, dt, true);
                ring_forward(R);
                check_ledgers(&rp, R, dt);
                ring_destroy(R);
            }
}
END_TEST

/* ---- the output ----------------------------------------------------------------------------------------------- */

START_TEST(output_equals_single_device)
{
    rng_t g;
    rng_seed(&g, 2310);
    for (int k = 0; k < RANDOM_RINGS / 2; k++)
        for (int causal = 0; causal < 2; causal++)
            for (int layout = 0; layout < 2; layout++) {
                ring_params rp = random_ring(&g, causal, (ring_layout)layout, true);
                const attn_params *a = &rp.a;
                dtype_t dt = (dtype_t)rng_below(&g, 3);
                size_t n = a->B * a->N * a->H * a->d, nl = a->B * a->H * a->N;
                float *x[3], *o = malloc(n * sizeof *o), *l = malloc(nl * sizeof *l);
                for (int t = 0; t < 3; t++) {
                    x[t] = malloc(n * sizeof(float));
                    rng_fill_normal(&g, x[t], n, 1.0f);
                    for (size_t i = 0; i < n; i++)
                        x[t][i] = dtype_round(dt, x[t][i]);
                }
                ring_t *R = ring_create(&rp, 1 << 20, dt, false);
                ring_scatter(R, x[0], x[1], x[2]);
                ring_forward(R);
                ring_gather(R, o, l);
                check_ledgers(&rp, R, dt);   /* real arithmetic counts the same */
                ring_destroy(R);

                double *ro = malloc(n * sizeof *ro), *rl = malloc(nl * sizeof *rl), *lo = malloc(n * sizeof *lo);
                double scale = 1.0 / sqrt((double)a->d);
                ref_attention_bnhd(x[0], x[1], x[2], a->B, a->N, a->H, a->d, scale, a->causal, ro, rl);
                ref_attention_lowp_bnhd(x[0], x[1], x[2], a->B, a->N, a->H, a->d, scale, a->causal, dt, lo);
                double err = 0, err_lowp = 0, omax = 0, err_l = 0, lmax = 0;
                for (size_t i = 0; i < n; i++) {
                    ck_assert_msg(!isnan(o[i]), "NaN in O");
                    err = fmax(err, fabs(o[i] - ro[i]));
                    err_lowp = fmax(err_lowp, fabs(lo[i] - ro[i]));
                    omax = fmax(omax, fabs(ro[i]));
                }
                for (size_t i = 0; i < nl; i++) {
                    ck_assert_msg(!isnan(l[i]), "NaN in L");
                    err_l = fmax(err_l, fabs(l[i] - rl[i]));
                    lmax = fmax(lmax, fabs(rl[i]));
                }
                double tol = verify_tridao_bound(err_lowp, (FLOOR_ROUNDINGS + (double)(rp.P - 1)) * dtype_eps(dt) * omax);
                ck_assert_msg(err <= tol, "P=%zu N=%zu d=%zu %s %s %s: max |O - ref| %g > %g", rp.P, a->N, a->d,
                              ring_layout_name(rp.layout), causal ? "causal" : "full", dtype_name(dt), err, tol);
                ck_assert_msg(err_l <= L_RTOL * (1 + lmax), "max |L - ref| %g", err_l);
                for (int t = 0; t < 3; t++)
                    free(x[t]);
                free(o), free(l), free(ro), free(rl), free(lo);
            }
}
END_TEST

/* One device: the ring is FlashAttention-2 on the whole sequence, the same counts and bitwise the same output. */
START_TEST(one_device_is_flash2)
{
    rng_t g;
    rng_seed(&g, 77);
    for (int causal = 0; causal < 2; causal++) {
        ring_params rp = {.P = 1, .layout = RING_CONTIGUOUS, .link_bytes_per_s = 1, .peak_flops = 1,
                          .a = {.algo = ATTN_FLASH2, .B = 2, .N = 37, .H = 3, .d = 5, .causal = causal}};
        block_choice bc;
        char err[200];
        ck_assert(!ring_choose_blocks(&rp, 2048, DTYPE_FP16, 0, 0, &bc, err, sizeof err));
        size_t n = 2 * 37 * 3 * 5, nl = 2 * 3 * 37;
        float *x[3], *o = malloc(n * sizeof *o), *l = malloc(nl * sizeof *l), *o2 = malloc(n * sizeof *o2),
                     *l2 = malloc(nl * sizeof *l2);
        for (int t = 0; t < 3; t++) {
            x[t] = malloc(n * sizeof(float));
            rng_fill_normal(&g, x[t], n, 1.0f);
            for (size_t i = 0; i < n; i++)
                x[t][i] = dtype_round(DTYPE_FP16, x[t][i]);
        }
        ring_t *R = ring_create(&rp, 2048, DTYPE_FP16, false);
        ring_scatter(R, x[0], x[1], x[2]);
        ring_forward(R);
        ring_gather(R, o, l);

        mem_t *m = mem_create(2048, false);
        attn_params p = rp.a;
        p.threads = 1;
        attn_tensors t = attn_alloc(m, &p, DTYPE_FP16, false);
        hbm_upload(t.q, x[0]), hbm_upload(t.k, x[1]), hbm_upload(t.v, x[2]);
        attn_forward(m, &p, &t);
        hbm_download(t.out, o2), hbm_download(t.lse, l2);
        ck_assert(!memcmp(o, o2, n * sizeof *o) && !memcmp(l, l2, nl * sizeof *l));
        const char *names[] = {"Q", "K", "V", "O", "L"};
        for (int k = 0; k < 5; k++) {
            io_count a = mem_io(ring_mem(R, 0), names[k], NULL), b = mem_io(m, names[k], NULL);
            ck_assert(a.rd_elems == b.rd_elems && a.wr_elems == b.wr_elems);
        }
        ck_assert_uint_eq(mem_flops(ring_mem(R, 0), NULL), mem_flops(m, NULL));
        ck_assert_uint_eq(ring_link_total(R).elems, 0);
        attn_free(m, &t);
        mem_destroy(m);
        ring_destroy(R);
        for (int k = 0; k < 3; k++)
            free(x[k]);
        free(o), free(l), free(o2), free(l2);
    }
}
END_TEST

/* ---- balance -------------------------------------------------------------------------------------------------- */

static double imbalance(const ring_params *rp)
{
    ring_t *R = ring_create(rp, 1 << 20, DTYPE_BF16, true);
    ring_forward(R);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t r = 0; r < rp->P; r++)
        lo = ring_tiles(R, r) < lo ? ring_tiles(R, r) : lo, hi = ring_tiles(R, r) > hi ? ring_tiles(R, r) : hi;
    ring_destroy(R);
    return (double)hi / (double)lo;
}

/* Causal: contiguous gives the last device (P-1) full chunks and a half, the first one half: about 2P - 1. Zigzag
 * gives every device the same tiles when the chunks hold whole blocks (here 2P·Br | N). */
START_TEST(zigzag_balances_causal_tiles)
{
    for (size_t P = 2; P <= 8; P++)
        for (size_t Br = 4; Br <= 16; Br *= 2) {
            ring_params rp = {.P = P, .link_bytes_per_s = 1, .peak_flops = 1,
                              .a = {.algo = ATTN_FLASH2, .B = 1, .N = 2 * P * Br * 4, .H = 1, .d = 8, .causal = true,
                                    .Br = Br, .Bc = Br}};
            rp.layout = RING_ZIGZAG;
            double z = imbalance(&rp);
            rp.layout = RING_CONTIGUOUS;
            double c = imbalance(&rp);
            ck_assert_msg(z <= ZIGZAG_BALANCE, "P=%zu Br=%zu: zigzag imbalance %g", P, Br, z);
            /* contiguous: ((P-1)·T² + T(T+1)/2) / (T(T+1)/2) with T = 8 tiles a side: near 2P - 1 */
            double T = 8, want = ((double)(P - 1) * T * T + T * (T + 1) / 2) / (T * (T + 1) / 2);
            ck_assert_msg(fabs(c - want) < 1e-9, "P=%zu Br=%zu: contiguous imbalance %g, want %g", P, Br, c, want);
            ck_assert(c > 1.7 * (double)P - 1);
        }
}
END_TEST

/* ---- the clock ------------------------------------------------------------------------------------------------ */

/* Each step's compute is 4·n²·d FLOPs (plus the merge), a send 2·n·d·e bytes: transfers hide when n > F·e/(2W).
 * Far above it the ring takes its compute time; far below, its transfer time; never more than the serial time. */
START_TEST(clock_hides_transfers_when_compute_outlasts_them)
{
    const double F = RING_H100_FLOPS, W = RING_NVLINK4_BYTES_PER_S;
    for (size_t P = 2; P <= 6; P++)
        for (int big = 0; big < 2; big++) {
            size_t n = big ? 16384 : 64, d = 64;
            ring_params rp = {.P = P, .layout = RING_CONTIGUOUS, .link_bytes_per_s = W, .peak_flops = F,
                              .a = {.algo = ATTN_FLASH2, .B = 1, .N = n * P, .H = 1, .d = d, .Br = 256, .Bc = 64}};
            if (!big)
                rp.a.Br = 16, rp.a.Bc = 16;
            ring_t *R = ring_create(&rp, 1 << 24, DTYPE_BF16, true);
            ring_forward(R);
            double compute = 0, send = 2.0 * (double)n * (double)d * 2 / W * 1e9;
            for (size_t s = 0; s < P; s++)
                compute += (double)ring_slot_at(R, 0, s).flops / F * 1e9;
            double t = ring_time_ns(R), serial = ring_time_serial_ns(R);
            ck_assert(t <= serial * (1 + 1e-12));
            if (big)   /* compute-bound: the first step's compute, then each send hides under the next compute */
                ck_assert_msg(fabs(t - compute) <= 1e-9 * compute, "P=%zu: %g ns, compute alone %g", P, t, compute);
            else       /* transfer-bound: P-1 sends back to back, then the last compute */
                ck_assert_msg(t >= (double)(P - 1) * send && t < (double)(P - 1) * send + compute,
                              "P=%zu: %g ns, sends %g", P, t, (double)(P - 1) * send);
            for (size_t r = 0; r < P; r++)
                for (size_t s = 0; s + 1 < P; s++) {
                    ring_slot x = ring_slot_at(R, r, s), y = ring_slot_at(R, (r + 1) % P, s + 1);
                    ck_assert(y.start >= x.send_end);   /* a device computes only on a chunk that has arrived */
                }
            ring_destroy(R);
        }
}
END_TEST

/* ---- limits --------------------------------------------------------------------------------------------------- */

START_TEST(bad_rings_refused)
{
    char err[200];
    ring_params rp = {.P = 0, .a = {.N = 8}, .link_bytes_per_s = 1, .peak_flops = 1};
    ck_assert_int_eq(ring_check(&rp, err, sizeof err), -1);
    rp.P = 9;
    ck_assert_int_eq(ring_check(&rp, err, sizeof err), -1);
    rp.P = 8;
    ck_assert_int_eq(ring_check(&rp, err, sizeof err), 0);
    rp.link_bytes_per_s = 0;
    ck_assert_int_eq(ring_check(&rp, err, sizeof err), -1);
    rp.link_bytes_per_s = 1, rp.peak_flops = INFINITY;
    ck_assert_int_eq(ring_check(&rp, err, sizeof err), -1);
    ring_layout l;
    ck_assert_int_eq(ring_layout_parse("zigzag", &l), 0);
    ck_assert_int_eq(l, RING_ZIGZAG);
    ck_assert_int_eq(ring_layout_parse("striped", &l), -1);
}
END_TEST

START_TEST(lesson12_bad_input)
{
    char bin[PATH_MAX];
    ck_assert_msg(bin_find("lesson12", bin, sizeof bin), "lesson12 is not built");
    static const char *const bad[][4] = {{"--devices", "0"}, {"--devices", "65", "-N", "100"},
                                         {"--devices", "9", "-N", "8"}, {"--layout", "striped"},
                                         {"--layout"}, {"--devices", "x"}, {"--link-gbs", "0"},
                                         {"--peak-tflops", "-1"}, {"--devices=99999999999999999999999"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        proc p = run_bin(bin, bad[k], "/tmp");
        ck_assert_msg(proc_one_line(&p, 2, "error"), "lesson12 %s %s: exit %d, stderr '%s'", bad[k][0],
                      bad[k][1] ? bad[k][1] : "", p.status, p.err);
        proc_free(&p);
    }
}
END_TEST

/* The lesson's own checks pass on both layouts, masked or not, and its summary carries the ring's keys. */
START_TEST(lesson12_runs)
{
    char bin[PATH_MAX];
    ck_assert_msg(bin_find("lesson12", bin, sizeof bin), "lesson12 is not built");
    static const char *const runs[][14] = {{"--quiet"}, {"--quiet", "--causal", "--layout", "zigzag"},
                                          {"--quiet", "--causal", "--devices", "3", "-N", "50"},
                                          {"--quiet", "--count-only", "--causal", "-N", "65536", "-d", "64", "-M", "192K",
                                           "--devices", "8", "--dtype", "bf16"}};
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        proc p = run_bin(bin, runs[k], "/tmp");
        ck_assert_msg(p.status == 0, "lesson12 %s %s: exit %d, stderr '%s'", runs[k][1] ? runs[k][1] : "",
                      runs[k][2] ? runs[k][2] : "", p.status, p.err);
        const char *keys[] = {"devices=", "layout=", "link_elems=", "link_bytes=", "device_tiles=", "closed_form_ok=1"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            ck_assert_msg(strstr(p.out, keys[i]), "lesson12: summary lacks %s", keys[i]);
        proc_free(&p);
    }
}
END_TEST

Suite *ring_suite(void)
{
    Suite *s = suite_create("ring");
    TCASE(s, "Split", 0, {split_covers_sequence_once}, {steps_mask_whole_windows}, {window_rows_keep_positions});
    TCASE(s, "Plans", 60, {plans_give_single_device_attention}, {chunk_kernel_index_arithmetic});
    TCASE(s, "Ledgers", 120, {ledgers_equal_closed_forms});
    TCASE(s, "Output", 120, {output_equals_single_device}, {one_device_is_flash2});
    TCASE(s, "Balance", 0, {zigzag_balances_causal_tiles});
    TCASE(s, "Clock", 60, {clock_hides_transfers_when_compute_outlasts_them});
    TCASE(s, "Limits", 120, {bad_rings_refused}, {lesson12_bad_input}, {lesson12_runs});
    return s;
}
