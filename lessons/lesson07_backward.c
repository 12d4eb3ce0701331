/* lesson07 — the backward pass with recomputation: standard attention against FlashAttention.
 *
 * What it teaches. Training needs dQ, dK, dV from dO. Standard attention (Algorithm 3) reads back the P its forward
 * stored and sends dP and dS, two more N x N matrices, through HBM. FlashAttention (Algorithm 4; FlashAttention-2,
 * Algorithm 2) stores none: it recomputes each tile P_ij = exp(S_ij - L_i) from Q_i, K_j and one number per row saved
 * by the forward (L = m + log l, or m and l), and gets D_i = sum_j P_ij dP_ij from D = rowsum(dO o O). It pays with
 * FLOPs (S twice) and dQ accumulated in HBM; it wins no O(N^2) traffic or memory. Heads run in parallel, never key
 * blocks j: each j adds into every dQi. Algorithm lines: Alg.3 lines 1-5 (a ledger phase each), Alg.4 lines 5-24,
 * FA2 Alg.2 lines 3-18 (sim/model/attn_<algo>.c). Checks: ledgers = closed forms; gradients against fp64 by Tri
 * Dao's criterion; the reference against finite differences; peak HBM bytes over N.
 * Run:  ./lesson07  (standard beside flash2: N=256, d=64, fp16, M=192 KiB)   ./lesson07 --algo all --causal
 *       ./lesson07 -N 65536 --count-only --quiet      counts only, no arithmetic
 * Summary: the FlashAttention backward's ledger (or standard's with --algo standard), max_abs_err over dQ, dK, dV,
 *   std_* (standard's backward), flash1_* (with --algo all), fd_max_err, closed_form_ok, grad_ok.
 */
#include <math.h>
#include <string.h>

#include "lab_attn.h"   // defines: lab_attn_plan, lab_attn_go, lab_sum_run
#include "lab_check.h"  // defines: lab_attn_grads_check, lab_fd_check
#include "lab_show.h"   // defines: lab_attn_print_plan, lab_attn_print_map, lab_attn_peak_table
#include "lab_table.h"  // defines: lab_table_ledgers, lab_table_phases
#include "lessons.h"
#include "util.h"

/* Tri Dao's criterion entry by entry, plus SLACK_ULPS roundings of the sums behind the entry (lab_attn_grads_check).
 * Over 60 seeds of the test suite's shapes the largest multiple needed was 0.46. */
#define SLACK_ULPS 2.0
/* Central differences in double at h = 1e-5: truncation ~h^2/6 |f'''| plus cancellation ~1e-16 |f| / h stay below
 * ~2e-8 relative (d = 1 .. 128, N <= 1000); 1e-6 keeps a margin of 50, and a wrong term would be off by O(|g|). */
#define FD_STEP 1e-5                    /* h */
#define FD_TOL 1e-6                     /* of max |fd - reference| / (1 + |fd|) */
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

int lesson07_run(const cli_cfg *cfg)
{
    size_t N = cfg->N, d = cfg->d, heads = cfg->B * cfg->H;
    dtype_t dt = cfg->dtype;
    lab_t L = lab_begin(cfg);
    L.say = L.show;   /* a trace on stdout leaves room for nothing else */

    /* Which backward passes: standard always (it is the baseline), and the FlashAttention one(s) asked for. */
    bool all = !strcmp(cfg->algo, "all");
    lab_attn std = lab_attn_plan(cfg, ATTN_STANDARD, true, NULL), f1 = {0}, f2 = {0}, *runs[3] = {&std};
    size_t nr = 1;
    if (all || !strcmp(cfg->algo, "flash1"))
        f1 = lab_attn_plan(cfg, ATTN_FLASH1, true, NULL), runs[nr++] = &f1;
    if (all || !strcmp(cfg->algo, "flash2"))
        f2 = lab_attn_plan(cfg, ATTN_FLASH2, true, NULL), f2.api = true, runs[nr++] = &f2;   /* flash_attn_func */
    lab_attn *main_run = runs[nr - 1];
    for (size_t a = 0; a < nr; a++)   /* standard walks the whole grid six times */
        lab_guard_tiles(6 * (uint64_t)runs[a]->Tr * runs[a]->Tc * heads, attn_algo_name(runs[a]->p.algo));
    lab_guard_flops(cfg, 2.0 * (double)N * N * d * heads * (14.0 * (double)nr + 20.0), "forward, backward, references");

    lab_say(&L, "lesson07 — %s\n\nQ, K, V, dO: B=%zu x N=%zu x H=%zu x d=%zu, %s in HBM%s. SRAM: M = %zu bytes. Loss: "
            "sum(O o dO).\nBlocks from each backward's SRAM plan (its forward fits in what the backward needs):\n",
            lesson07_spec.title, cfg->B, N, cfg->H, d, dtype_name(dt), cfg->causal ? ", causal" : "", cfg->M_bytes);
    for (size_t a = 0; a < nr; a++)
        lab_attn_print_plan(&L, runs[a]);
    lab_say(&L, "\n");

    /* Inputs q, k, v, dO ~ N(0, 1) in the dtype. Each run: forward, ledger zeroed, the backward alone (traced). */
    lab_inputs in = lab_inputs_normal(cfg, 4);
    for (size_t a = 0; a < nr; a++) {
        lab_attn *r = runs[a];
        r->map = r->p.algo != ATTN_STANDARD && cfg->causal && heads == 1 && r->Tr <= MAP_MAX && r->Tc <= MAP_MAX
                     ? tilemap_create(r->Tr, r->Tc) : NULL;
        lab_attn_go(&L, r, &in);
    }
    lab_unwatch(&L);

    /* ---- what the forward passes kept for the backward ---------------------------------------------------------- */
    char b[32];
    lab_say(&L, "What each forward pass left in HBM for its backward pass:\n  standard  P = softmax(S), N x N per head "
            "in %s: %s\n", dtype_name(dt), fmt_bytes(hbm_numel(std.t.P) * dtype_size(dt), b, sizeof b));
    if (f1.m)
        lab_say(&L, "  flash1    m and l, Alg.1's running max and sum, N each in fp32: %s\n",
                fmt_bytes(2 * hbm_numel(f1.t.m) * 4, b, sizeof b));
    if (f2.m)
        lab_say(&L, "  flash2    L = m + log(l), the log-sum-exp, N in fp32: %s\n",
                fmt_bytes(hbm_numel(f2.t.lse) * 4, b, sizeof b));
    lab_say(&L, "  With L, any tile of P comes back exactly: P_ij = exp(S_ij - L_i), S_ij = scale Q_i K_j^T (m and l\n"
            "  give the same: P_ij = exp(S_ij - m_i) / l_i). And D_i = sum_j P_ij dP_ij, the row sum softmax's\n"
            "  gradient needs, equals rowsum(dO_i o O_i), because O_i = sum_j P_ij V_j: known before any tile.\n\n");

    /* ---- standard attention's backward, per phase ---------------------------------------------------------------- */
    lab_say(&L, "Standard attention backward (Algorithm 3), every line its own pass through HBM:\n"
            "  line 1  dV = P^T dO          line 2  dP = dO V^T (N x N, written)\n  line 3  D = rowsum(P o dP), dS = P o "
            "(dP - D) (N x N, written; %s)\n  line 4  dQ = scale dS K      line 5  dK = scale dS^T Q\n",
            std.io.ds_passes == 1 ? "a row of P fits in SRAM (Tc = 1),\n          so D and dS come from one pass over "
            "its tiles" : "a row of P does not fit in SRAM\n          (Tc > 1), so D takes one pass over the row's tiles "
            "and dS a second");
    const char *const nn[] = {"P", "dP", "dS", NULL};   /* per phase; N x N tensors apart, they are standard's cost */
    uint64_t quad = L.say ? lab_table_phases(&std, nn) : 0;
    lab_say(&L, "  N x N traffic: %llu elements = %.0f N^2%s (P read %d times, dP written once and read %s, dS\n"
            "  written once and read twice)\n\n", (unsigned long long)quad, (double)quad / (double)((uint64_t)N * N *
            heads), heads > 1 ? " per head" : "", 1 + std.io.ds_passes, std.io.ds_passes == 1 ? "once" : "twice");

    /* ---- the FlashAttention backward(s) ---------------------------------------------------------------------------- */
    if (nr > 1)
        lab_say(&L, "FlashAttention backward: outer loop over key blocks j (Kj, Vj, and dKj, dVj accumulating on "
                "chip),\ninner loop over query blocks i; P is recomputed per tile, dQi is read, updated and written "
                "back:\n");
    if (f1.m)
        lab_say(&L, "  flash1 (Alg.4): line 5 zeroes dQ, dK, dV in HBM; line 10 loads Qi, Oi, dOi, dQi, li, mi per "
                "tile;\n    line 13 P = exp(S - mi) / li; line 19 Di = rowsum(dOi o Oi) is recomputed on every tile.\n");
    if (f2.m)
        lab_say(&L, "  flash2 (FA2 Alg.2): lines 3-4 zero dQ and write D = rowsum(dO o O) once (phase backward_D);\n"
                "    line 9 loads Qi, dOi, Li, Di per tile (O is not needed any more); line 11 P = exp(S - Li).\n");
    if (nr > 1)
        lab_say(&L, "  Threads run over heads (b, h) only: every key block j adds into every dQi, so running j in "
                "parallel\n  would race on dQ (FlashAttention-2's CUDA code does, with atomic adds into an fp32 dQ "
                "accumulator).\n");
    for (size_t a = 1; a < nr; a++) {
        lab_say(&L, "  %s: %llu tiles computed, %llu skipped by the causal mask%s\n", attn_algo_name(runs[a]->p.algo),
                (unsigned long long)runs[a]->io.tiles, (unsigned long long)runs[a]->io.skipped,
                runs[a]->io.skipped ? " (no loads, no FLOPs)" : "");
        lab_attn_print_map(&L, runs[a], ", rows: query blocks i, columns: key blocks j", false);
    }
    lab_say(&L, "%sLedgers of the backward passes side by side (elements over all heads; FLOPs by mem.h):\n",
            nr > 1 ? "\n" : "");
    if (L.say)
        lab_table_ledgers(&(lab_table){.indent = "  ", .label_w = 8, .cell_w = 12, .first = " | ", .sep = " | "},
                          (const lab_attn *const *)runs, nr);
    if (nr > 1)
        lab_say(&L, "  FlashAttention moves no N x N matrix; it pays with dQ, read and written once per computed tile.\n"
                "  FLOPs: %llu against standard's %llu: S = Q K^T is computed a second time (5 matrix products\n"
                "  per tile instead of 4)%s.\n", (unsigned long long)mem_flops(main_run->m, NULL),
                (unsigned long long)mem_flops(std.m, NULL), main_run->io.skipped ? ";\n  but the tiles the causal "
                "mask skips cost nothing, and standard attention computes every tile" : "");
    for (size_t a = 1; a < nr && L.say; a++) {
        printf("  %s per phase:\n", attn_algo_name(runs[a]->p.algo));
        lab_table_phases(runs[a], nn);
    }
    lab_say(&L, "\n");

    /* ---- gradients against the double-precision reference, and the reference against finite differences ------ */
    bool grad_ok = true, fd_done = false;
    double fd_err = NAN, err[3][3] = {{NAN, NAN, NAN}, {NAN, NAN, NAN}, {NAN, NAN, NAN}};
    if (!cfg->count_only) {
        lab_say(&L, "Gradients against the double-precision reference (max |error| over all heads). Tri Dao's\n"
                "method: each entry may err %.0fx the max error of a framework's materialized %s backward (S, P,\n"
                "dP, dS stored in %s), plus %.0f roundings of the sums that make the entry: one of %s (sqrt(Tc)\n"
                "for FlashAttention's dQ, rounded at each of its Tc read-modify-writes) and sqrt(N) of fp32 for\n"
                "the float accumulations. The last column is the worst entry's error over its bound (<= 1 passes):\n"
                "  %-9s %-4s %12s %12s %12s\n", ORACLE_TRIDAO_FACTOR, dtype_name(dt), dtype_name(dt), SLACK_ULPS,
                dtype_name(dt), "algorithm", "grad", "max |err|", "framework", "err/bound");
        grad_ok = lab_attn_grads_check(&L, (const lab_attn *const *)runs, nr, &in, SLACK_ULPS, err);
        if ((fd_done = 2.0 * 3 * FD_SAMPLES * 4.0 * (double)N * N * d <= FD_MAX_FLOPS)) {   /* on head (0, 0) */
            fd_err = lab_fd_check(&L, &in, main_run->g, attn_algo_name(main_run->p.algo), FD_SAMPLES, FD_STEP, FD_TOL);
            grad_ok = grad_ok && fd_err <= FD_TOL;
        } else {
            lab_say(&L, "\nFinite differences: not run (N^2 d too large for %d reference forwards; try N <= 1024)\n",
                    6 * FD_SAMPLES);
        }
        lab_say(&L, "\n");
    } else {
        lab_say(&L, "Gradients: not computed (--count-only)\n\n");
    }

    /* ---- peak HBM bytes over N: O(N^2) against O(N) (count-only: allocations are real, storage is not) -------- */
    lab_say(&L, "Peak HBM bytes allocated during the backward pass (every tensor alive at once), B=%zu, H=%zu, %s:\n",
            cfg->B, cfg->H, dtype_name(dt));
    lab_attn_peak_table(&L, (const lab_attn *const *)runs, nr, PEAK_SIZES);
    lab_say(&L, "  Standard attention holds P, dP and dS (3 N^2 per head) besides the N x d tensors: doubling N\n"
            "  quadruples it. FlashAttention adds only N numbers per head (L and D, or m and l): doubling N\n"
            "  doubles it.\n\n");

    bool closed_ok = std.closed_ok && (!f1.m || f1.closed_ok) && (!f2.m || f2.closed_ok);
    lab_say(&L, "Ledgers equal their closed forms: %s. Gradients: %s.\n\n", closed_ok ? "yes" : "NO",
            cfg->count_only ? "not computed" : grad_ok ? "ok" : "NOT WITHIN TOLERANCE");

    summary_t s;
    double *e = err[nr - 1];
    lab_sum_begin(&s, main_run, attn_algo_name(main_run->p.algo));
    lab_sum_f64(&s, "max_abs_err", !cfg->count_only, lab_max_nan(e, 3));
    lab_sum_f64(&s, "dq_err", !cfg->count_only, e[0]);
    lab_sum_f64(&s, "dk_err", !cfg->count_only, e[1]);
    lab_sum_f64(&s, "dv_err", !cfg->count_only, e[2]);
    lab_sum_f64(&s, "fd_max_err", fd_done, fd_err);
    lab_sum_kv(&s, {"tiles", main_run->io.tiles}, {"skipped", main_run->io.skipped}, {"closed_form_ok", closed_ok});
    lab_sum_u64(&s, "grad_ok", !cfg->count_only, grad_ok);
    for (size_t a = 0; a < nr; a++) {   /* standard's keys std_*, and flash1's beside flash2 (--algo all) */
        const char *prefix = a == 0 ? "std" : runs[a] == &f1 && main_run != &f1 ? "flash1" : NULL;
        if (!prefix)
            continue;
        lab_sum_run(&s, prefix, runs[a], LAB_KEYS_ALL);
        lab_sum_u64_prefixed(&s, prefix, "closed_form_ok", runs[a]->closed_ok);
        lab_sum_f64_prefixed(&s, prefix, "max_abs_err", !cfg->count_only, lab_max_nan(err[a], 3));
    }
    summary_print(&s, stdout);

    for (size_t a = 0; a < nr; a++)
        lab_attn_free(runs[a]);
    lab_inputs_free(&in);
    return lab_end(&L, closed_ok && grad_ok);
}

LESSON_MAIN(lesson07_spec, lesson07_run)
