/* lab_l2.h — the L2 model (include/model/l2.h, docs/l2.md) in the lessons: what DRAM would move for the ledger a
 * lesson counted, and every teaching kernel's predicted DRAM bytes beside what Nsight Compute measured.
 *
 *   lab_l2_show(&L, (const lab_attn *[]){&rs, &rf}, 2);   // --l2 GPU: beside the ledger, DRAM bytes per tensor
 *   lab_l2_sweep(&L, Ns, nN);                               // lesson05 --l2: ledger and DRAM bytes against N
 *   int rc = lab_l2_report(stdout, "H100", NULL, NULL);   // every kernel and N: ledger, predicted, measured, error
 *   if (cfg->l2) return lab_l2_lesson(cfg);                // lesson08 --l2 H100: the report and a summary line
 *
 * Both replay a count-only forward pass on a memory model of their own with the L2 attached, so the lesson's own
 * ledgers and closed forms stay the ones it counted without an L2.
 */
#ifndef FLASHLAB_LAB_L2_H
#define FLASHLAB_LAB_L2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "l2_ncu.h"     // defines: l2_ncu_table, l2_predict_forward, L2_NCU_TOL, L2_NCU_WR_SLACK
#include "lab_attn.h"   // defines: lab_attn

/* --l2 (cfg->l2; nothing when NULL): each run's forward pass replayed through that GPU's L2, its requests scheduled
 * as the CUDA teaching kernels' grids issue them (l2_attn_kernels); per tensor the ledger's bytes beside the
 * predicted DRAM bytes, and why they differ. Prints only when L->show (tables on stdout). */
void lab_l2_show(const lab_t *L, const lab_attn *const *runs, size_t n);
/* --l2 in a sweep (lesson05): for each Ns[k], standard, flash1 and flash2 planned for cfg's d, M, dtype and heads,
 * count-only, their ledger's bytes read + written beside the DRAM bytes predicted, and the ratio. When L->show. */
void lab_l2_sweep(const lab_t *L, const size_t *Ns, size_t nN);

/* A row of a recorded table the model misses: what holds instead (lo <= predicted / measured <= hi), and why. */
typedef struct {
    const char *gpu, *kernel;   /* "H100", "v02_flash1" */
    size_t d, H, N;             /* the table's shape and the row's N */
    bool rd;                    /* the reads miss (else the writes) */
    double lo, hi;
    const char *why;            /* one line; docs/l2.md, "Where the model misses", says more */
} lab_l2_miss;
/* The listed miss of that row of a table of shape d, H, or NULL. */
const lab_l2_miss *lab_l2_known_miss(const char *gpu, const char *kernel, size_t d, size_t H, size_t N, bool rd);

/* The repository's Nsight Compute table of a GPU's teaching kernels (a path from the repository root: plots/data),
 * or NULL when none was recorded on it. gpu: a preset name, any case. lab_l2_table is lesson08's shape (d = 64,
 * B = 1, H = 16); lab_l2_table_other(gpu, i) the i-th table of another shape, measured after the model was fitted
 * (docs/l2.md, "A configuration never fitted"), or NULL past the last. */
const char *lab_l2_table(const char *gpu);
const char *lab_l2_table_other(const char *gpu, size_t i);
/* The preset a table was recorded on, from its device name ("NVIDIA H100 80GB HBM3" -> "H100"), or NULL. */
const char *lab_l2_gpu_of(const char *device);

#define LAB_L2_MAX_N 16
typedef struct {
    const char *table;          /* an ncu table: its shape, its rows, its measurements; NULL: lab_l2_table(gpu) */
    bool predict_only;          /* no table: the shape below, nothing measured */
    size_t d, B, H;             /* with predict_only (0: lesson08's, d = 64, B = 1, H = 16) */
    size_t N[LAB_L2_MAX_N], nN; /* with predict_only (nN 0: 1024, 2048, ..., 16384) */
    bool skip[ATTN_NALGOS];     /* algorithms left out */
    unsigned sample;            /* l2_config.sample: 1 in `sample` chunks simulated (0: chosen by size) */
    FILE *dat;                  /* figure 10's rows (plots/fig10_l2.gp), or NULL */
} lab_l2_opts;

typedef struct {
    size_t rows;                /* kernel rows printed */
    size_t measured, rd_ok, wr_ok;   /* rows with a measurement; of them, reads and writes within the bounds */
    size_t known;               /* reads or writes outside the bounds, listed (lab_l2_known_miss) and within its band */
    size_t unexplained;         /* outside the bounds and not listed, or listed and outside its band */
    size_t stale;               /* listed as a miss but within the bounds: the list is out of date */
    double rd_worst, wr_worst;  /* largest |relative error| (writes: outside the 1 MB slack) */
    size_t N_max;               /* the largest N reported */
    uint64_t ledger_rd, ledger_wr, pred_rd, pred_wr;   /* bytes summed over every row */
    uint64_t meas_rd, meas_wr;  /* the same over the measured rows */
} lab_l2_tally;

/* One line per kernel (standard's three, flash1, flash2) and N of a forward pass of the CUDA teaching kernels
 * (fp32, blocks as cuda_bench chooses them for the GPU's shared memory): the ledger, the predicted DRAM bytes and,
 * from the table, the measured ones, the error and a verdict (ok; MISS, known: why; MISS, unexplained). gpu: a
 * preset or a size (l2_config_parse), or NULL for the table's own GPU. o NULL: the recorded table of gpu, or for a
 * GPU without one lesson08's shape predicted. t (may be NULL) gets the tally. Returns FL_EXIT_OK, or FL_EXIT_CHECK
 * when a row is unexplained or stale. Bad input (an unknown GPU, an unreadable table): one line, exit 2. */
int lab_l2_report(FILE *out, const char *gpu, const lab_l2_opts *o, lab_l2_tally *t);

/* A lesson's L2 part, no GPU needed (lesson08 --l2 GPU): lab_l2_report(stdout, cfg->l2, NULL, ...) (nothing under
 * --quiet), then the summary line: the largest N and the table's shape, algo=all, the ledger's bytes summed over the
 * rows, and l2, rows, measured, reads_within, writes_within, known_misses, unexplained, stale, dram_pred_read_bytes,
 * dram_pred_write_bytes, dram_meas_read_bytes, dram_meas_write_bytes (na without a table), worst_read_err,
 * worst_write_err. Returns lab_l2_report's status. */
int lab_l2_lesson(const cli_cfg *cfg);

#endif
