/* lesson07 — the backward pass with recomputation: standard attention against FlashAttention.
 *
 * What it teaches. Training needs dQ, dK, dV from dO. Standard attention (FlashAttention paper, Algorithm 3) reads
 * back the P its forward pass stored and sends two more N x N matrices, dP and dS, through HBM. FlashAttention
 * (Algorithm 4; FlashAttention-2, Algorithm 2) stores no N x N matrix at all: it recomputes each tile
 * P_ij = exp(S_ij - L_i) from Q_i, K_j and one number per row saved by the forward pass (L = m + log l, or m and
 * l themselves), and it gets the row sums D_i = sum_j P_ij dP_ij from D = rowsum(dO o O) before its loop. The price
 * is more FLOPs (S is computed twice) and dQ accumulated across key blocks by read-modify-write in HBM; the prize is
 * no O(N^2) traffic and no O(N^2) memory.
 * Algorithm lines: Alg.3 lines 1-5 (one ledger phase each); Alg.4 lines 5-24; FA2 Alg.2 lines 3-18 (sim/model/attn_backward.c).
 * OpenMP runs heads in parallel, never key blocks j: each j adds into every dQi, so parallel j would race on dQ
 * (FlashAttention-2's CUDA code runs j in parallel with atomic adds); one head per thread keeps results bitwise.
 * Checks: the counted ledgers against the closed forms; dQ, dK, dV against the double-precision reference
 * (Tri Dao's method in low precision); the reference itself against central finite differences of the loss
 * sum(O o dO); the peak HBM bytes allocated, O(N^2) against O(N), over a few N.
 *
 * Run:  ./lesson07                        standard beside flash2: N=256, d=64, fp16, M=192 KiB
 *       ./lesson07 --algo all --causal    standard, flash1 and flash2; causal tiles skipped
 *       ./lesson07 --algo flash1 -N 100 -d 80 --dtype bf16
 *       ./lesson07 -N 65536 --count-only --quiet      counts only, no arithmetic
 * Summary: the FlashAttention backward's ledger (flash2, or flash1 with --algo flash1; standard with --algo
 *   standard), its max_abs_err over dQ, dK, dV, std_* keys for standard attention's backward, flash1_* keys with
 *   --algo all, fd_max_err (finite differences against the reference), closed_form_ok and grad_ok.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"  // defines: attn_choose_blocks, attn_alloc, attn_forward, attn_backward, attn_io_closed_form
#include "lessons.h"
#include "reference.h"  // defines: ref_attention, ref_attention_backward, ref_attention_backward_lowp, ref_head_*
#include "rng.h"
#include "summary.h"
#include "util.h"
#include "verify.h"

#define MAX_FLOPS 2e10                  /* real arithmetic (algorithms and references) beyond this takes minutes */
#define MAX_TILES ((uint64_t)1 << 26)   /* a loop over more tiles takes minutes even when only counted */
/* Tri Dao's method: an entry's error against fp64 may be twice the max error of the framework-style backward in the
 * same dtype (ref_attention_backward_lowp), plus SLACK_ULPS roundings of the sums that make the entry
 * (ref_attention_backward_mag): one of the dtype (sqrt(Tc) for FlashAttention's dQ, rounded at each of its Tc
 * read-modify-writes) and sqrt(N) of fp32 for the float accumulations. Over 60 seeds of the test suite's shapes
 * (d = 1 .. 128, fp32/fp16/bf16, causal or not) the largest multiple needed was 0.46. */
#define TRIDAO_FACTOR 2.0
#define SLACK_ULPS 2.0
/* Central differences in double at h = 1e-5: truncation ~h^2/6 |f'''| plus cancellation ~1e-16 |f| / h stay below
 * ~2e-8 relative (d = 1 .. 128, N <= 1000); 1e-6 keeps a margin of 50, and a wrong term would be off by O(|g|). */
#define FD_STEP 1e-5
#define FD_TOL 1e-6
#define FD_SAMPLES 4                    /* entries of each of Q, K, V */
#define FD_MAX_FLOPS 4e9                /* 6 * FD_SAMPLES reference forwards of head (0, 0) */
#define PEAK_SIZES 4                    /* the HBM-peak table: N, 2N, 4N, 8N */
#define MAP_MAX 24                      /* draw the causal tile map up to 24 x 24 blocks */

static const char *const ALGOS[] = {"flash2", "flash1", "standard", "all", NULL};

static const char DETAILS[] =
    "--algo picks the FlashAttention backward shown beside standard attention's: flash2 (FlashAttention-2,\n"
    "Algorithm 2), flash1 (FlashAttention, Algorithm 4), all (both), or standard alone. Blocks are chosen per\n"
    "algorithm from its backward SRAM plan (the forward then fits too). Gradients are of the loss sum(O o dO).";

const cli_spec lesson07_spec = {
    .name = "lesson07",
    .title = "The backward pass with recomputation",
    .details = DETAILS,
    /* M = 192 KiB: the A100's SRAM per SM as the FlashAttention paper quotes it (Section 2.1), as in lesson05. */
    .defaults = {.N = 256, .d = 64, .B = 1, .H = 1, .M_bytes = 192 * 1024, .dtype = DTYPE_FP16, .seed = 7,
                 .algo = "flash2"},
    .extra = CLI_OPT_CAUSAL | CLI_OPT_ALGO | CLI_OPT_THREADS | CLI_OPT_TRACE,
    .algos = ALGOS,
};

/* One algorithm's forward + backward on its own memory model. */
typedef struct {
    attn_algo algo;
    attn_params p;
    block_choice bc;
    mem_t *m;
    attn_tensors t;
    uint64_t fwd_peak;           /* HBM bytes allocated at most during the forward */
    attn_io io;                  /* the backward's closed form */
    bool closed_ok;
    float *g[3];                 /* dQ, dK, dV as (B, N, H, d) */
    double err[3], err_lp[3], ratio[3];   /* max |error|, the framework's, max over entries of error / bound */
    bool grad_ok;
    char map[MAP_MAX][MAP_MAX];  /* causal tile map of the flash backward: '#' computed, '.' skipped */
    size_t Tr, Tc;
} algo_run;

static void map_steps(const mem_event *ev, void *ctx)
{
    algo_run *r = ctx;
    if (ev->kind == MEM_EV_STEP && ev->i >= 0 && ev->j >= 0 && (size_t)ev->i < r->Tr && (size_t)ev->j < r->Tc)
        r->map[ev->i][ev->j] = ev->name && !strcmp(ev->name, MEM_STEP_SKIP) ? '.' : '#';
}

static bool ledger_matches(const mem_t *m, const attn_io *io)
{
    io_count tot = mem_io(m, NULL, NULL);
    bool ok = tot.rd_elems == io->rd && tot.wr_elems == io->wr;
    for (size_t k = 0; k < io->n; k++) {
        io_count c = mem_io(m, io->row[k].tensor, NULL);
        ok = ok && c.rd_elems == io->row[k].rd && c.wr_elems == io->row[k].wr;
    }
    return ok;
}

static void choose(algo_run *r, const cli_cfg *cfg)
{
    char err[512];
    r->p = (attn_params){.algo = r->algo, .B = cfg->B, .N = cfg->N, .H = cfg->H, .d = cfg->d,
                         .causal = cfg->causal, .threads = cfg->threads};
    if (attn_choose_blocks(&r->p, true, cfg->M_bytes, cfg->dtype, cfg->Br, cfg->Bc, &r->bc, err, sizeof err))
        fl_fatal("%s backward: %s", attn_algo_name(r->algo), err);
    r->Tr = ceil_div(cfg->N, r->p.Br);
    r->Tc = ceil_div(cfg->N, r->p.Bc);
}

/* Forward (to save what the backward needs), reset the ledger, then the backward alone. */
static void run_algo(algo_run *r, const cli_cfg *cfg, float *const in[4], trace_t **tr)
{
    r->m = mem_create(cfg->M_bytes, cfg->count_only);
    r->t = attn_alloc(r->m, &r->p, cfg->dtype, true);
    hbm_tensor *dst[4] = {r->t.q, r->t.k, r->t.v, r->t.dout};
    for (int x = 0; x < 4 && in[0]; x++)
        hbm_upload(dst[x], in[x]);
    attn_forward(r->m, &r->p, &r->t);
    r->fwd_peak = mem_hbm_peak(r->m);
    mem_ledger_reset(r->m);
    if (!*tr)
        *tr = cli_trace_open(cfg, r->m);
    else
        trace_follow(*tr, r->m);
    bool draw = r->algo != ATTN_STANDARD && cfg->causal && cfg->B * cfg->H == 1 && r->Tr <= MAP_MAX &&
                r->Tc <= MAP_MAX;
    if (draw)
        mem_observe(r->m, map_steps, r);
    mem_note(r->m, "lesson07: %s backward", attn_algo_name(r->algo));
    attn_backward(r->m, &r->p, &r->t);
    if (draw)
        mem_unobserve(r->m, map_steps, r);
    attn_io_closed_form(&r->p, true, &r->io);
    r->closed_ok = ledger_matches(r->m, &r->io);
    if (!cfg->count_only) {
        hbm_tensor *g[3] = {r->t.dq, r->t.dk, r->t.dv};
        for (int x = 0; x < 3; x++) {
            r->g[x] = xmalloc(hbm_numel(g[x]) * sizeof(float));
            hbm_download(g[x], r->g[x]);
        }
    }
}

/* Tri Dao's check of one algorithm's dQ, dK, dV, entry by entry. */
static void check_grads(algo_run *r, double *const ref[3], double *const low[3], double *const mag[3], size_t n,
                        dtype_t dt, size_t N)
{
    float *lp = xmalloc(n * sizeof *lp);
    r->grad_ok = true;
    for (int x = 0; x < 3; x++) {
        for (size_t i = 0; i < n; i++)
            lp[i] = (float)low[x][i];
        double walk = r->algo != ATTN_STANDARD && x == 0 ? sqrt((double)r->Tc) : 1.0;
        double ulps = SLACK_ULPS * (dtype_eps(dt) * walk + dtype_eps(DTYPE_FP32) * sqrt((double)N));
        r->err[x] = verify_max_abs(ref[x], r->g[x], n);
        r->err_lp[x] = verify_max_abs(ref[x], lp, n);
        r->ratio[x] = 0;
        for (size_t i = 0; i < n; i++) {
            double e = fabs((double)r->g[x][i] - ref[x][i]), q = e / (TRIDAO_FACTOR * r->err_lp[x] + ulps * mag[x][i]);
            r->ratio[x] = isnan(e) || isnan(q) ? INFINITY : fmax(r->ratio[x], q);
        }
        r->grad_ok = r->grad_ok && r->ratio[x] <= 1;
    }
    free(lp);
}

static double max3(const double e[3])
{
    if (isnan(e[0]) || isnan(e[1]) || isnan(e[2]))
        return NAN;
    return fmax(e[0], fmax(e[1], e[2]));
}

/* loss = sum(O o dO) of one head through the double reference forward. */
static double loss(double *const X[4], size_t N, size_t d, double scale, bool causal, double *O)
{
    ref_attention(X[0], X[1], X[2], N, d, scale, causal, O, NULL);
    double s = 0;
    for (size_t i = 0; i < N * d; i++)
        s += O[i] * X[3][i];
    return s;
}

/* Ledgers side by side: one pair of columns (reads, writes) per algorithm, elements over all heads. */
static void print_ledgers(algo_run *const *runs, size_t nr)
{
    printf("  %-8s", "tensor");
    for (size_t a = 0; a < nr; a++)
        printf(" | %12s %12s", attn_algo_name(runs[a]->algo), "");
    printf("\n  %-8s", "");
    for (size_t a = 0; a < nr; a++)
        printf(" | %12s %12s", "reads", "writes");
    printf("\n");
    const char *seen[MEM_MAX_TENSORS * 3];
    size_t nseen = 0;
    for (size_t a = 0; a < nr; a++)
        for (size_t k = 0; k < mem_ntensors(runs[a]->m); k++) {
            const char *name = mem_tensor_name(runs[a]->m, k);
            bool dup = false, moved = false;
            for (size_t s = 0; s < nseen; s++)
                dup = dup || !strcmp(seen[s], name);
            for (size_t b = 0; b < nr; b++) {
                io_count c = mem_io(runs[b]->m, name, NULL);
                moved = moved || c.rd_elems || c.wr_elems;
            }
            if (dup || !moved)
                continue;
            seen[nseen++] = name;
            printf("  %-8s", name);
            for (size_t b = 0; b < nr; b++) {
                io_count c = mem_io(runs[b]->m, name, NULL);
                printf(" | %12llu %12llu", (unsigned long long)c.rd_elems, (unsigned long long)c.wr_elems);
            }
            printf("\n");
        }
    char b1[32], b2[32];
    printf("  %-8s", "total");
    for (size_t a = 0; a < nr; a++) {
        io_count c = mem_io(runs[a]->m, NULL, NULL);
        printf(" | %12llu %12llu", (unsigned long long)c.rd_elems, (unsigned long long)c.wr_elems);
    }
    printf("\n  %-8s", "bytes");
    for (size_t a = 0; a < nr; a++) {
        io_count c = mem_io(runs[a]->m, NULL, NULL);
        printf(" | %12s %12s", fmt_bytes(c.rd_bytes, b1, sizeof b1), fmt_bytes(c.wr_bytes, b2, sizeof b2));
    }
    printf("\n  %-8s", "FLOPs");
    for (size_t a = 0; a < nr; a++)
        printf(" | %12llu %12s", (unsigned long long)mem_flops(runs[a]->m, NULL), "");
    printf("\n  %-8s", "exp()");
    for (size_t a = 0; a < nr; a++)
        printf(" | %12llu %12s", (unsigned long long)mem_exps(runs[a]->m, NULL), "");
    printf("\n  %-8s", "SRAM");
    for (size_t a = 0; a < nr; a++)
        printf(" | %12s %12s", fmt_bytes(sram_peak(runs[a]->m), b1, sizeof b1), "peak");
    printf("\n  %-8s", "HBM");
    for (size_t a = 0; a < nr; a++)
        printf(" | %12s %12s", fmt_bytes(mem_hbm_peak(runs[a]->m), b1, sizeof b1), "peak");
    printf("\n  %-8s", "closed");
    for (size_t a = 0; a < nr; a++)
        printf(" | %25s", runs[a]->closed_ok ? "= closed form" : "DIFFERS from closed form");
    printf("\n");
}

/* Per phase: what each step of the pass moved. N x N tensors (P, dP, dS) apart, they are standard's cost. */
static void print_phases(const algo_run *r, size_t heads)
{
    static const char *const nn[] = {"P", "dP", "dS"};
    printf("  %-11s %14s %14s %16s %14s\n", "phase", "reads", "writes", "of them N x N", "FLOPs");
    for (size_t ph = 0; ph < mem_nphases(r->m); ph++) {
        const char *name = mem_phase_name(r->m, ph);
        io_count c = mem_io(r->m, NULL, name);
        if (!c.rd_elems && !c.wr_elems)
            continue;
        uint64_t quad = 0;
        for (int k = 0; k < 3; k++) {
            io_count q = mem_io(r->m, nn[k], name);
            quad += q.rd_elems + q.wr_elems;
        }
        printf("  %-11s %14llu %14llu %16llu %14llu\n", name, (unsigned long long)c.rd_elems,
               (unsigned long long)c.wr_elems, (unsigned long long)quad, (unsigned long long)mem_flops(r->m, name));
    }
    uint64_t N2 = (uint64_t)r->p.N * r->p.N * heads;
    uint64_t quad = 0;
    for (int k = 0; k < 3; k++) {
        io_count q = mem_io(r->m, nn[k], NULL);
        quad += q.rd_elems + q.wr_elems;
    }
    if (quad)
        printf("  N x N traffic: %llu elements = %.0f N^2%s (P read 3 times, dP written once and read twice, dS\n"
               "  written once and read twice)\n", (unsigned long long)quad, (double)quad / (double)N2,
               heads > 1 ? " per head" : "");
}

static void summary_run(summary_t *s, const char *prefix, const algo_run *r, bool count_only)
{
    char key[64];
    io_count c = mem_io(r->m, NULL, NULL);
    struct { const char *k; uint64_t v; } kv[] = {
        {"Br", r->p.Br}, {"Bc", r->p.Bc}, {"hbm_read_elems", c.rd_elems}, {"hbm_write_elems", c.wr_elems},
        {"hbm_read_bytes", c.rd_bytes}, {"hbm_write_bytes", c.wr_bytes}, {"sram_peak_bytes", sram_peak(r->m)},
        {"hbm_peak_bytes", mem_hbm_peak(r->m)}, {"flops", mem_flops(r->m, NULL)}, {"exps", mem_exps(r->m, NULL)},
        {"closed_form_ok", r->closed_ok}};
    for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++) {
        snprintf(key, sizeof key, "%s_%s", prefix, kv[k].k);
        summary_u64(s, key, kv[k].v);
    }
    snprintf(key, sizeof key, "%s_max_abs_err", prefix);
    if (count_only)
        summary_str(s, key, "na");
    else
        summary_f64(s, key, max3(r->err));
}

int lesson07_run(const cli_cfg *cfg)
{
    size_t N = cfg->N, d = cfg->d, heads = cfg->B * cfg->H, n = cfg->B * N * cfg->H * d;
    dtype_t dt = cfg->dtype;
    bool say = !cfg->quiet, count_only = cfg->count_only;
    bool trace_on_stdout = cfg->trace != TRACE_NONE && !cfg->trace_file;
    say = say && !trace_on_stdout;

    /* Which backward passes: standard always (it is the baseline), and the FlashAttention one(s) asked for. */
    algo_run std = {.algo = ATTN_STANDARD}, f1 = {.algo = ATTN_FLASH1}, f2 = {.algo = ATTN_FLASH2};
    algo_run *runs[3], *main_run;
    size_t nr = 0;
    runs[nr++] = &std;
    if (!strcmp(cfg->algo, "flash1") || !strcmp(cfg->algo, "all"))
        runs[nr++] = &f1;
    if (!strcmp(cfg->algo, "flash2") || !strcmp(cfg->algo, "all"))
        runs[nr++] = &f2;
    main_run = runs[nr - 1];
    for (size_t a = 0; a < nr; a++)
        choose(runs[a], cfg);

    /* Guards: tiles walked (standard walks the whole grid six times) and real arithmetic. */
    for (size_t a = 0; a < nr; a++) {
        double tiles = 6.0 * (double)runs[a]->Tr * (double)runs[a]->Tc * (double)heads;
        if (tiles > (double)MAX_TILES)
            fl_fatal("%s backward: %.3g tiles are too many to walk (at most %llu); use a larger M, a smaller N or fewer heads",
                     attn_algo_name(runs[a]->algo), tiles, (unsigned long long)MAX_TILES);
    }
    double work = 2.0 * (double)N * N * d * heads * (14.0 * (double)nr + 20.0);   /* fwd+bwd each, 2 references */
    if (!count_only && work > MAX_FLOPS)
        fl_fatal("about %.3g FLOPs of real arithmetic (forward and backward, and the references) would take "
                 "minutes; add --count-only or use a smaller N", work);

    if (say) {
        printf("lesson07 — %s\n\n", lesson07_spec.title);
        printf("Q, K, V, dO: B=%zu x N=%zu x H=%zu x d=%zu, %s in HBM%s. SRAM: M = %zu bytes. Loss: sum(O o dO).\n",
               cfg->B, N, cfg->H, d, dtype_name(dt), cfg->causal ? ", causal" : "", cfg->M_bytes);
        printf("Blocks from each backward's SRAM plan (its forward fits in what the backward needs):\n");
        for (size_t a = 0; a < nr; a++) {
            sram_plan pl;
            attn_sram_plan(runs[a]->algo, true, runs[a]->p.Br, runs[a]->p.Bc, d, dt, &pl);
            printf("  %-8s Br=%zu, Bc=%zu (Tr=%zu, Tc=%zu): %s\n           SRAM:", attn_algo_name(runs[a]->algo),
                   runs[a]->p.Br, runs[a]->p.Bc, runs[a]->Tr, runs[a]->Tc, runs[a]->bc.rule);
            for (size_t k = 0; k < pl.n; k++)
                printf(" %s%s", pl.buf[k].name, pl.buf[k].dt == DTYPE_FP32 && dt != DTYPE_FP32 ? "(fp32)" : "");
            printf(" = %zu bytes\n", pl.bytes);
        }
        printf("\n");
    }

    /* Inputs: q, k, v, dO ~ N(0, 1), rounded to the dtype by the upload (read back: that is what the passes see). */
    float *in[4] = {NULL, NULL, NULL, NULL};
    if (!count_only) {
        rng_t rng;
        rng_seed(&rng, cfg->seed);
        for (int x = 0; x < 4; x++) {
            in[x] = xmalloc(n * sizeof(float));
            rng_fill_normal(&rng, in[x], n, 1.0f);
            for (size_t i = 0; i < n; i++)
                in[x][i] = dtype_round(dt, in[x][i]);
        }
    }
    trace_t *tr = NULL;
    for (size_t a = 0; a < nr; a++)
        run_algo(runs[a], cfg, in, &tr);
    cli_trace_close(cfg, tr);

    /* ---- what the forward passes kept for the backward ---------------------------------------------------------- */
    if (say) {
        char b1[32];
        printf("What each forward pass left in HBM for its backward pass:\n");
        for (size_t a = 0; a < nr; a++) {
            const algo_run *r = runs[a];
            if (r->algo == ATTN_STANDARD)
                printf("  standard  P = softmax(S), N x N per head in %s: %s\n", dtype_name(dt),
                       fmt_bytes(hbm_numel(r->t.P) * dtype_size(dt), b1, sizeof b1));
            else if (r->algo == ATTN_FLASH1)
                printf("  flash1    m and l, Alg.1's running max and sum, N each in fp32: %s\n",
                       fmt_bytes(2 * hbm_numel(r->t.m) * 4, b1, sizeof b1));
            else
                printf("  flash2    L = m + log(l), the log-sum-exp, N in fp32: %s\n",
                       fmt_bytes(hbm_numel(r->t.lse) * 4, b1, sizeof b1));
        }
        printf("  With L, any tile of P comes back exactly: P_ij = exp(S_ij - L_i), S_ij = scale Q_i K_j^T (m and l\n"
               "  give the same: P_ij = exp(S_ij - m_i) / l_i). And D_i = sum_j P_ij dP_ij, the row sum softmax's\n"
               "  gradient needs, equals rowsum(dO_i o O_i), because O_i = sum_j P_ij V_j: known before any tile.\n\n");
    }

    /* ---- standard attention's backward, per phase ---------------------------------------------------------------- */
    if (say) {
        printf("Standard attention backward (Algorithm 3), every line its own pass through HBM:\n"
               "  line 1  dV = P^T dO          line 2  dP = dO V^T (N x N, written)\n"
               "  line 3  D = rowsum(P o dP), dS = P o (dP - D) (N x N, written; a row of P does not fit in SRAM,\n"
               "          so D takes one pass over the row's tiles and dS a second)\n"
               "  line 4  dQ = scale dS K      line 5  dK = scale dS^T Q\n");
        print_phases(&std, heads);
        printf("\n");
    }

    /* ---- the FlashAttention backward(s) ---------------------------------------------------------------------------- */
    if (say && nr > 1) {
        printf("FlashAttention backward: outer loop over key blocks j (Kj, Vj, and dKj, dVj accumulating on chip),\n"
               "inner loop over query blocks i; P is recomputed per tile, dQi is read, updated and written back:\n");
        if (f1.m)
            printf("  flash1 (Alg.4): line 5 zeroes dQ, dK, dV in HBM; line 10 loads Qi, Oi, dOi, dQi, li, mi per tile;\n"
                   "    line 13 P = exp(S - mi) / li; line 19 Di = rowsum(dOi o Oi) is recomputed on every tile.\n");
        if (f2.m)
            printf("  flash2 (FA2 Alg.2): lines 3-4 zero dQ and write D = rowsum(dO o O) once (phase backward_D);\n"
                   "    line 9 loads Qi, dOi, Li, Di per tile (O is not needed any more); line 11 P = exp(S - Li).\n");
        printf("  Threads run over heads (b, h) only: every key block j adds into every dQi, so running j in parallel\n"
               "  would race on dQ (FlashAttention-2's CUDA code does, with atomic adds into an fp32 dQ accumulator).\n");
        for (size_t a = 1; a < nr; a++) {
            const algo_run *r = runs[a];
            printf("  %s: %llu tiles computed, %llu skipped by the causal mask%s\n", attn_algo_name(r->algo),
                   (unsigned long long)r->io.tiles, (unsigned long long)r->io.skipped,
                   r->io.skipped ? " (no loads, no FLOPs)" : "");
            if (r->map[0][0]) {
                printf("  tile map (rows: query blocks i, columns: key blocks j; # computed, . skipped):\n");
                for (size_t i = 0; i < r->Tr; i++)
                    printf("    %.*s\n", (int)r->Tc, r->map[i]);
            }
        }
        printf("\n");
    }
    if (say) {
        printf("Ledgers of the backward passes side by side (elements over all heads; FLOPs 2 per multiply-add):\n");
        print_ledgers(runs, nr);
        if (nr > 1) {
            const algo_run *r = runs[nr - 1];
            uint64_t ff = mem_flops(r->m, NULL), fs = mem_flops(std.m, NULL);
            printf("  FlashAttention moves no N x N matrix; it pays with dQ, read and written once per computed tile.\n"
                   "  FLOPs: %llu against standard's %llu: S = Q K^T is computed a second time (5 matrix products\n"
                   "  per tile instead of 4)%s.\n", (unsigned long long)ff, (unsigned long long)fs,
                   r->io.skipped ? ";\n  but the tiles the causal mask skips cost nothing, and standard attention computes "
                                   "every tile" : "");
        }
        for (size_t a = 1; a < nr; a++) {
            printf("  %s per phase:\n", attn_algo_name(runs[a]->algo));
            print_phases(runs[a], heads);
        }
        printf("\n");
    }

    /* ---- gradients against the double-precision reference, and the reference against finite differences ------ */
    bool grad_ok = true;
    double fd_err = NAN;
    size_t fd_done = 0;
    if (!count_only) {
        double *ref[3], *low[3], *mag[3], *h[4], *o[3];
        double scale = 1.0 / sqrt((double)d);
        for (int x = 0; x < 3; x++) {
            ref[x] = xmalloc(n * sizeof(double));
            low[x] = xmalloc(n * sizeof(double));
            mag[x] = xmalloc(n * sizeof(double));
            o[x] = xmalloc(N * d * sizeof(double));
        }
        for (int x = 0; x < 4; x++)
            h[x] = xmalloc(N * d * sizeof(double));
        for (size_t b = 0; b < cfg->B; b++)
            for (size_t hh = 0; hh < cfg->H; hh++) {
                for (int x = 0; x < 4; x++)
                    ref_head_get(in[x], cfg->B, N, cfg->H, d, b, hh, h[x]);
                ref_attention_backward(h[0], h[1], h[2], h[3], N, d, scale, cfg->causal, o[0], o[1], o[2]);
                for (int x = 0; x < 3; x++)
                    ref_head_put(o[x], cfg->B, N, cfg->H, d, b, hh, ref[x]);
                ref_attention_backward_lowp(h[0], h[1], h[2], h[3], N, d, scale, cfg->causal, dt, o[0], o[1], o[2]);
                for (int x = 0; x < 3; x++)
                    ref_head_put(o[x], cfg->B, N, cfg->H, d, b, hh, low[x]);
                ref_attention_backward_mag(h[0], h[1], h[2], h[3], N, d, scale, cfg->causal, o[0], o[1], o[2]);
                for (int x = 0; x < 3; x++)
                    ref_head_put(o[x], cfg->B, N, cfg->H, d, b, hh, mag[x]);
            }
        for (size_t a = 0; a < nr; a++) {
            check_grads(runs[a], ref, low, mag, n, dt, N);
            grad_ok = grad_ok && runs[a]->grad_ok;
        }
        if (say) {
            printf("Gradients against the double-precision reference (max |error| over all heads). Tri Dao's\n"
                   "method: each entry may err %.0fx the max error of a framework's materialized %s backward (S, P,\n"
                   "dP, dS stored in %s), plus %.0f roundings of the sums that make the entry: one of %s (sqrt(Tc)\n"
                   "for FlashAttention's dQ, rounded at each of its Tc read-modify-writes) and sqrt(N) of fp32 for\n"
                   "the float accumulations. The last column is the worst entry's error over its bound (<= 1 passes):\n",
                   TRIDAO_FACTOR, dtype_name(dt), dtype_name(dt), SLACK_ULPS, dtype_name(dt));
            printf("  %-9s %-4s %12s %12s %12s\n", "algorithm", "grad", "max |err|", "framework", "err/bound");
            for (size_t a = 0; a < nr; a++)
                for (int x = 0; x < 3; x++)
                    printf("  %-9s d%c   %12.3g %12.3g %12.2f  %s\n", attn_algo_name(runs[a]->algo), "QKV"[x],
                           runs[a]->err[x], runs[a]->err_lp[x], runs[a]->ratio[x],
                           runs[a]->ratio[x] <= 1 ? "ok" : "EXCEEDED");
        }

        /* Finite differences of the loss through the double reference forward, on head (0, 0). */
        double fd_cost = 2.0 * 3 * FD_SAMPLES * 4.0 * (double)N * N * d;
        if (fd_cost <= FD_MAX_FLOPS) {
            double *X[4], *O = xmalloc(N * d * sizeof *O), *G[3];
            for (int x = 0; x < 4; x++) {
                X[x] = xmalloc(N * d * sizeof(double));
                ref_head_get(in[x], cfg->B, N, cfg->H, d, 0, 0, X[x]);
            }
            for (int x = 0; x < 3; x++) {
                G[x] = xmalloc(N * d * sizeof(double));
                ref_head_get(main_run->g[x], cfg->B, N, cfg->H, d, 0, 0, G[x]);
            }
            ref_attention_backward(X[0], X[1], X[2], X[3], N, d, scale, cfg->causal, o[0], o[1], o[2]);
            rng_t rng;
            rng_seed(&rng, cfg->seed + 1);
            fd_err = 0;
            if (say)
                printf("\nCentral finite differences of the loss, step h = %g, on head (0, 0): (f(x+h) - f(x-h)) / 2h\n"
                       "in double through the reference forward, against the reference gradient (tolerance %g (1 + "
                       "|g|)) and %s's:\n  %-10s %16s %16s %14s\n", FD_STEP, FD_TOL, attn_algo_name(main_run->algo),
                       "entry", "finite diff", "reference", attn_algo_name(main_run->algo));
            for (int x = 0; x < 3; x++)
                for (int s = 0; s < FD_SAMPLES; s++) {
                    size_t i = (size_t)rng_below(&rng, N * d);
                    double keep = X[x][i];
                    X[x][i] = keep + FD_STEP;
                    double up = loss(X, N, d, scale, cfg->causal, O);
                    X[x][i] = keep - FD_STEP;
                    double down = loss(X, N, d, scale, cfg->causal, O);
                    X[x][i] = keep;
                    double fd = (up - down) / (2 * FD_STEP), e = fabs(fd - o[x][i]) / (1 + fabs(fd));
                    fd_err = isnan(e) || e > fd_err ? e : fd_err;
                    fd_done++;
                    if (say) {
                        char label[32];
                        snprintf(label, sizeof label, "d%c[%zu,%zu]", "QKV"[x], i / d, i % d);
                        printf("  %-10s %16.10f %16.10f %14.6f\n", label, fd, o[x][i], G[x][i]);
                    }
                }
            grad_ok = grad_ok && fd_err <= FD_TOL;
            if (say)
                printf("  max |fd - reference| / (1 + |fd|) = %.3g: %s\n", fd_err,
                       fd_err <= FD_TOL ? "ok" : "EXCEEDED");
            for (int x = 0; x < 4; x++)
                free(X[x]);
            for (int x = 0; x < 3; x++)
                free(G[x]);
            free(O);
        } else if (say) {
            printf("\nFinite differences: not run (N^2 d too large for %d reference forwards; try N <= 1024)\n",
                   6 * FD_SAMPLES);
        }
        if (say)
            printf("\n");
        for (int x = 0; x < 3; x++)
            free(ref[x]), free(low[x]), free(mag[x]), free(o[x]);
        for (int x = 0; x < 4; x++)
            free(h[x]);
    } else if (say) {
        printf("Gradients: not computed (--count-only)\n\n");
    }

    /* ---- peak HBM bytes over N: O(N^2) against O(N) (count-only: allocations are real, storage is not) -------- */
    if (say) {
        printf("Peak HBM bytes allocated during the backward pass (every tensor alive at once), B=%zu, H=%zu, %s:\n",
               cfg->B, cfg->H, dtype_name(dt));
        printf("  %8s", "N");
        for (size_t a = 0; a < nr; a++)
            printf(" %14s", attn_algo_name(runs[a]->algo));
        printf(" %12s\n", nr > 1 ? "std / flash" : "");
        char b1[32];
        for (int k = 0; k < PEAK_SIZES; k++) {
            cli_cfg c = *cfg;
            c.N = N << k;
            c.count_only = true;
            c.trace = TRACE_NONE;
            c.threads = cfg->threads;
            c.Br = min_size(cfg->Br, c.N);
            c.Bc = min_size(cfg->Bc, c.N);
            uint64_t peak[3] = {0, 0, 0};
            bool done = true;
            for (size_t a = 0; a < nr && done; a++) {
                algo_run r = {.algo = runs[a]->algo};
                choose(&r, &c);
                if (6.0 * (double)r.Tr * (double)r.Tc * (double)heads > (double)MAX_TILES / 4) {
                    done = false;
                    break;
                }
                trace_t *none = NULL;
                run_algo(&r, &c, (float *[4]){NULL, NULL, NULL, NULL}, &none);
                peak[a] = mem_hbm_peak(r.m);
                attn_free(r.m, &r.t);
                mem_destroy(r.m);
            }
            if (!done) {
                printf("  %8zu  (not run: too many tiles to walk)\n", c.N);
                continue;
            }
            printf("  %8zu", c.N);
            for (size_t a = 0; a < nr; a++)
                printf(" %14s", fmt_bytes(peak[a], b1, sizeof b1));
            if (nr > 1)
                printf(" %12.1f", (double)peak[0] / (double)peak[nr - 1]);
            printf("\n");
        }
        printf("  Standard attention holds P, dP and dS (3 N^2 per head) besides the N x d tensors: doubling N\n"
               "  quadruples it. FlashAttention adds only N numbers per head (L and D, or m and l): doubling N\n"
               "  doubles it.\n\n");
    }

    bool closed_ok = true;
    for (size_t a = 0; a < nr; a++)
        closed_ok = closed_ok && runs[a]->closed_ok;
    if (say)
        printf("Ledgers equal their closed forms: %s. Gradients: %s.\n\n", closed_ok ? "yes" : "NO",
               count_only ? "not computed" : grad_ok ? "ok" : "NOT WITHIN TOLERANCE");

    summary_t s;
    summary_begin(&s, cfg, attn_algo_name(main_run->algo), main_run->p.Br, main_run->p.Bc);
    summary_ledger(&s, main_run->m);
    if (count_only) {
        summary_str(&s, "max_abs_err", "na");
        summary_str(&s, "dq_err", "na");
        summary_str(&s, "dk_err", "na");
        summary_str(&s, "dv_err", "na");
        summary_str(&s, "fd_max_err", "na");
    } else {
        summary_f64(&s, "max_abs_err", max3(main_run->err));
        summary_f64(&s, "dq_err", main_run->err[0]);
        summary_f64(&s, "dk_err", main_run->err[1]);
        summary_f64(&s, "dv_err", main_run->err[2]);
        if (fd_done)
            summary_f64(&s, "fd_max_err", fd_err);
        else
            summary_str(&s, "fd_max_err", "na");
    }
    summary_u64(&s, "tiles", main_run->io.tiles);
    summary_u64(&s, "skipped", main_run->io.skipped);
    summary_u64(&s, "closed_form_ok", closed_ok);
    if (count_only)
        summary_str(&s, "grad_ok", "na");
    else
        summary_u64(&s, "grad_ok", grad_ok);
    summary_run(&s, "std", &std, count_only);
    if (f1.m && main_run != &f1)
        summary_run(&s, "flash1", &f1, count_only);
    summary_print(&s, stdout);

    for (size_t a = 0; a < nr; a++) {
        attn_free(runs[a]->m, &runs[a]->t);
        mem_destroy(runs[a]->m);
        for (int x = 0; x < 3; x++)
            free(runs[a]->g[x]);
    }
    for (int x = 0; x < 4; x++)
        free(in[x]);
    return closed_ok && grad_ok ? 0 : 1;
}

LESSON_MAIN(lesson07_spec, lesson07_run)
