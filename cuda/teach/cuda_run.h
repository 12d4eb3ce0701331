/* cuda_run.h — one pass of the teaching kernels the way lesson08 shows it, written once: the counting twin, then
 * the plain kernels, each checked against the fp64 reference, then timed; and the printing of a plan, of the two
 * ledgers side by side and of the run, with the summary's GPU keys.
 *
 *   cuda_run g;
 *   rc = cuda_run_gpu(&p, &pl, backward, seed, &g, err, sizeof err);   // FL_EXIT_USAGE: no GPU or too small a one
 *   cuda_print_ledgers(&sim, &g.gpu, true);
 *   cuda_print_run(&p, &g, "H100");
 *   cuda_summary_gpu(&s, &sim, &g, true, "H100");
 *
 * Plain C on the runner's API (cuda_attn.h): it links against the GPU runner and the emulator alike.
 */
#ifndef FLASHLAB_CUDA_RUN_H
#define FLASHLAB_CUDA_RUN_H

#include "cuda_attn.h"
#include "summary.h"   // defines: summary_t
#include "trace.h"     // defines: trace_t

/* Rows per head (and heads) compared with the double reference once a full check of the forward would be slow. */
#define CUDA_RUN_CHECK_ROWS 64
#define CUDA_RUN_CHECK_HEADS 4
/* The backward's reference (ref_attention_backward, every row of a head) costs ~10 N^2 d flops a head on a CPU
 * core, ~1 s at 2^27: up to that N^2 d it checks CUDA_RUN_GRAD_HEADS heads (in parallel), beyond it the gradients
 * are not compared (na; the CUDA suites compare them on smaller shapes). */
#define CUDA_RUN_GRAD_MAX_N2D ((double)(1u << 27))
#define CUDA_RUN_GRAD_HEADS 4

typedef struct {
    bool backward;
    cuda_counts gpu;          /* the counting twin's counters */
    cuda_check_stats st[2];   /* forward: [counting] O (and L) against the reference */
    cuda_grad_stats gs[2];    /* backward: [counting] dQ, dK, dV against the reference */
    bool checked;             /* outputs were compared (a backward beyond CUDA_RUN_GRAD_MAX_N2D is not) */
    double ms;                /* median of reps passes of the plain kernels */
    int reps;
    uint64_t dev_bytes;
} cuda_run;

/* Inputs from seed (cuda_attn_inputs_dout), a session, the counting twin then the plain kernels of the pass (a
 * backward after one plain forward), each checked, then timed. 0 or an exit code with one line in err. */
int cuda_run_gpu(const attn_params *p, const cuda_attn_plan *pl, bool backward, uint64_t seed, cuda_run *g,
                 char *err, size_t errlen);
bool cuda_run_ok(const cuda_run *g);           /* every comparison made passed */
double cuda_run_max_err(const cuda_run *g);    /* largest |error| of the outputs compared; NaN when none were */

/* The kernels of the pass: grid, threads, shared memory and the plan's buffers at their offsets. */
void cuda_print_plan(const cuda_attn_plan *pl, bool backward);
/* The simulator's ledger beside the kernels' counters, tensor by tensor (have: the kernels ran). */
void cuda_print_ledgers(const cuda_counts *sim, const cuda_counts *gpu, bool have);
/* The run: counters EQUAL or not, the comparisons with their tolerances, the time and TFLOP/s. */
void cuda_print_run(const attn_params *p, const cuda_run *g, bool match);
/* --trace: each kernel's launch as a meta line (name, phase, grid, blocks, threads, shared memory). */
void cuda_trace_kernels(trace_t *tr, const cuda_attn_plan *pl, bool backward);
/* gpu_rd_elems, gpu_wr_elems, counters_match, gpu_ms, gpu_bytes, max_abs_err, device ("na" for what did not run). */
void cuda_summary_gpu(summary_t *s, const cuda_run *g, bool have, bool match, const char *device);

#endif
