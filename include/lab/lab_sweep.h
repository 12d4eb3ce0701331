/* lab_sweep.h — sweeps of count-only forward passes: each point a configuration run on a fresh memory model with
 * no arithmetic, its counted ledger beside its closed form (attn_io_closed_form) and the paper's shapes, and the
 * points written as gnuplot-ready .dat files (plots/ draws them; the comment lines at the top name every column).
 *
 *   lab_sweep s = {.cfg = cfg, .progress = isatty(STDERR_FILENO) && !cfg->quiet, .total = 30};
 *   static const lab_case c = {ATTN_FLASH2, false, false, "flash2"};
 *   lab_point p[2];
 *   lab_sweep_measure(&s, &c, 4096, 64, 192 * 1024, 0, 0, &p[0], NULL);   // s.mismatches counts p != closed form
 *   lab_sweep_write(&s, "x.dat", "HBM accesses vs N", (const lab_case *[]){&c}, 1, p, 2, 2);
 */
#ifndef FLASHLAB_LAB_SWEEP_H
#define FLASHLAB_LAB_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attention.h"
#include "lab.h"

/* One curve of a sweep: an algorithm, masked or not, under its own block rule or FlashAttention-1's (the paper's
 * Bc = ⌈M/4d⌉, Br = min(Bc, d)). label names it in tables, .dat blocks and summary keys. */
typedef struct {
    attn_algo algo;
    bool causal, fa1_rule;
    const char *label;
} lab_case;

/* What one count-only forward pass counted, over all B*H heads, in elements unless named bytes. */
typedef struct {
    size_t N, d, M_bytes, Br, Bc;
    io_count io;
    uint64_t closed_rd, closed_wr, tiles, skipped;   /* the closed form's reads, writes and tiles */
    uint64_t closed_flops, closed_exps;              /* and its work (matmul + non-matmul FLOPs, exps) */
    uint64_t flops_mm;                               /* the closed form's matmul FLOPs (of flops) */
    uint64_t hbm_peak, flops, exps;                  /* peak HBM bytes allocated, FLOPs, exp() calls */
    double theta_std, theta_flash;   /* Nd + N² and N²d²/M (M in elements), constant 1, times B*H */
    bool in_range;                   /* d <= M <= Nd: where Theorem 2 and Proposition 3 speak */
    bool fits;                       /* the blocks' plan fits M; LAB_AXIS_BLOCK records a point that does not (M_bytes:
                                      * what it would need) and runs nothing */
} lab_point;

typedef struct {
    const cli_cfg *cfg;            /* dtype, B, H, threads, --out-dir; N, d, M come per point */
    size_t done, total, mismatches;   /* points measured, points planned, points != closed form */
    bool progress;                 /* a "\r" progress line on stderr */
    lab_t *watch;                  /* non-NULL: the --trace of this session follows every point run from now on */
} lab_sweep;

/* The blocks of one point (requests clamped to N), or one line naming the case and the point and exit 2 when there
 * are none or more than LAB_SWEEP_MAX_TILES tiles to walk. */
attn_params lab_sweep_plan(const lab_sweep *s, const lab_case *c, size_t N, size_t d, size_t M_bytes, size_t Br,
                           size_t Bc);
/* Plan and run one point (what and value name it on the progress line); keep (may be NULL) gets the model alive. */
void lab_sweep_measure(lab_sweep *s, const lab_case *c, size_t N, size_t d, size_t M_bytes, size_t Br, size_t Bc,
                       lab_point *out, mem_t **keep, const char *what, size_t value);
void lab_sweep_done(lab_sweep *s);   /* clears the progress line */

/* One axis swept, the others fixed: every value (outer) for every case (inner), the point of case a and value k at
 * pts[a*stride + k]. LAB_AXIS_BLOCK gives the value to the case's resident block (its rule's big one: flash1's Bc,
 * flash2's Br), the other min(value, d), within the fixed M, as the paper's Figure 2 (middle) varies the block size
 * inside the SRAM; blocks whose plan needs more than M are recorded as not fitting.
 * The fixed N, d, M are the ones the axis does not set; Br, Bc are requests (0: choose). pts NULL: plan every point
 * only (lab_sweep_plan), so a configuration that cannot run stops before any work is done. */
typedef enum { LAB_AXIS_N, LAB_AXIS_D, LAB_AXIS_M, LAB_AXIS_BLOCK } lab_axis;
void lab_sweep_axis(lab_sweep *s, const lab_case *const *cases, size_t ncases, lab_axis axis, const size_t *values,
                    size_t nvalues, size_t N, size_t d, size_t M_bytes, size_t Br, size_t Bc, lab_point *pts,
                    size_t stride);
/* A fresh count-only model after one point's forward pass (not counted in the sweep), for summary_ledger. */
mem_t *lab_sweep_model(const lab_sweep *s, const lab_case *c, size_t N, size_t d, size_t M_bytes, size_t Br,
                       size_t Bc);

uint64_t lab_point_elems(const lab_point *p);    /* reads + writes */
uint64_t lab_point_bytes(const lab_point *p);    /* reads + writes, bytes */
bool lab_point_exact(const lab_point *p);        /* counted == closed form: reads, writes, FLOPs, exps */
double lab_point_ratio(const lab_case *c, const lab_point *p);   /* elements / the algorithm's Θ shape */
/* MODELLED runtime, µs, on an A100 40GB's roofline (lab_roof.h): max(bytes / 1.555 TB/s, matmul FLOPs / 312 T + other
 * FLOPs / 19.5 T + exps / 2.44 T per s). *memory_bound (may be NULL): the bytes decide. */
double lab_point_model_us(const lab_point *p, bool *memory_bound);

/* A table of one axis, for people: the value (width w), the first case's elements, then for each case show[i] its
 * elements, ratio (with '*' outside Theorem 2's range) and blocks, and "=" when every case's point equals its
 * closed form ("MISMATCH" otherwise). The head names the columns (heads: show's names). */
void lab_sweep_table_head(FILE *o, const char *what, int w, const char *first, const char *const *heads, size_t n);
void lab_sweep_table_row(FILE *o, const char *value, int w, const lab_case *const *cases, size_t ncases,
                         const lab_point *pts, size_t stride, size_t k, const size_t *show, size_t nshow);
/* Create --out-dir with its parents (mkdir -p) unless it exists; one line and exit 3 when it cannot be. */
void lab_sweep_out_dir(const cli_cfg *cfg);
/* <out-dir>/<name>: a header naming the command and every column, then one block per case (row a of the points at
 * pts + a*stride, n points each), blocks apart by two blank lines for gnuplot's `index`. All or nothing (outfile.h):
 * a failed write is one line and exit 3, and no file (never a truncated one). The one place lessons write data. */
void lab_sweep_write(const lab_sweep *s, const char *name, const char *what, const lab_case *const *cases,
                     size_t ncases, const lab_point *pts, size_t stride, size_t n);

#endif
