/* check_ledger.c — the forward passes' counted ledgers equal their closed forms exactly, per tensor; SRAM is
 * exactly the plan; count-only and real runs count the same; the thread count changes nothing; the default blocks
 * follow each loop order's rule, and flash2 under its own rule moves less than flash1, as Θ(N²d²/M). */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attention.h"
#include "check_util.h"
#include "lessons.h"
#include "rng.h"
#include "util.h"

/* Visited (i, j) tiles and the SRAM buffers allocated, seen through an observer. */
typedef struct {
    size_t Tr, Tc;
    unsigned char *seen;     /* Tr x Tc: 0 never, 1 visited, 2 skipped */
    uint64_t visited, skipped, dup;
    const char *phase;       /* count steps only in this phase (NULL: all) */
    const char *cur_phase;
    char alloc_name[64][MEM_NAME_LEN];
    uint64_t alloc_bytes[64];
    size_t nalloc;
} watch;

static void watch_fn(const mem_event *ev, void *ctx)
{
    watch *w = ctx;
    if (ev->kind == MEM_EV_PHASE)
        w->cur_phase = ev->name;
    if (ev->kind == MEM_EV_ALLOC && w->nalloc < 64) {
        snprintf(w->alloc_name[w->nalloc], MEM_NAME_LEN, "%s", ev->name);
        w->alloc_bytes[w->nalloc++] = ev->bytes;
    }
    if (ev->kind != MEM_EV_STEP || (w->phase && (!w->cur_phase || strcmp(w->phase, w->cur_phase))))
        return;
    ck_assert(ev->i >= 0 && (size_t)ev->i < w->Tr && ev->j >= 0 && (size_t)ev->j < w->Tc);
    bool skip = ev->name && !strcmp(ev->name, ATTN_STEP_SKIP);
    unsigned char *s = &w->seen[(size_t)ev->i * w->Tc + (size_t)ev->j];
    if (*s)
        w->dup++;
    *s = skip ? 2 : 1;
    if (skip)
        w->skipped++;
    else
        w->visited++;
}

typedef struct {
    attn_algo algo;
    size_t B, H, N, d, Br, Bc;
    bool causal;
    dtype_t dt;
} cfg;

/* Run one forward pass on a fresh model; inputs random unless count-only. Returns the model (caller destroys). */
static mem_t *run(const cfg *c, bool count_only, int threads, watch *w, float **out)
{
    attn_params p = {.algo = c->algo, .B = c->B, .N = c->N, .H = c->H, .d = c->d, .causal = c->causal,
                     .Br = c->Br, .Bc = c->Bc, .threads = threads};
    size_t M = attn_sram_need(c->algo, false, c->Br, c->Bc, c->d, c->dt);   /* exactly enough */
    mem_t *m = mem_create(M, count_only);
    attn_tensors t = attn_alloc(m, &p, c->dt, false);
    if (!count_only) {
        size_t n = hbm_numel(t.q);
        float *x = malloc(n * sizeof *x);
        rng_t r;
        rng_seed(&r, c->N * 131 + c->d);
        hbm_tensor *in[3] = {t.q, t.k, t.v};
        for (int k = 0; k < 3; k++) {
            rng_fill_normal(&r, x, n, 1.0f);
            hbm_upload(in[k], x);
        }
        free(x);
    }
    if (w)
        mem_observe(m, watch_fn, w);
    attn_forward(m, &p, &t);
    if (w)
        mem_unobserve(m, watch_fn, w);
    if (out) {
        *out = malloc(hbm_numel(t.out) * sizeof **out);
        hbm_download(t.out, *out);
    }
    attn_free(m, &t);
    return m;
}

static void assert_ledger_is_closed_form(const cfg *c, const mem_t *m)
{
    attn_params p = {.algo = c->algo, .B = c->B, .N = c->N, .H = c->H, .d = c->d, .causal = c->causal,
                     .Br = c->Br, .Bc = c->Bc};
    attn_io io;
    attn_io_closed_form(&p, false, &io);
    char what[160];
    snprintf(what, sizeof what, "%s N=%zu d=%zu Br=%zu Bc=%zu B=%zu H=%zu causal=%d", attn_algo_name(c->algo), c->N,
             c->d, c->Br, c->Bc, c->B, c->H, c->causal);
    assert_ledger(m, &io, what);
}

/* Shapes: ragged and exact, d not a power of two, Br != Bc both ways, blocks of 1 and of N. */
static const size_t SHAPES[][6] = {
    /* B, H,   N,  d, Br, Bc */
    {1, 1, 1, 1, 1, 1},     {1, 1, 7, 3, 2, 3},     {2, 3, 33, 5, 4, 7},   {1, 2, 64, 16, 16, 16},
    {2, 1, 100, 3, 8, 13},  {1, 1, 97, 80, 12, 5},  {3, 2, 50, 1, 50, 1},  {1, 1, 65, 7, 64, 64},
    {1, 1, 129, 6, 1, 128}, {2, 2, 40, 9, 40, 40},  {1, 3, 77, 2, 11, 11}, {1, 1, 31, 4, 30, 2},
};
#define NSHAPES (sizeof SHAPES / sizeof SHAPES[0])

/* Every algorithm, causal and not, on shape s = {B, H, N, d, Br, Bc} in dt, with data or count-only: the ledger is
 * the closed form. Standard attention is left out where its tiles hold fewer than min_std_tile scores. */
static void ledgers_are_closed_forms(const size_t s[6], dtype_t dt, bool count_only, size_t min_std_tile)
{
    for (int a = 0; a < ATTN_NALGOS; a++)
        for (int causal = 0; causal < 2; causal++) {
            if (a == ATTN_STANDARD && s[4] * s[5] < min_std_tile)
                continue;
            cfg c = {(attn_algo)a, s[0], s[1], s[2], s[3], s[4], s[5], causal, dt};
            mem_t *m = run(&c, count_only, 0, NULL, NULL);
            assert_ledger_is_closed_form(&c, m);
            mem_destroy(m);
        }
}

START_TEST(closed_form_small_real)
{
    /* _i walks the shapes; each runs all algorithms, causal and not, fp32 and fp16, with data. */
    for (int dt = 0; dt < 2; dt++)
        ledgers_are_closed_forms(SHAPES[_i], (dtype_t)dt, false, 0);
}
END_TEST

START_TEST(paper_formulas)
{
    /* The papers' formulas, per head, written out here independently of attn_io_closed_form:
     * flash1 reads 2Nd + Tc(2Nd + 2N), writes (Nd + 2N) + Tc(Nd + 2N); flash2 reads Nd + 2Nd Tr, writes Nd + N;
     * standard moves exactly 4 N^2 elements of S and P when a row fits its softmax buffer. */
    for (size_t k = 0; k < NSHAPES; k++) {
        const size_t *s = SHAPES[k];
        uint64_t B = s[0], H = s[1], N = s[2], d = s[3], Br = s[4], Bc = s[5];
        uint64_t Tr = (N + Br - 1) / Br, Tc = (N + Bc - 1) / Bc, BH = B * H;
        for (int a = 0; a < ATTN_NALGOS; a++) {
            cfg c = {(attn_algo)a, B, H, N, d, Br, Bc, false, DTYPE_BF16};
            mem_t *m = run(&c, true, 0, NULL, NULL);
            io_count t = mem_io(m, NULL, NULL);
            if (a == ATTN_FLASH1) {
                ck_assert_uint_eq(t.rd_elems, BH * (2 * N * d + Tc * (2 * N * d + 2 * N)));
                ck_assert_uint_eq(t.wr_elems, BH * ((N * d + 2 * N) + Tc * (N * d + 2 * N)));
                /* bytes: Q, K, V, O in bf16 (2 bytes), m and l in fp32 (4 bytes) */
                ck_assert_uint_eq(t.rd_bytes, BH * (2 * (2 * N * d + Tc * 2 * N * d) + 4 * Tc * 2 * N));
            } else if (a == ATTN_FLASH2) {
                ck_assert_uint_eq(t.rd_elems, BH * (N * d + 2 * N * d * Tr));
                ck_assert_uint_eq(t.wr_elems, BH * (N * d + N));
                ck_assert_uint_eq(t.wr_bytes, BH * (2 * N * d + 4 * N));
            } else if (N <= Br * Bc) {
                io_count S = mem_io(m, "S", NULL), P = mem_io(m, "P", NULL);
                ck_assert_uint_eq(S.rd_elems + S.wr_elems + P.rd_elems + P.wr_elems, BH * 4 * N * N);
            } else {
                io_count S = mem_io(m, "S", NULL);
                ck_assert_uint_eq(S.rd_elems, BH * 3 * N * N);   /* three streamed passes */
            }
            mem_destroy(m);
        }
    }
}
END_TEST

START_TEST(standard_phases)
{
    /* Each phase moves only its own tensors: S (Q, K -> S), softmax (S -> P), PV (P, V -> O). */
    cfg c = {ATTN_STANDARD, 2, 2, 45, 6, 8, 5, true, DTYPE_FP16};   /* 45 > 8*5: the softmax streams */
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            c.Bc = 6;                                               /* 45 <= 8*6: a row fits */
        mem_t *m = run(&c, false, 0, NULL, NULL);
        uint64_t BH = 4, N = 45, d = 6, Tr = 6, passes = pass ? 1 : 3;
        ck_assert_uint_eq(mem_io(m, "Q", "S").rd_elems, BH * N * d);
        ck_assert_uint_eq(mem_io(m, "K", "S").rd_elems, BH * Tr * N * d);
        ck_assert_uint_eq(mem_io(m, "S", "S").wr_elems, BH * N * N);
        ck_assert_uint_eq(mem_io(m, NULL, "S").rd_elems, BH * (N * d + Tr * N * d));
        ck_assert_uint_eq(mem_io(m, "S", "softmax").rd_elems, BH * passes * N * N);
        ck_assert_uint_eq(mem_io(m, "P", "softmax").wr_elems, BH * N * N);
        ck_assert_uint_eq(mem_io(m, NULL, "softmax").rd_elems, BH * passes * N * N);
        ck_assert_uint_eq(mem_io(m, "P", "PV").rd_elems, BH * N * N);
        ck_assert_uint_eq(mem_io(m, "V", "PV").rd_elems, BH * Tr * N * d);
        ck_assert_uint_eq(mem_io(m, "O", "PV").wr_elems, BH * N * d);
        ck_assert_uint_eq(mem_io(m, NULL, "PV").wr_elems, BH * N * d);
        /* exps: one per unmasked score when the row fits, two (sum pass, normalize pass) when it streams */
        ck_assert_uint_eq(mem_exps(m, "softmax"), BH * (N * (N + 1) / 2) * (pass ? 1 : 2));
        /* HBM peak: Q, K, V, O, P and S (fp16) at once; S is freed after the softmax */
        ck_assert_uint_eq(mem_hbm_peak(m), 2 * (4 * BH * N * d + 2 * BH * N * N));
        attn_io io;
        attn_params p = {.algo = ATTN_STANDARD, .B = 2, .N = N, .H = 2, .d = d, .Br = c.Br, .Bc = c.Bc};
        attn_io_closed_form(&p, false, &io);
        ck_assert_uint_eq(io.softmax_passes, passes);
        mem_destroy(m);
    }
}
END_TEST

START_TEST(closed_form_count_only_large)
{
    /* Count-only over bigger N and odd blocks: cheap loops, exact closed forms, all algorithms, causal or not. */
    static const size_t big[][4] = {{1000, 64, 64, 100}, {1023, 80, 37, 41}, {4096, 128, 128, 1}, {2049, 3, 1, 2048},
                                    {777, 17, 777, 3},   {3000, 64, 96, 96}, {2500, 1, 5, 7}};
    for (size_t k = 0; k < sizeof big / sizeof big[0]; k++) {
        size_t s[6] = {1, 2, big[k][0], big[k][1], big[k][2], big[k][3]};
        ledgers_are_closed_forms(s, DTYPE_FP16, true, 64);   /* standard's tiny tiles over N^2: slow, nothing new */
    }
}
END_TEST

START_TEST(tiles_and_skipping)
{
    /* Visited and skipped tiles, counted by watching mem_step, equal the closed form and the rule; no tile twice. */
    for (size_t k = 0; k < NSHAPES; k++) {
        const size_t *s = SHAPES[k];
        for (int a = 0; a < ATTN_NALGOS; a++)
            for (int causal = 0; causal < 2; causal++) {
                cfg c = {(attn_algo)a, s[0], s[1], s[2], s[3], s[4], s[5], causal, DTYPE_FP32};
                size_t Tr = ceil_div(c.N, c.Br), Tc = ceil_div(c.N, c.Bc), BH = c.B * c.H;
                watch w = {.Tr = Tr, .Tc = Tc, .seen = calloc(Tr * Tc, 1),
                           .phase = a == ATTN_STANDARD ? "S" : NULL};
                mem_t *m = run(&c, true, 0, &w, NULL);
                attn_params p = {.algo = c.algo, .B = c.B, .N = c.N, .H = c.H, .d = c.d, .causal = causal,
                                 .Br = c.Br, .Bc = c.Bc};
                attn_io io;
                attn_io_closed_form(&p, false, &io);
                ck_assert_uint_eq(w.visited, io.tiles);
                ck_assert_uint_eq(w.skipped, io.skipped);
                ck_assert_uint_eq(io.tiles + io.skipped, BH * Tr * Tc);
                ck_assert_uint_eq(w.dup, (BH - 1) * Tr * Tc);   /* each head marks every tile once */
                uint64_t rule = 0;
                for (size_t i = 0; i < Tr; i++)
                    for (size_t j = 0; j < Tc; j++) {
                        bool skip = attn_tile_skipped(&p, i, j);
                        rule += skip;
                        ck_assert_int_eq(w.seen[i * Tc + j], a != ATTN_STANDARD && skip ? 2 : 1);
                        /* the rule itself: skipped iff the first key is after the last query */
                        size_t last_q = min_size((i + 1) * c.Br, c.N) - 1;
                        ck_assert_int_eq(skip, causal && j * c.Bc > last_q);
                    }
                if (a != ATTN_STANDARD)
                    ck_assert_uint_eq(io.skipped, BH * rule);
                free(w.seen);
                mem_destroy(m);
            }
    }
}
END_TEST

START_TEST(sram_is_the_plan)
{
    /* The buffers allocated are the plan's, in order, name by name and byte by byte; the peak is their sum. */
    for (int a = 0; a < ATTN_NALGOS; a++)
        for (int dt = 0; dt < 3; dt++) {
            cfg c = {(attn_algo)a, 1, 1, 37, 5, 6, 9, true, (dtype_t)dt};
            watch w = {.Tr = 7, .Tc = 5, .seen = calloc(35, 1)};
            mem_t *m = run(&c, false, 1, &w, NULL);
            size_t need = attn_sram_need(c.algo, false, c.Br, c.Bc, c.d, c.dt);
            ck_assert_uint_eq(sram_peak(m), need);
            ck_assert_uint_eq(sram_used(m), 0);
            size_t k = 0;
            for (int ph = 0; ph < (a == ATTN_STANDARD ? ATTN_STANDARD_PHASES : 1); ph++) {
                sram_plan plan;
                if (a == ATTN_STANDARD)
                    attn_standard_plan(ph, c.Br, c.Bc, c.d, c.dt, &plan);
                else
                    attn_sram_plan(c.algo, false, c.Br, c.Bc, c.d, c.dt, &plan);
                size_t sum = 0;
                for (size_t b = 0; b < plan.n; b++, k++) {
                    ck_assert_uint_lt(k, w.nalloc);
                    ck_assert_str_eq(w.alloc_name[k], plan.buf[b].name);
                    ck_assert_uint_eq(w.alloc_bytes[k], plan.buf[b].elems * dtype_size(plan.buf[b].dt));
                    sum += w.alloc_bytes[k];
                }
                ck_assert_uint_eq(plan.bytes, sum);
                ck_assert_uint_le(plan.bytes, need);
            }
            ck_assert_uint_eq(k, w.nalloc);
            free(w.seen);
            mem_destroy(m);
        }
    /* The plans in numbers (fp16, Br=6, Bc=9, d=5): what the CUDA kernels will put in shared memory. */
    ck_assert_uint_eq(attn_sram_need(ATTN_FLASH1, false, 6, 9, 5, DTYPE_FP16), 2 * 5 * (9 + 9 + 6 + 6) + 4 * (6 * 9 + 6 * 6));
    ck_assert_uint_eq(attn_sram_need(ATTN_FLASH2, false, 6, 9, 5, DTYPE_FP16), 2 * 5 * (6 + 9 + 9) + 4 * (6 * 9 + 6 * 5 + 2 * 6));
    ck_assert_uint_eq(attn_sram_need(ATTN_STANDARD, false, 6, 9, 5, DTYPE_FP16), 2 * 5 * (6 + 9) + 4 * 6 * 9);
}
END_TEST

START_TEST(count_only_counts_like_real)
{
    for (size_t k = 0; k < NSHAPES; k++)
        for (int a = 0; a < ATTN_NALGOS; a++) {
            const size_t *s = SHAPES[k];
            cfg c = {(attn_algo)a, s[0], s[1], s[2], s[3], s[4], s[5], k % 2 == 0, DTYPE_BF16};
            mem_t *mr = run(&c, false, 0, NULL, NULL), *mc = run(&c, true, 0, NULL, NULL);
            for (size_t x = 0; x < mem_ntensors(mr); x++) {
                const char *name = mem_tensor_name(mr, x);
                io_count r = mem_io(mr, name, NULL), q = mem_io(mc, name, NULL);
                ck_assert_msg(!memcmp(&r, &q, sizeof r), "%s %s differs in count-only mode", attn_algo_name(c.algo),
                              name);
            }
            ck_assert_uint_eq(mem_flops(mr, NULL), mem_flops(mc, NULL));
            ck_assert_uint_eq(mem_exps(mr, NULL), mem_exps(mc, NULL));
            ck_assert_uint_eq(sram_peak(mr), sram_peak(mc));
            ck_assert_uint_eq(mem_hbm_peak(mr), mem_hbm_peak(mc));
            mem_destroy(mr);
            mem_destroy(mc);
        }
}
END_TEST

START_TEST(threads_change_nothing)
{
    /* threads 1, 2, 3: identical counts per tensor and phase, bitwise identical outputs. */
    static const size_t sh[][6] = {{2, 3, 37, 8, 5, 7}, {1, 2, 64, 16, 16, 16}, {3, 1, 20, 3, 1, 20}};
    for (size_t k = 0; k < 3; k++)
        for (int a = 0; a < ATTN_NALGOS; a++)
            for (int causal = 0; causal < 2; causal++) {
                cfg c = {(attn_algo)a, sh[k][0], sh[k][1], sh[k][2], sh[k][3], sh[k][4], sh[k][5], causal,
                         DTYPE_FP16};
                float *o1, *o;
                mem_t *m1 = run(&c, false, 1, NULL, &o1);
                size_t n = c.B * c.N * c.H * c.d;
                for (int th = 2; th <= 3; th++) {
                    mem_t *m = run(&c, false, th, NULL, &o);
                    ck_assert_msg(!memcmp(o1, o, n * sizeof *o), "%s output differs with %d threads",
                                  attn_algo_name(c.algo), th);
                    ck_assert_uint_eq(mem_nphases(m), mem_nphases(m1));
                    for (size_t ph = 0; ph < mem_nphases(m1); ph++)
                        for (size_t x = 0; x < mem_ntensors(m1); x++) {
                            const char *tn = mem_tensor_name(m1, x), *pn = mem_phase_name(m1, ph);
                            io_count a1 = mem_io(m1, tn, pn), at = mem_io(m, tn, pn);
                            ck_assert(!memcmp(&a1, &at, sizeof a1));
                        }
                    ck_assert_uint_eq(mem_flops(m, NULL), mem_flops(m1, NULL));
                    ck_assert_uint_eq(mem_exps(m, NULL), mem_exps(m1, NULL));
                    ck_assert_uint_eq(sram_peak(m), sram_peak(m1));
                    free(o);
                    mem_destroy(m);
                }
                free(o1);
                mem_destroy(m1);
            }
}
END_TEST

/* ---- block rules: the resident block is the big one ----------------------------------------------------------- */

/* Blocks by attn_choose_blocks (rule < 0) or by the rule given; count-only forward; returns the model. */
static mem_t *run_chosen(attn_algo a, int rule, size_t N, size_t d, size_t M, dtype_t dt, bool causal, attn_params *p)
{
    *p = (attn_params){.algo = a, .B = 1, .N = N, .H = 1, .d = d, .causal = causal, .threads = 1};
    block_choice ch;
    char err[512];
    int rc = rule < 0 ? attn_choose_blocks(p, false, M, dt, 0, 0, &ch, err, sizeof err)
                      : attn_choose_blocks_rule(p, false, M, dt, 0, 0, (block_rule)rule, &ch, err, sizeof err);
    ck_assert_msg(rc == 0, "%s N=%zu d=%zu M=%zu: %s", attn_algo_name(a), N, d, M, err);
    mem_t *m = mem_create(M, true);
    attn_tensors t = attn_alloc(m, p, dt, false);
    attn_forward(m, p, &t);
    attn_free(m, &t);
    return m;
}

static uint64_t bytes_of(const mem_t *m)
{
    io_count io = mem_io(m, NULL, NULL);
    return io.rd_bytes + io.wr_bytes;
}

/* Every algorithm and direction: the outer loop's block is the rule's ⌈M/4d⌉ or the largest below it that fits,
 * the inner one min(outer, d, N). flash2's forward is the only query-outer loop. */
START_TEST(default_blocks_follow_the_loop_order)
{
    static const size_t pts[][4] = {
        /* N, d, M bytes, dtype */
        {4096, 64, 196608, DTYPE_FP16}, {65536, 64, 196608, DTYPE_FP16}, {1000, 80, 50000, DTYPE_FP32},
        {37, 5, 2048, DTYPE_BF16},      {4096, 128, 196608, DTYPE_FP16}, {300, 3, 1 << 20, DTYPE_FP32},
        {8192, 32, 65536, DTYPE_FP16},  {129, 16, 8192, DTYPE_FP32},     {5000, 96, 229376, DTYPE_BF16},
    };
    for (size_t k = 0; k < sizeof pts / sizeof pts[0]; k++)
        for (int a = 0; a < ATTN_NALGOS; a++)
            for (int bw = 0; bw < 2; bw++) {
                size_t N = pts[k][0], d = pts[k][1], M = pts[k][2];
                dtype_t dt = (dtype_t)pts[k][3];
                attn_params p = {.algo = (attn_algo)a, .B = 1, .N = N, .H = 1, .d = d};
                block_choice ch;
                char err[512];
                ck_assert_msg(!attn_choose_blocks(&p, bw, M, dt, 0, 0, &ch, err, sizeof err), "%s", err);
                bool q_outer = a == ATTN_FLASH2 && !bw;
                block_rule want = q_outer ? BLOCK_RULE_Q_OUTER : BLOCK_RULE_KV_OUTER;
                ck_assert_int_eq(attn_block_rule((attn_algo)a, bw), want);
                size_t outer = q_outer ? p.Br : p.Bc, inner = q_outer ? p.Bc : p.Br;
                size_t rule_outer = min_size(ceil_div(M / dtype_size(dt), 4 * d), N);
                ck_assert_uint_eq(q_outer ? ch.paper_Br : ch.paper_Bc, rule_outer);
                ck_assert_uint_eq(inner, min_size(min_size(outer, d), N));
                ck_assert_uint_le(outer, rule_outer);
                ck_assert_uint_le(attn_sram_need(p.algo, bw, p.Br, p.Bc, d, dt), M);
                if (outer < rule_outer) {   /* fitted: one more row of the outer block would not fit */
                    size_t o = outer + 1, i = min_size(min_size(o, d), N);
                    ck_assert_uint_gt(attn_sram_need(p.algo, bw, q_outer ? o : i, q_outer ? i : o, d, dt), M);
                    ck_assert(ch.fitted);
                }
                ck_assert_ptr_nonnull(strstr(ch.rule, q_outer ? "transposed" : "paper's rule"));
            }
}
END_TEST

/* The point of the transposed rule: at long N flash2 moves fewer HBM bytes than flash1, and under flash1's rule
 * (Br <= d, K and V re-read N/d times) it would move more than either. */
START_TEST(flash2_moves_less_than_flash1)
{
    static const size_t pts[][4] = {
        /* N, d, M bytes, dtype */
        {4096, 64, 196608, DTYPE_FP16}, {8192, 64, 196608, DTYPE_FP16}, {16384, 64, 98304, DTYPE_BF16},
        {8192, 32, 65536, DTYPE_FP16},  {5000, 96, 229376, DTYPE_FP16}, {4096, 128, 196608, DTYPE_FP16},
    };
    for (size_t k = 0; k < sizeof pts / sizeof pts[0]; k++) {
        size_t N = pts[k][0], d = pts[k][1], M = pts[k][2];
        dtype_t dt = (dtype_t)pts[k][3];
        attn_params p2, p1, pr;
        mem_t *m2 = run_chosen(ATTN_FLASH2, -1, N, d, M, dt, false, &p2);
        mem_t *m1 = run_chosen(ATTN_FLASH1, -1, N, d, M, dt, false, &p1);
        mem_t *mr = run_chosen(ATTN_FLASH2, BLOCK_RULE_KV_OUTER, N, d, M, dt, false, &pr);
        ck_assert_msg(bytes_of(m2) < bytes_of(m1), "N=%zu d=%zu M=%zu: flash2 (%zux%zu) moves %llu bytes, flash1 "
                      "(%zux%zu) %llu", N, d, M, p2.Br, p2.Bc, (unsigned long long)bytes_of(m2), p1.Br, p1.Bc,
                      (unsigned long long)bytes_of(m1));
        if (pr.Br < p2.Br) {
            ck_assert_uint_lt(bytes_of(m2), bytes_of(mr));
            ck_assert_uint_gt(bytes_of(mr), bytes_of(m1));
        }
        mem_destroy(m2), mem_destroy(m1), mem_destroy(mr);
    }
    /* At the figures' point the two rules really differ (Br = 278 against 64). */
    attn_params p2, pr;
    mem_destroy(run_chosen(ATTN_FLASH2, -1, 4096, 64, 196608, DTYPE_FP16, false, &p2));
    mem_destroy(run_chosen(ATTN_FLASH2, BLOCK_RULE_KV_OUTER, 4096, 64, 196608, DTYPE_FP16, false, &pr));
    ck_assert(p2.Br > 4 * pr.Br && pr.Br == 64);
}
END_TEST

/* Θ(N²d²/M): doubling M about halves flash2's K, V re-reads (Tr = ⌈N/Br⌉, Br grows with M), and its total stays
 * a steady multiple of N²d²/M; under flash1's rule Br stops at d and the re-reads stop falling. */
#define HALVING_LO 1.8   /* Tr halves, rounded up; Kj, Vj's fixed share of M makes small M a little better than 2 */
#define HALVING_HI 2.4
START_TEST(flash2_rereads_scale_as_1_over_M)
{
    const size_t N = 16384, d = 64;
    uint64_t prev = 0, prev_r = 0;
    for (size_t M = 98304; M <= 786432; M *= 2) {
        attn_params p, pr;
        mem_t *m = run_chosen(ATTN_FLASH2, -1, N, d, M, DTYPE_FP16, false, &p);
        mem_t *mr = run_chosen(ATTN_FLASH2, BLOCK_RULE_KV_OUTER, N, d, M, DTYPE_FP16, false, &pr);
        uint64_t kv = mem_io(m, "K", NULL).rd_elems + mem_io(m, "V", NULL).rd_elems;
        uint64_t kv_r = mem_io(mr, "K", NULL).rd_elems + mem_io(mr, "V", NULL).rd_elems;
        ck_assert_uint_eq(kv, 2 * ceil_div(N, p.Br) * N * d);
        io_count t = mem_io(m, NULL, NULL);
        double shape = (double)N * N * d * d / (double)(M / 2), c = (double)(t.rd_elems + t.wr_elems) / shape;
        ck_assert_msg(c > 8 && c < 16, "M=%zu: flash2 moves %.3g x N^2 d^2 / M", M, c);
        if (prev) {
            double r = (double)prev / (double)kv;
            ck_assert_msg(r >= HALVING_LO && r <= HALVING_HI, "M=%zu: K, V reads fell by %.3f when M doubled", M, r);
            ck_assert_uint_eq(kv_r, prev_r);   /* flash1's rule: Br = d whatever M is */
        }
        ck_assert_uint_eq(pr.Br, d);
        prev = kv, prev_r = kv_r;
        mem_destroy(m), mem_destroy(mr);
    }
}
END_TEST

/* flash2 under flash1's rule is still flash2: its ledger equals the closed form, ragged and causal included. */
START_TEST(flash2_fa1_rule_closed_form)
{
    static const size_t pts[][4] = {
        {1000, 64, 65536, DTYPE_FP16}, {777, 17, 20000, DTYPE_BF16}, {37, 5, 2048, DTYPE_FP32},
        {4099, 80, 196608, DTYPE_FP16}, {129, 3, 1 << 20, DTYPE_FP32},
    };
    for (size_t k = 0; k < sizeof pts / sizeof pts[0]; k++)
        for (int causal = 0; causal < 2; causal++) {
            attn_params p;
            mem_t *m = run_chosen(ATTN_FLASH2, BLOCK_RULE_KV_OUTER, pts[k][0], pts[k][1], pts[k][2],
                                  (dtype_t)pts[k][3], causal, &p);
            ck_assert_uint_eq(p.Br, min_size(min_size(p.Bc, p.d), p.N));
            cfg c = {ATTN_FLASH2, 1, 1, p.N, p.d, p.Br, p.Bc, causal, (dtype_t)pts[k][3]};
            assert_ledger_is_closed_form(&c, m);
            mem_destroy(m);
        }
}
END_TEST

/* lesson04 and lesson06 check their own ledgers (and errors, NaN, thread invariance) and return 1 on a ✗: run them
 * on configurations their defaults do not cover. stdout is silenced around the call and restored. */
static int run_lesson(int (*fn)(const cli_cfg *), const cli_spec *spec, size_t N, size_t d, size_t M, size_t B,
                      size_t H, dtype_t dt, bool causal, bool count_only, size_t Br, size_t Bc)
{
    cli_cfg cfg = spec->defaults;
    cfg.lesson = spec->name;
    cfg.N = N, cfg.d = d, cfg.M_bytes = M, cfg.B = B, cfg.H = H, cfg.dtype = dt, cfg.causal = causal;
    cfg.count_only = count_only, cfg.Br = Br, cfg.Bc = Bc, cfg.quiet = true;
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    ck_assert(freopen("/dev/null", "w", stdout) != NULL);
    int rc = fn(&cfg);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    return rc;
}

START_TEST(lessons_check_themselves)
{
    static const struct {
        size_t N, d, M, B, H;
        dtype_t dt;
        bool causal, count_only;
        size_t Br, Bc;
    } runs[] = {
        {37, 5, 2048, 2, 3, DTYPE_FP16, true, false, 0, 0},    {50, 16, 8192, 1, 1, DTYPE_BF16, false, false, 7, 9},
        {129, 8, 4096, 1, 2, DTYPE_FP32, true, false, 0, 0},   {3000, 64, 65536, 2, 1, DTYPE_FP16, true, true, 0, 0},
        {1, 1, 1024, 1, 1, DTYPE_FP32, true, false, 0, 0},     {64, 3, 1 << 20, 1, 1, DTYPE_FP32, true, false, 64, 1},
    };
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        ck_assert_int_eq(run_lesson(lesson04_run, &lesson04_spec, runs[k].N, runs[k].d, runs[k].M, runs[k].B,
                                    runs[k].H, runs[k].dt, runs[k].causal, runs[k].count_only, runs[k].Br,
                                    runs[k].Bc), 0);
        ck_assert_int_eq(run_lesson(lesson06_run, &lesson06_spec, runs[k].N, runs[k].d, runs[k].M, runs[k].B,
                                    runs[k].H, runs[k].dt, runs[k].causal, runs[k].count_only, runs[k].Br,
                                    runs[k].Bc), 0);
    }
}
END_TEST

Suite *ledger_suite(void)
{
    Suite *s = suite_create("ledger");
    TCASE(s, "ClosedForm", 0, {closed_form_small_real, .loops = (int)NSHAPES}, {paper_formulas}, {standard_phases},
          {closed_form_count_only_large}, {tiles_and_skipping});
    TCASE(s, "Plan", 0, {sram_is_the_plan}, {count_only_counts_like_real});
    TCASE(s, "Threads", 0, {threads_change_nothing});
    TCASE(s, "Rules", 0, {default_blocks_follow_the_loop_order}, {flash2_moves_less_than_flash1},
          {flash2_rereads_scale_as_1_over_M}, {flash2_fa1_rule_closed_form});
    TCASE(s, "Lessons", 60, {lessons_check_themselves});
    return s;
}
