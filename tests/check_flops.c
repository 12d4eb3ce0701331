/* check_flops.c — the one FLOP convention (mem.h, mem_compute): every algorithm's counted FLOPs and exp() calls,
 * forward and backward, equal its closed form (attn_io: matmul + non-matmul FLOPs, exps) for ragged, causal and
 * multi-head shapes; without a mask they equal formulas written here from the convention alone; the matmul FLOPs
 * are the GPU convention's (4·B·H·N²·d forward, 2x that for standard's backward, 2.5x for FlashAttention's); and
 * standard attention's backward reads P and dP once in Alg.3 line 3 when a row fits (Tc = 1), twice otherwise. */
#include <check.h>
#include <stdlib.h>

#include "attention.h"
#include "check_util.h"   // defines: TCASE
#include "rng.h"
#include "util.h"

typedef struct {
    size_t B, H, N, d, Br, Bc;
} shape;

/* Ragged and exact, d not a power of two, Br != Bc both ways, blocks of 1 and of N, a row that fits (Tc = 1). */
static const shape SHAPES[] = {
    {1, 1, 1, 1, 1, 1},   {1, 1, 7, 3, 2, 3},    {2, 3, 33, 5, 4, 7},   {1, 2, 64, 16, 16, 16}, {2, 1, 100, 3, 8, 13},
    {1, 1, 97, 80, 12, 5}, {3, 2, 50, 1, 50, 1}, {1, 1, 65, 7, 64, 64}, {1, 1, 129, 6, 1, 128}, {2, 2, 40, 9, 40, 40},
    {1, 3, 77, 2, 11, 11}, {1, 1, 31, 4, 30, 2},
};
#define NSHAPES (sizeof SHAPES / sizeof SHAPES[0])

/* One pass on a fresh model with M exactly what both passes need: the forward, or the forward then (ledger zeroed)
 * the backward. Random inputs unless count-only. Returns the model with the pass's ledger (caller destroys). */
static mem_t *run(attn_algo a, const shape *s, bool causal, bool backward, bool count_only, attn_params *out)
{
    attn_params p = {.algo = a, .B = s->B, .N = s->N, .H = s->H, .d = s->d, .causal = causal, .Br = s->Br,
                     .Bc = s->Bc};
    size_t M = max_size(attn_sram_need(a, false, s->Br, s->Bc, s->d, DTYPE_FP32),
                        attn_sram_need(a, true, s->Br, s->Bc, s->d, DTYPE_FP32));
    mem_t *m = mem_create(M, count_only);
    attn_tensors t = attn_alloc(m, &p, DTYPE_FP32, backward);
    if (!count_only) {
        size_t n = hbm_numel(t.q);
        float *x = malloc(n * sizeof *x);
        rng_t r;
        rng_seed(&r, s->N * 17 + s->d);
        hbm_tensor *in[4] = {t.q, t.k, t.v, t.dout};
        for (int k = 0; k < (backward ? 4 : 3); k++) {
            rng_fill_normal(&r, x, n, 1.0f);
            hbm_upload(in[k], x);
        }
        free(x);
    }
    attn_forward(m, &p, &t);
    if (backward) {
        mem_ledger_reset(m);
        attn_backward(m, &p, &t);
    }
    attn_free(m, &t);
    *out = p;
    return m;
}

START_TEST(closed_form)
{
    const shape *s = &SHAPES[_i];
    for (int a = 0; a < ATTN_NALGOS; a++)
        for (int causal = 0; causal < 2; causal++)
            for (int bwd = 0; bwd < 2; bwd++)
                for (int co = 0; co < 2; co++) {
                    attn_params p;
                    mem_t *m = run((attn_algo)a, s, causal, bwd, co, &p);
                    attn_io io;
                    attn_io_closed_form(&p, bwd, &io);
                    ck_assert_msg(mem_flops(m, NULL) == io.flops_mm + io.flops_ew && mem_exps(m, NULL) == io.exps,
                                  "%s %s N=%zu d=%zu Br=%zu Bc=%zu B=%zu H=%zu causal=%d count_only=%d: counted %llu "
                                  "FLOPs %llu exps, closed form %llu + %llu FLOPs %llu exps", attn_algo_name(p.algo),
                                  bwd ? "backward" : "forward", s->N, s->d, s->Br, s->Bc, s->B, s->H, causal, co,
                                  (unsigned long long)mem_flops(m, NULL), (unsigned long long)mem_exps(m, NULL),
                                  (unsigned long long)io.flops_mm, (unsigned long long)io.flops_ew,
                                  (unsigned long long)io.exps);
                    mem_destroy(m);
                }
}
END_TEST

/* Without the mask, from the convention alone (R = Tc·N query rows over the tiles of a key-block sweep, Tr·N key rows;
 * FlashAttention-2's forward visits Tc key blocks per row block, so Tc·N rows there too). Per head:
 *   standard  fwd: 4N²d; N² (scale) + 4N² (a row fits) or 5N² (three passes); N² or 2N² exps
 *             bwd: 8N²d; 4N² (D, dS) + (Tc + Tr)·N·d (the scale of each tile's dQ, dK product); no exps
 *   flash1    fwd: 4N²d; 4N² + Tc·N·(7 + 4d); N² + 2·Tc·N exps
 *             bwd: 10N²d; 5N² + 3·Tc·N·d + Tr·N·d; N² exps
 *   flash2    fwd: 4N²d; 4N² + Tc·N·(2 + d) + N·d + N; N² + Tc·N + N exps (the last N: log l)
 *             bwd: 10N²d; 4N² + Tc·N·d + Tr·N·d + 2N·d; N² exps */
START_TEST(convention)
{
    const shape *s = &SHAPES[_i];
    const uint64_t N = s->N, d = s->d, NN = N * N, Tr = ceil_div(s->N, s->Br), Tc = ceil_div(s->N, s->Bc);
    const uint64_t BH = s->B * s->H, fits = N <= (uint64_t)s->Br * s->Bc;
    const uint64_t want[ATTN_NALGOS][2][3] = {
        [ATTN_STANDARD] = {{4 * NN * d, NN + (fits ? 4 : 5) * NN, (fits ? 1 : 2) * NN},
                           {8 * NN * d, 4 * NN + (Tc + Tr) * N * d, 0}},
        [ATTN_FLASH1] = {{4 * NN * d, 4 * NN + Tc * N * (7 + 4 * d), NN + 2 * Tc * N},
                         {10 * NN * d, 5 * NN + 3 * Tc * N * d + Tr * N * d, NN}},
        [ATTN_FLASH2] = {{4 * NN * d, 4 * NN + Tc * N * (2 + d) + N * d + N, NN + Tc * N + N},
                         {10 * NN * d, 4 * NN + Tc * N * d + Tr * N * d + 2 * N * d, NN}},
    };
    for (int a = 0; a < ATTN_NALGOS; a++)
        for (int bwd = 0; bwd < 2; bwd++) {
            attn_params p;
            mem_t *m = run((attn_algo)a, s, false, bwd, true, &p);
            attn_io io;
            attn_io_closed_form(&p, bwd, &io);
            ck_assert_uint_eq(io.flops_mm, BH * want[a][bwd][0]);
            ck_assert_uint_eq(io.flops_ew, BH * want[a][bwd][1]);
            ck_assert_uint_eq(io.exps, BH * want[a][bwd][2]);
            ck_assert_uint_eq(mem_flops(m, NULL), BH * (want[a][bwd][0] + want[a][bwd][1]));
            ck_assert_uint_eq(mem_exps(m, NULL), BH * want[a][bwd][2]);
            mem_destroy(m);
        }
}
END_TEST

/* The matmul FLOPs are the ones GPU TFLOP/s divide: 4·B·H·N²·d forward; backward 2x (standard: four products) and
 * 2.5x (FlashAttention: S recomputed); with the causal mask FlashAttention skips tiles, so it does fewer. */
START_TEST(gpu_convention)
{
    shape s = {2, 3, 96, 16, 16, 32};
    uint64_t fwd = 4 * s.B * s.H * s.N * s.N * s.d;
    for (int a = 0; a < ATTN_NALGOS; a++) {
        attn_params p = {.algo = (attn_algo)a, .B = s.B, .N = s.N, .H = s.H, .d = s.d, .Br = s.Br, .Bc = s.Bc};
        attn_io f, b, fc, bc;
        attn_io_closed_form(&p, false, &f);
        attn_io_closed_form(&p, true, &b);
        p.causal = true;
        attn_io_closed_form(&p, false, &fc);
        attn_io_closed_form(&p, true, &bc);
        ck_assert_uint_eq(f.flops_mm, fwd);
        ck_assert_uint_eq(2 * b.flops_mm, (a == ATTN_STANDARD ? 4 : 5) * fwd);
        if (a == ATTN_STANDARD) {   /* standard attention computes every score, masked or not */
            ck_assert_uint_eq(fc.flops_mm, f.flops_mm);
            ck_assert_uint_eq(bc.flops_mm, b.flops_mm);
        } else {
            ck_assert_uint_lt(fc.flops_mm, f.flops_mm);
            ck_assert_uint_lt(bc.flops_mm, b.flops_mm);
        }
    }
}
END_TEST

/* FlashAttention-2 does fewer non-matmul FLOPs than FlashAttention-1 on the same blocks: it rescales Oi once per tile
 * instead of both terms, divides by l once per row, and keeps one statistic. The difference is exactly
 * 3·Tc·N·d + 5·Tc·N - N·d - N per head, and FA2 also makes Tc·N fewer exp() calls (one e^(m_old - m_new) per row and
 * tile instead of two) but N more logs. */
START_TEST(fa2_fewer_nonmatmul)
{
    static const shape S[] = {{1, 1, 1024, 64, 128, 128}, {1, 1, 1000, 64, 128, 64}, {2, 2, 77, 5, 8, 11}};
    for (size_t k = 0; k < sizeof S / sizeof S[0]; k++) {
        const shape *s = &S[k];
        attn_params p = {.algo = ATTN_FLASH1, .B = s->B, .N = s->N, .H = s->H, .d = s->d, .Br = s->Br, .Bc = s->Bc};
        attn_io f1, f2;
        attn_io_closed_form(&p, false, &f1);
        p.algo = ATTN_FLASH2;
        attn_io_closed_form(&p, false, &f2);
        const uint64_t N = s->N, d = s->d, Tc = ceil_div(s->N, s->Bc), BH = s->B * s->H;
        ck_assert_uint_eq(f1.flops_mm, f2.flops_mm);
        ck_assert_uint_eq(f1.flops_ew - f2.flops_ew, BH * (3 * Tc * N * d + 5 * Tc * N - N * d - N));
        ck_assert_uint_eq(f1.exps + BH * N, f2.exps + BH * Tc * N);
    }
}
END_TEST

/* Alg.3 line 3: when a row of P fits (Tc = 1) its tiles stay in SRAM for dS, so P and dP are read once there. The
 * N x N traffic of the backward is then 7N² per head (P 2, dP 1 + 1, dS 1 + 2) instead of 9N². */
START_TEST(standard_backward_passes)
{
    static const shape S[] = {{1, 1, 40, 9, 8, 40}, {2, 1, 40, 9, 8, 39}, {1, 2, 33, 4, 33, 33}, {1, 1, 33, 4, 5, 7}};
    for (size_t k = 0; k < sizeof S / sizeof S[0]; k++) {
        attn_params p;
        mem_t *m = run(ATTN_STANDARD, &S[k], false, true, false, &p);
        attn_io io;
        attn_io_closed_form(&p, true, &io);
        uint64_t NN = (uint64_t)p.N * p.N * p.B * p.H, passes = p.Bc >= p.N ? 1 : 2;
        ck_assert_uint_eq(io.ds_passes, passes);
        ck_assert_uint_eq(mem_io(m, "P", NULL).rd_elems, (1 + passes) * NN);
        ck_assert_uint_eq(mem_io(m, "dP", NULL).rd_elems, passes * NN);
        uint64_t quad = 0;
        static const char *const nn[] = {"P", "dP", "dS"};
        for (int x = 0; x < 3; x++)
            quad += mem_io(m, nn[x], NULL).rd_elems + mem_io(m, nn[x], NULL).wr_elems;
        ck_assert_uint_eq(quad, (passes == 1 ? 7 : 9) * NN);
        mem_destroy(m);
    }
}
END_TEST

Suite *flops_suite(void)
{
    Suite *s = suite_create("flops");
    TCASE(s, "Counting", 60, {closed_form, .loops = NSHAPES}, {convention, .loops = NSHAPES}, {gpu_convention},
          {fa2_fewer_nonmatmul});
    TCASE(s, "Passes", 0, {standard_backward_passes});
    return s;
}
