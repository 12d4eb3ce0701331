/* l2_ncu.h — the L2 model (l2.h) held to what Nsight Compute measured: the recorded tables `make ncu` writes
 * (cuda/tools/ncu.sh: one row per kernel of one forward pass, the simulator's bytes beside dram__bytes_read.sum and
 * dram__bytes_write.sum), and the model's prediction for one forward pass of the teaching kernels.
 *
 *   l2_ncu_table t;  l2_ncu_load("plots/data/ncu_NVIDIA_H100_2026-12-06.dat", &t, err, sizeof err);
 *   attn_params p = {.algo = t.row[0].algo, .N = t.row[0].N, .d = t.d, .B = t.B, .H = t.H};
 *   l2_kernel_result k[L2_MAX_KERNELS];  int n = l2_predict_forward(&c, &p, k);
 *   bool ok = l2_within(k[0].io.dram_rd, t.row[0].dram_rd, L2_NCU_TOL, 0);
 *   l2_ncu_free(&t);
 */
#ifndef FLASHLAB_L2_NCU_H
#define FLASHLAB_L2_NCU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attention.h"
#include "l2.h"

/* How close a prediction must come: 15% of the measured bytes; writes also pass within 1 MB (what a kernel leaves
 * dirty in a 50 MB L2 is a few MB either way, and 15% of nothing is nothing). */
#define L2_NCU_TOL 0.15
#define L2_NCU_WR_SLACK 1000000
/* Forward passes whose ledger moves more than this many bytes are simulated on a sample of the addresses
 * (l2_config.sample): a few seconds each on one core, within a few percent of the whole run (docs/l2.md). */
#define L2_EXACT_BYTES ((uint64_t)1 << 30)

typedef struct {
    size_t N;
    attn_algo algo;
    char kernel[24];           /* "v01_scores" */
    size_t Br, Bc;
    uint64_t sim_rd, sim_wr;   /* the simulator's ledger for the kernel's phase, bytes */
    uint64_t dram_rd, dram_wr; /* measured */
} l2_ncu_row;

typedef struct {
    char device[64];           /* "NVIDIA H100 80GB HBM3", from the first comment line */
    char date[16];             /* "2026-12-06" */
    size_t d, B, H;            /* from "command per point: ... once ALGO N d B H" */
    l2_ncu_row *row;           /* one per kernel (the "all" totals are left out), in file order */
    size_t n;
} l2_ncu_table;

/* 0, or -1 with one line in err (a file that cannot be read, a row that does not parse). */
int l2_ncu_load(const char *path, l2_ncu_table *t, char *err, size_t errlen);
void l2_ncu_free(l2_ncu_table *t);

typedef struct {
    char name[24];
    uint64_t blocks, resident;
    l2_count io;               /* ledger bytes and predicted DRAM bytes of the kernel, all tensors */
} l2_kernel_result;

/* One forward pass of p's algorithm as the teaching kernels run it on c's GPU: blocks chosen as cuda_bench
 * chooses them (M = c->smem_optin, fp32; p->Br, p->Bc set here), count-only, with the L2 attached. The sample is
 * c->sample, or when that is 0 the smallest that keeps the simulated bytes under L2_EXACT_BYTES. Returns how many
 * kernels; stops with one line (exit 2) when the shape cannot be planned. */
int l2_predict_forward(const l2_config *c, attn_params *p, l2_kernel_result *out);
unsigned l2_sample_for(const attn_params *p);

/* |pred - meas| <= tol * meas, or <= slack bytes. */
bool l2_within(uint64_t pred, uint64_t meas, double tol, uint64_t slack);
double l2_rel_err(uint64_t pred, uint64_t meas);   /* (pred - meas) / meas; 0 when both are 0 */

#endif
