/* check_backward.c — the backward passes (standard Alg.3, FlashAttention Alg.4, FlashAttention-2 Alg.2) through the
 * public API: attn_alloc, attn_forward, then attn_backward. Gradients against the double reference with Tri Dao's
 * tolerance method, counted ledgers against the closed forms, SRAM peak against the plans, thread and count-only
 * invariance, and the reference's own gradients against central finite differences. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "check_util.h"
#include "reference.h"
#include "rng.h"
#include "proc.h"
#include "verify.h"

/* Tri Dao's method (verify_tridao_bound): an algorithm's max error against the fp64 reference may be at most
 * ORACLE_TRIDAO_FACTOR times the max error of the framework-style backward in the same dtype
 * (ref_attention_backward_lowp) ... */
/* ... plus SLACK_ULPS roundings of each entry's sums (ref_attention_backward_mag, forward error analysis): one
 * rounding of the dtype (sqrt(Tc) of them for flash's dQ, rounded at each of its Tc read-modify-writes) and
 * sqrt(N) fp32 roundings for the float accumulations. Over 60 seeds of the shape table the largest multiple
 * needed was 0.46; with tiny N the framework's own error can be a lucky fraction of a rounding. */
#define SLACK_ULPS 2.0
/* Central differences in double at h = 1e-5: truncation ~h^2/6 |f'''| plus cancellation ~1e-16 |f| / h stay below
 * ~2e-8 relative on the shapes tried (lesson07); 1e-6 keeps a margin of 50, and a wrong term is off by O(|g|). */
#define FD_STEP 1e-5
#define FD_TOL 1e-6
/* Simulator's fp32 gradients against the finite differences: fp32 sums over N*d terms of size O(1). */
#define FD_TOL_FP32 2e-5

typedef struct {
    size_t B, H, N, d, Br, Bc;   /* Br = Bc = 0: choose from M_bytes with attn_choose_blocks */
    size_t M_bytes;
} shape;

typedef struct {
    mem_t *m;
    attn_params p;
    attn_tensors t;
    size_t n;                     /* B*N*H*d */
    float *q, *k, *v, *dO;        /* inputs as stored in HBM (rounded to the dtype) */
    float *dq, *dk, *dv;          /* the gradients */
} run_t;

#define DEFAULT_M ((size_t)1 << 20)

/* Forward then backward of one algorithm; the ledger holds the backward pass only (reset in between). */
static run_t run_backward(attn_algo a, const shape *s, bool causal, dtype_t dt, int threads, bool count_only,
                          uint64_t seed, float amp, mem_observer obs, void *ctx)
{
    run_t r;
    memset(&r, 0, sizeof r);
    r.p = (attn_params){.algo = a, .B = s->B, .N = s->N, .H = s->H, .d = s->d, .causal = causal, .threads = threads};
    size_t M = s->M_bytes ? s->M_bytes : DEFAULT_M;
    if (s->Br && s->Bc) {
        r.p.Br = s->Br;
        r.p.Bc = s->Bc;
    } else {
        block_choice bc;
        char err[256];
        ck_assert_msg(attn_choose_blocks(&r.p, true, M, dt, 0, 0, &bc, err, sizeof err) == 0, "%s", err);
    }
    r.m = mem_create(M, count_only);
    r.t = attn_alloc(r.m, &r.p, dt, true);
    r.n = s->B * s->N * s->H * s->d;
    float **in[] = {&r.q, &r.k, &r.v, &r.dO}, **g[] = {&r.dq, &r.dk, &r.dv};
    hbm_tensor *tin[] = {r.t.q, r.t.k, r.t.v, r.t.dout};
    rng_t rng;
    rng_seed(&rng, seed);
    for (int x = 0; x < 4; x++) {
        *in[x] = malloc(r.n * sizeof(float));
        rng_fill_normal(&rng, *in[x], r.n, x < 2 ? amp : 1.0f);   /* amp scales q and k: logits grow as amp^2 */
        hbm_upload(tin[x], *in[x]);
        hbm_download(tin[x], *in[x]);                              /* what the algorithms see: rounded to dt */
    }
    attn_forward(r.m, &r.p, &r.t);
    mem_ledger_reset(r.m);
    if (obs)
        mem_observe(r.m, obs, ctx);
    attn_backward(r.m, &r.p, &r.t);
    if (obs)
        mem_unobserve(r.m, obs, ctx);
    hbm_tensor *tg[] = {r.t.dq, r.t.dk, r.t.dv};
    for (int x = 0; x < 3; x++) {
        *g[x] = calloc(r.n, sizeof(float));
        hbm_download(tg[x], *g[x]);
    }
    return r;
}

static void run_free(run_t *r)
{
    attn_free(r->m, &r->t);
    mem_destroy(r->m);
    free(r->q), free(r->k), free(r->v), free(r->dO), free(r->dq), free(r->dk), free(r->dv);
}

/* The references of one input set, each (B, N, H, d): fp64 gradients, the framework-style dt gradients, and the
 * magnitudes of the sums behind each entry. */
typedef struct {
    double *g64[3], *glp[3], *mag[3];
} refs_t;

static refs_t refs_make(const run_t *r, dtype_t dt)
{
    size_t B = r->p.B, N = r->p.N, H = r->p.H, d = r->p.d, nd = N * d;
    double scale = r->p.scale ? r->p.scale : 1.0 / sqrt((double)d);
    refs_t R;
    double *h[4], *o[3];
    for (int x = 0; x < 3; x++) {
        R.g64[x] = malloc(r->n * sizeof(double));
        R.glp[x] = malloc(r->n * sizeof(double));
        R.mag[x] = malloc(r->n * sizeof(double));
        o[x] = malloc(nd * sizeof(double));
    }
    for (int x = 0; x < 4; x++)
        h[x] = malloc(nd * sizeof(double));
    const float *in[] = {r->q, r->k, r->v, r->dO};
    for (size_t b = 0; b < B; b++)
        for (size_t hh = 0; hh < H; hh++) {
            for (int x = 0; x < 4; x++)
                ref_head_get(in[x], B, N, H, d, b, hh, h[x]);
            ref_attention_backward(h[0], h[1], h[2], h[3], N, d, scale, r->p.causal, o[0], o[1], o[2]);
            for (int x = 0; x < 3; x++)
                ref_head_put(o[x], B, N, H, d, b, hh, R.g64[x]);
            ref_attention_backward_lowp(h[0], h[1], h[2], h[3], N, d, scale, r->p.causal, dt, o[0], o[1], o[2]);
            for (int x = 0; x < 3; x++)
                ref_head_put(o[x], B, N, H, d, b, hh, R.glp[x]);
            ref_attention_backward_mag(h[0], h[1], h[2], h[3], N, d, scale, r->p.causal, o[0], o[1], o[2]);
            for (int x = 0; x < 3; x++)
                ref_head_put(o[x], B, N, H, d, b, hh, R.mag[x]);
        }
    for (int x = 0; x < 4; x++)
        free(h[x]);
    for (int x = 0; x < 3; x++)
        free(o[x]);
    return R;
}

static void refs_free(refs_t *R)
{
    for (int x = 0; x < 3; x++) {
        free(R->g64[x]);
        free(R->glp[x]);
        free(R->mag[x]);
    }
}

/* Tri Dao's check on dQ, dK, dV of one run, entry by entry, against references of the same inputs. */
static void check_grads_with(const run_t *r, const refs_t *R, dtype_t dt, const char *label)
{
    const float *got[] = {r->dq, r->dk, r->dv};
    float *lp = malloc(r->n * sizeof(float));
    size_t Tc = (r->p.N + r->p.Bc - 1) / r->p.Bc;
    for (int x = 0; x < 3; x++) {
        for (size_t i = 0; i < r->n; i++)
            lp[i] = (float)R->glp[x][i];   /* exact: glp holds values already rounded to dt */
        double err_lp = verify_max_abs(R->g64[x], lp, r->n);
        double walks = (r->p.algo != ATTN_STANDARD && x == 0) ? sqrt((double)Tc) : 1;
        double ulps = SLACK_ULPS * (dtype_eps(dt) * walks + dtype_eps(DTYPE_FP32) * sqrt((double)r->p.N));
        for (size_t i = 0; i < r->n; i++) {
            double err = fabs((double)got[x][i] - R->g64[x][i]);
            double bound = verify_tridao_bound(err_lp, ulps * R->mag[x][i]);
            ck_assert_msg(err <= bound, "%s d%c[%zu]: got %.9g, want %.9g: err %.3g > bound %.3g (framework-style "
                          "%s max error %.3g, sums of size %.3g)", label, "QKV"[x], i, got[x][i], R->g64[x][i], err,
                          bound, dtype_name(dt), err_lp, R->mag[x][i]);
        }
    }
    free(lp);
}

/* ---- Gradients ---------------------------------------------------------------------------------------------- */

/* The three algorithms on the same inputs (q and k scaled by amp), each by Tri Dao's check against references made
 * once from the first run's inputs. */
static void check_algorithms(const shape *sh, bool causal, dtype_t dt, uint64_t seed, float amp)
{
    refs_t R;
    for (int a = 0; a < 3; a++) {
        run_t r = run_backward((attn_algo)a, sh, causal, dt, 0, false, seed, amp, NULL, NULL);
        if (a == 0) {
            if (amp > 1) {   /* the inputs really are large: a normal sample of this size passes 2.5 sigma */
                double mx = 0;
                for (size_t i = 0; i < r.n; i++)
                    mx = fmax(mx, fabs((double)r.q[i]));
                ck_assert_msg(mx > 2.5 * amp, "max |q| %g, amp %g", mx, (double)amp);
            }
            R = refs_make(&r, dt);
        }
        char label[160];
        snprintf(label, sizeof label, "%s %s B%zu H%zu N%zu d%zu Br%zu Bc%zu%s%s", attn_algo_name((attn_algo)a),
                 dtype_name(dt), sh->B, sh->H, sh->N, sh->d, r.p.Br, r.p.Bc, amp > 1 ? " large logits" : "",
                 causal ? " causal" : "");
        check_grads_with(&r, &R, dt, label);
        run_free(&r);
    }
    refs_free(&R);
}

/* Ragged N against the blocks, d from 1 to 128, B and H > 1, blocks with Br > Bc (tiles whose top rows are
 * fully masked under causal) and Br < Bc, and blocks chosen from M by the plans. */
static const shape grad_shapes[] = {
    {1, 1, 1, 1, 1, 1, 0},      {2, 3, 7, 3, 2, 3, 0},      {1, 2, 33, 16, 8, 2, 0},   {2, 1, 50, 1, 4, 7, 0},
    {1, 1, 64, 64, 16, 16, 0},  {1, 1, 100, 80, 7, 13, 0},  {1, 1, 45, 128, 0, 0, 48 * 1024},
    {2, 2, 29, 16, 0, 0, 4096}, {1, 1, 130, 3, 32, 5, 0},
};
#define NGRAD (sizeof grad_shapes / sizeof grad_shapes[0])

/* _i runs over shape x dtype; the three algorithms see the same inputs and share the references. fp32 everywhere;
 * fp16 and bf16 on every shape but the largest d. */
START_TEST(gradients_match_reference)
{
    size_t s = (size_t)_i / 3, t = (size_t)_i % 3;
    const shape *sh = &grad_shapes[s];
    if (t && sh->d == 128)
        return;   /* covered in fp32; keeps the suite fast */
    for (int causal = 0; causal < 2; causal++)
        check_algorithms(sh, causal, (dtype_t)t, 100 + (uint64_t)_i, 1.0f);
}
END_TEST

/* Logits up to ~±1e4 (q, k scaled by 60 with d = 16: |S| = |q.k|/4 reaches thousands to 1e4): P is nearly one-hot,
 * exp underflows for most keys; no NaN, and the same error bound. */
START_TEST(large_logits)
{
    shape sh = {1, 2, 40, 16, 8, 4, 0};
    for (int causal = 0; causal < 2; causal++)
        for (int t = 0; t < 3; t++)
            check_algorithms(&sh, causal, (dtype_t)t, 7, 60.0f);
}
END_TEST

/* ---- Counting ----------------------------------------------------------------------------------------------- */

typedef struct {
    uint64_t visited, skipped;
} step_count;

static void count_steps(const mem_event *ev, void *ctx)
{
    step_count *c = ctx;
    if (ev->kind != MEM_EV_STEP)
        return;
    if (ev->name && !strcmp(ev->name, ATTN_STEP_SKIP))
        c->skipped++;
    else
        c->visited++;
}

static void check_ledger(const run_t *r, const char *label)
{
    attn_io io;
    attn_io_closed_form(&r->p, true, &io);
    assert_ledger(r->m, &io, label);
}

/* Shapes for the ledger, counted in count-only mode (fast at any N), causal and not. */
static const shape count_shapes[] = {
    {1, 1, 1, 1, 1, 1, 0},      {1, 1, 2, 1, 1, 2, 0},       {2, 3, 7, 3, 2, 3, 0},     {1, 1, 100, 80, 7, 13, 0},
    {1, 2, 33, 16, 8, 2, 0},    {3, 1, 64, 64, 64, 64, 0},   {1, 1, 129, 5, 16, 32, 0}, {2, 2, 1000, 64, 32, 48, 0},
    {1, 1, 4099, 128, 64, 64, 0}, {1, 1, 257, 1, 257, 3, 0}, {1, 1, 257, 3, 3, 257, 0},
};

START_TEST(ledger_equals_closed_form)
{
    const shape *sh = &count_shapes[_i];
    for (int a = 0; a < 3; a++)
        for (int causal = 0; causal < 2; causal++) {
            if (a == ATTN_STANDARD && sh->N > 1000)
                continue;   /* its O(N^2) tiles take a while even when only counted */
            step_count steps = {0, 0};
            run_t r = run_backward((attn_algo)a, sh, causal, DTYPE_FP16, 0, true, 1, 1.0f, count_steps, &steps);
            char label[128];
            snprintf(label, sizeof label, "%s B%zu H%zu N%zu d%zu Br%zu Bc%zu%s", attn_algo_name((attn_algo)a),
                     sh->B, sh->H, sh->N, sh->d, sh->Br, sh->Bc, causal ? " causal" : "");
            check_ledger(&r, label);
            attn_io io;
            attn_io_closed_form(&r.p, true, &io);
            uint64_t T = (uint64_t)((sh->N + sh->Br - 1) / sh->Br) * ((sh->N + sh->Bc - 1) / sh->Bc) * sh->B * sh->H;
            if (a == ATTN_STANDARD) {   /* every line walks the whole grid (line 3 twice); nothing skipped */
                ck_assert_uint_eq(io.tiles, T);
                ck_assert_uint_eq(steps.visited, 6 * T);
                ck_assert_uint_eq(steps.skipped + io.skipped, 0);
            } else {
                ck_assert_msg(steps.visited == io.tiles && steps.skipped == io.skipped,
                              "%s: visited %llu skipped %llu, closed form %llu %llu", label,
                              (unsigned long long)steps.visited, (unsigned long long)steps.skipped,
                              (unsigned long long)io.tiles, (unsigned long long)io.skipped);
                ck_assert_uint_eq(io.tiles + io.skipped, T);
                if (!causal)
                    ck_assert_uint_eq(io.skipped, 0);
            }
            run_free(&r);
        }
}
END_TEST

/* The causal saving the lesson quotes: with N a multiple of Br = Bc, flash2 skips Tc(Tc-1)/2 of Tc^2 tiles. */
START_TEST(causal_skips_half)
{
    shape sh = {1, 1, 256, 16, 32, 32, 0};
    run_t r = run_backward(ATTN_FLASH2, &sh, true, DTYPE_FP16, 0, true, 1, 1.0f, NULL, NULL);
    attn_io io;
    attn_io_closed_form(&r.p, true, &io);
    ck_assert_uint_eq(io.tiles, 36);     /* 8 * 9 / 2 */
    ck_assert_uint_eq(io.skipped, 28);   /* 8 * 7 / 2 */
    run_free(&r);
}
END_TEST

/* ---- SRAM --------------------------------------------------------------------------------------------------- */

typedef struct {
    char name[32][MEM_NAME_LEN];
    size_t elems[32], n;
    bool on;
} alloc_log;

static void log_allocs(const mem_event *ev, void *ctx)
{
    alloc_log *l = ctx;
    if (ev->kind == MEM_EV_PHASE)
        l->on = !strcmp(ev->name, "backward");   /* the main loop (flash2's pre-pass D has its own phase) */
    if (ev->kind == MEM_EV_ALLOC && l->on && l->n < 32) {
        snprintf(l->name[l->n], MEM_NAME_LEN, "%s", ev->name);
        l->elems[l->n++] = ev->elems;
    }
}

START_TEST(sram_peak_is_plan)
{
    static const shape sh[] = {{1, 1, 7, 3, 2, 3, 0}, {2, 2, 100, 80, 7, 13, 0}, {1, 1, 64, 64, 0, 0, 64 * 1024},
                               {1, 1, 40, 16, 16, 4, 0}, {1, 1, 40, 16, 4, 16, 0}};
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int a = 0; a < 3; a++)
            for (int t = 0; t < 3; t++) {
                run_t r = run_backward((attn_algo)a, &sh[s], s & 1, (dtype_t)t, 0, true, 1, 1.0f, NULL, NULL);
                size_t need = attn_sram_need((attn_algo)a, true, r.p.Br, r.p.Bc, r.p.d, (dtype_t)t);
                ck_assert_msg(sram_peak(r.m) == need, "%s: SRAM peak %zu, plan %zu", attn_algo_name((attn_algo)a),
                              sram_peak(r.m), need);
                ck_assert_uint_le(need, mem_sram_capacity(r.m));
                /* the forward fits wherever the backward does, so one choice of blocks serves both */
                ck_assert_uint_le(attn_sram_need((attn_algo)a, false, r.p.Br, r.p.Bc, r.p.d, (dtype_t)t), need);
                run_free(&r);
            }
}
END_TEST

/* A pass's sweeps (one kernel each on a GPU): standard's backward is Algorithm 3's five lines, flash2's backward the
 * D pre-pass and the main loop, everything else one sweep; the peak plan is the largest sweep, buffer for buffer. */
START_TEST(sweeps_make_the_peak)
{
    static const size_t want[3][2] = {{3, 5}, {1, 1}, {1, 2}};   /* standard, flash1, flash2: forward, backward */
    for (int a = 0; a < 3; a++)
        for (int bwd = 0; bwd < 2; bwd++)
            for (int t = 0; t < 3; t++) {
                sram_plan sw[ATTN_MAX_SWEEPS], peak;
                size_t n = attn_sweep_plans((attn_algo)a, bwd, 24, 40, 56, (dtype_t)t, sw);
                attn_sram_plan((attn_algo)a, bwd, 24, 40, 56, (dtype_t)t, &peak);
                ck_assert_uint_eq(n, want[a][bwd]);
                size_t big = 0;
                for (size_t k = 1; k < n; k++)
                    big = sw[k].bytes > sw[big].bytes ? k : big;
                ck_assert_uint_eq(sw[big].bytes, peak.bytes);
                ck_assert_uint_eq(sw[big].n, peak.n);
                for (size_t b = 0; b < peak.n; b++) {
                    ck_assert_str_eq(sw[big].buf[b].name, peak.buf[b].name);
                    ck_assert_uint_eq(sw[big].buf[b].elems, peak.buf[b].elems);
                }
                if (a == ATTN_STANDARD && !bwd)
                    for (int ph = 0; ph < ATTN_STANDARD_PHASES; ph++) {
                        sram_plan x;
                        attn_standard_plan(ph, 24, 40, 56, (dtype_t)t, &x);
                        ck_assert_uint_eq(x.bytes, sw[ph].bytes);
                    }
            }
    /* flash2's pre-pass holds Oi, dOi (stored dtype) and Di (fp32): Br*(2d + 1) elements */
    sram_plan sw[ATTN_MAX_SWEEPS];
    attn_sweep_plans(ATTN_FLASH2, true, 24, 40, 56, DTYPE_FP16, sw);
    ck_assert_uint_eq(sw[0].n, 3);
    ck_assert_uint_eq(sw[0].bytes, 24 * 56 * 2 * 2 + 24 * 4);
}
END_TEST

/* The flash passes allocate exactly their plan's buffers, in the plan's order (names and sizes): the plan the
 * block chooser and the CUDA kernels read is the code's real footprint. */
START_TEST(flash_allocs_follow_plan)
{
    shape sh = {1, 1, 30, 8, 8, 4, 0};
    for (int a = ATTN_FLASH1; a <= ATTN_FLASH2; a++) {
        sram_plan plan;
        attn_sram_plan((attn_algo)a, true, sh.Br, sh.Bc, sh.d, DTYPE_BF16, &plan);
        alloc_log l = {.n = 0};
        run_t r = run_backward((attn_algo)a, &sh, true, DTYPE_BF16, 0, true, 1, 1.0f, log_allocs, &l);
        ck_assert_uint_eq(l.n, plan.n);
        for (size_t k = 0; k < plan.n; k++) {
            ck_assert_str_eq(l.name[k], plan.buf[k].name);
            ck_assert_uint_eq(l.elems[k], plan.buf[k].elems);
        }
        run_free(&r);
    }
}
END_TEST

/* ---- invariance --------------------------------------------------------------------------------------------- */

static void check_same_counts(const mem_t *a, const mem_t *b, const char *label)
{
    ck_assert_uint_eq(mem_ntensors(a), mem_ntensors(b));
    for (size_t k = 0; k < mem_ntensors(a); k++) {
        const char *name = mem_tensor_name(a, k);
        for (size_t ph = 0; ph < mem_nphases(a); ph++) {
            const char *phase = mem_phase_name(a, ph);
            io_count x = mem_io(a, name, phase), y = mem_io(b, name, phase);
            ck_assert_msg(x.rd_elems == y.rd_elems && x.wr_elems == y.wr_elems && x.rd_bytes == y.rd_bytes &&
                              x.wr_bytes == y.wr_bytes,
                          "%s: %s in phase %s differs", label, name, phase);
        }
    }
    ck_assert_uint_eq(mem_flops(a, NULL), mem_flops(b, NULL));
    ck_assert_uint_eq(mem_exps(a, NULL), mem_exps(b, NULL));
    ck_assert_uint_eq(sram_peak(a), sram_peak(b));
    ck_assert_uint_eq(mem_hbm_peak(a), mem_hbm_peak(b));
}

/* Each algorithm, causal or not, run twice on the same inputs: with threads1 threads, then with threads2 threads or
 * count-only. Every count is the same and the first run's ledger is the closed form; gradients computed twice are
 * the same bits. */
static void check_invariant(const shape *sh, dtype_t dt, uint64_t seed, int threads1, int threads2, bool count_only2)
{
    for (int a = 0; a < 3; a++)
        for (int causal = 0; causal < 2; causal++) {
            const char *name = attn_algo_name((attn_algo)a);
            run_t r1 = run_backward((attn_algo)a, sh, causal, dt, threads1, false, seed, 1.0f, NULL, NULL);
            run_t r2 = run_backward((attn_algo)a, sh, causal, dt, threads2, count_only2, seed, 1.0f, NULL, NULL);
            check_same_counts(r1.m, r2.m, name);
            check_ledger(&r1, name);
            if (!count_only2) {
                ck_assert(!memcmp(r1.dq, r2.dq, r1.n * sizeof(float)));
                ck_assert(!memcmp(r1.dk, r2.dk, r1.n * sizeof(float)));
                ck_assert(!memcmp(r1.dv, r2.dv, r1.n * sizeof(float)));
            }
            run_free(&r1);
            run_free(&r2);
        }
}

START_TEST(threads_invariant)
{
    shape sh = {2, 3, 37, 16, 8, 5, 0};   /* 6 heads over 2 threads */
    check_invariant(&sh, DTYPE_FP16, 5, 1, 2, false);
}
END_TEST

START_TEST(count_only_counts_the_same)
{
    shape sh = {1, 2, 45, 24, 8, 6, 0};
    check_invariant(&sh, DTYPE_BF16, 3, 0, 0, true);
}
END_TEST

/* Standard attention's peak HBM holds P, dP, dS (N x N each); FlashAttention's only O(N) statistics besides the
 * N x d tensors. */
START_TEST(hbm_peak_quadratic_vs_linear)
{
    shape sh = {1, 1, 512, 16, 32, 32, 0};
    for (int a = 0; a < 3; a++) {
        run_t r = run_backward((attn_algo)a, &sh, false, DTYPE_FP16, 0, true, 1, 1.0f, NULL, NULL);
        uint64_t N = sh.N, Nd = N * sh.d, nd_bytes = 8 * Nd * 2;   /* q k v out dout dq dk dv in fp16 */
        uint64_t want = a == ATTN_STANDARD ? nd_bytes + 3 * N * N * 2           /* + P, dP, dS */
                      : a == ATTN_FLASH1   ? nd_bytes + 2 * N * 4               /* + m, l */
                                           : nd_bytes + 2 * N * 4;              /* + L, D */
        ck_assert_uint_eq(mem_hbm_peak(r.m), want);
        run_free(&r);
    }
}
END_TEST

/* ---- finite differences ------------------------------------------------------------------------------------- */

/* loss = sum(O o dO) through the double reference forward, for one head. */
static double loss(const double *Q, const double *K, const double *V, const double *dO, size_t N, size_t d,
                   double scale, bool causal, double *O)
{
    ref_attention(Q, K, V, N, d, scale, causal, O, NULL);
    double s = 0;
    for (size_t i = 0; i < N * d; i++)
        s += O[i] * dO[i];
    return s;
}

START_TEST(finite_differences)
{
    size_t N = 11, d = 5;
    shape sh = {1, 1, N, d, 4, 3, 0};
    for (int causal = 0; causal < 2; causal++) {
        run_t r = run_backward(ATTN_FLASH2, &sh, causal, DTYPE_FP32, 0, false, 11, 1.0f, NULL, NULL);
        double scale = 1.0 / sqrt((double)d), *X[4], *G[3], *O = malloc(N * d * sizeof *O);
        const float *in[] = {r.q, r.k, r.v, r.dO}, *sim[] = {r.dq, r.dk, r.dv};
        for (int x = 0; x < 4; x++) {
            X[x] = malloc(N * d * sizeof(double));
            for (size_t i = 0; i < N * d; i++)
                X[x][i] = in[x][i];
        }
        for (int x = 0; x < 3; x++)
            G[x] = malloc(N * d * sizeof(double));
        ref_attention_backward(X[0], X[1], X[2], X[3], N, d, scale, causal, G[0], G[1], G[2]);
        rng_t rng;
        rng_seed(&rng, 99);
        for (int x = 0; x < 3; x++)
            for (int sample = 0; sample < 6; sample++) {
                size_t i = (size_t)rng_below(&rng, N * d);
                double keep = X[x][i];
                X[x][i] = keep + FD_STEP;
                double up = loss(X[0], X[1], X[2], X[3], N, d, scale, causal, O);
                X[x][i] = keep - FD_STEP;
                double down = loss(X[0], X[1], X[2], X[3], N, d, scale, causal, O);
                X[x][i] = keep;
                double fd = (up - down) / (2 * FD_STEP);
                ck_assert_msg(fabs(fd - G[x][i]) <= FD_TOL * (1 + fabs(fd)), "d%c[%zu]: fd %.12g, reference %.12g",
                              "QKV"[x], i, fd, G[x][i]);
                ck_assert_msg(fabs(fd - sim[x][i]) <= FD_TOL_FP32 * (1 + fabs(fd)), "d%c[%zu]: fd %.9g, flash2 %.9g",
                              "QKV"[x], i, fd, sim[x][i]);
            }
        for (int x = 0; x < 4; x++)
            free(X[x]);
        for (int x = 0; x < 3; x++)
            free(G[x]);
        free(O);
        run_free(&r);
    }
}
END_TEST

/* ---- limits ------------------------------------------------------------------------------------------------- */

/* Blocks that fit the forward but not the backward: attn_backward refuses with exit 2, no crash. */
static void backward_in_forward_sram(void *unused)
{
    (void)unused;
    size_t Br = 16, Bc = 16, d = 64, N = 64;
    mem_t *m = mem_create(attn_sram_need(ATTN_FLASH2, false, Br, Bc, d, DTYPE_FP16), false);
    attn_params p = {.algo = ATTN_FLASH2, .B = 1, .N = N, .H = 1, .d = d, .Br = Br, .Bc = Bc};
    attn_tensors t = attn_alloc(m, &p, DTYPE_FP16, true);
    attn_forward(m, &p, &t);
    attn_backward(m, &p, &t);   /* exits 2 */
}

START_TEST(sram_too_small_for_backward)
{
    size_t need = attn_sram_need(ATTN_FLASH2, true, 16, 16, 64, DTYPE_FP16);
    ck_assert_uint_lt(attn_sram_need(ATTN_FLASH2, false, 16, 16, 64, DTYPE_FP16), need);
    proc p = run_fn(backward_in_forward_sram, NULL);
    assert_one_error(&p, 2, "SRAM too small: flash2 backward with Br=16, Bc=16, d=64 (fp16)");
    char fits[64];
    snprintf(fits, sizeof fits, "fit from -M %zu", need);   /* the smallest M that holds the backward's plan */
    ck_assert_msg(strstr(p.err, fits), "'%s' does not say '%s'", p.err, fits);
    proc_free(&p);
}
END_TEST

START_TEST(backward_choice_fails_cleanly)
{
    attn_params p = {.algo = ATTN_FLASH1, .B = 1, .N = 64, .H = 1, .d = 64};
    block_choice bc;
    char err[256] = "";
    ck_assert_int_eq(attn_choose_blocks(&p, true, 256, DTYPE_FP32, 0, 0, &bc, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "SRAM too small"));
}
END_TEST

Suite *backward_suite(void)
{
    Suite *s = suite_create("backward");
    TCASE(s, "Gradients", 60, {gradients_match_reference, .loops = (int)(NGRAD * 3)}, {large_logits},
          {finite_differences});
    TCASE(s, "Counting", 60, {ledger_equals_closed_form, .loops = (int)(sizeof count_shapes / sizeof count_shapes[0])},
          {causal_skips_half}, {count_only_counts_the_same}, {hbm_peak_quadratic_vs_linear});
    TCASE(s, "Sram", 0, {sram_peak_is_plan}, {sweeps_make_the_peak}, {flash_allocs_follow_plan});
    TCASE(s, "Threads", 0, {threads_invariant});
    TCASE(s, "Limits", 0, {sram_too_small_for_backward}, {backward_choice_fails_cleanly});
    return s;
}
