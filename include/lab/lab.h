/* lab.h — what every lesson does around an algorithm, written once: the session (one trace stream over every memory
 * model, whether stdout is free for tables), the guards with one set of limits, seeded inputs, Tri Dao's accuracy
 * criterion (from verify.h), softmax runs, summary helpers and the exit status. The algorithms are the simulator's
 * (include/model). The other lab headers: lab_attn.h runs attention on a fresh memory model and compares ledgers,
 * lab_check.h holds runs to fp64 references, lab_show.h and lab_table.h print, lab_sweep.h sweeps and writes .dat.
 *
 *   int lesson04_run(const cli_cfg *cfg) {
 *       lab_t L = lab_begin(cfg);                           // L.say: not --quiet; L.show: and stdout is no trace
 *       lab_attn f = lab_attn_plan(cfg, ATTN_FLASH1, false, NULL);
 *       lab_guard_tiles(f.Tr * f.Tc * cfg->B * cfg->H, "flash1");
 *       lab_inputs in = lab_inputs_normal(cfg, 3);          // q, k, v ~ N(0, 1), rounded to --dtype
 *       lab_attn_open(&L, &f, &in); lab_attn_run(&L, &f);   // f.closed_ok: the ledger equals its closed form
 *       ...; summary_print(&s, stdout);
 *       return lab_end(&L, f.closed_ok);                    // FL_EXIT_OK, or FL_EXIT_CHECK when a check failed
 *   }
 */
#ifndef FLASHLAB_LAB_H
#define FLASHLAB_LAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"       // defines: cli_cfg, cli_trace_open
#include "softmax.h"   // defines: softmax_algo, softmax_probe, softmax_blocks, softmax_io
#include "summary.h"   // defines: summary_t
#include "trace.h"     // defines: trace_t
#include "verify.h"    // defines: ORACLE_TRIDAO_FACTOR, verify_tridao_bound

/* ---- limits: one set for every lesson -------------------------------------------------------------------------- */
#define LAB_MAX_TILES ((uint64_t)1 << 27)        /* tiles one lesson walks: more take minutes even when only counted */
#define LAB_SWEEP_MAX_TILES (LAB_MAX_TILES / 8)  /* tiles of one point of a sweep (lesson05 runs ~150 points) */
#define LAB_MAX_FLOPS 2e10                       /* FLOPs of real arithmetic: more take minutes (use --count-only) */
#define LAB_MAX_ELEMS ((size_t)1 << 27)          /* floats of host input per tensor: more need gigabytes */
#define LAB_WALK_MAX_TILES 16                    /* the map beside every event (TILEWALK_FULL): grids up to 4 x 4 */
#define LAB_BRIEF_MAX_TILES 64                   /* one line per tile (TILEWALK_BRIEF) */
#define LAB_MAP_MAX_TILES 1024                   /* a tile map printed after the pass */

/* Stop with one line and exit 2 when `tiles` (all runs of the lesson together) exceed LAB_MAX_TILES. */
void lab_guard_tiles(uint64_t tiles, const char *what);
/* The same for real arithmetic: flops (all runs and references) above LAB_MAX_FLOPS, unless --count-only. */
void lab_guard_flops(const cli_cfg *cfg, double flops, const char *what);
/* The same for host memory: rows x cols floats of input above LAB_MAX_ELEMS (or overflowing), unless --count-only. */
void lab_guard_elems(const cli_cfg *cfg, size_t rows, size_t cols, const char *what);

/* ---- the session ----------------------------------------------------------------------------------------------- */
typedef struct {
    const cli_cfg *cfg;
    bool say;         /* prose and results: not --quiet */
    bool show;        /* tables, maps and walks too: say, and the trace does not write to stdout */
    trace_t *trace;   /* the --trace stream once opened; it follows each model given to lab_watch */
} lab_t;

lab_t lab_begin(const cli_cfg *cfg);   /* lab_t L = lab_begin(cfg); */
/* The trace follows m from now on (opened on m the first time): one stream, one header, over every run. */
void lab_watch(lab_t *L, mem_t *m);
/* Close the trace (later runs are not traced). lab_end does it too. */
void lab_unwatch(lab_t *L);
/* printf to stdout, only when L->say; the same wrapped at 100 columns (fl_print_wrapped), each line after indent. */
void lab_say(const lab_t *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lab_say_wrapped(const lab_t *L, const char *indent, const char *text);
/* Close the trace; FL_EXIT_OK when ok, else FL_EXIT_CHECK (a ledger, an error or a comparison failed). */
int lab_end(lab_t *L, bool ok);

/* ---- softmax runs ---------------------------------------------------------------------------------------------- */
/* The blocks for softmax a over the B·H rows of N of cfg (--block-rows/--block-cols kept, the rest fitted to M by
 * softmax_choose_blocks; exit 2 with its reason when nothing fits), its closed form into cf, and the guards for its
 * passes' tiles (what names it) and the R·N floats of input. */
softmax_blocks lab_softmax_plan(const cli_cfg *cfg, softmax_algo a, const char *what, softmax_io *cf);
/* Softmax of the R x N rows x (floats, stored as dt) into y on a fresh model of M bytes (--count-only from L). traced:
 * the lesson's trace covers this model until the pass ends, then closes (lab_unwatch). y untouched under --count-only. Returns the model, its
 * ledger intact (x and y freed), for the caller to read and mem_destroy. probe: online softmax only (NULL: none). */
mem_t *lab_softmax(lab_t *L, bool traced, softmax_algo a, dtype_t dt, size_t M, size_t R, size_t N, size_t Br,
                   size_t Bc, const float *x, float *y, softmax_probe probe, void *ctx);
/* max over the R rows x of |y - softmax(row)| in double (ref_softmax), NaN-propagating; x as stored (rounded to dt). */
double lab_softmax_err(const float *x, const float *y, size_t R, size_t N, dtype_t dt);

/* ---- inputs ---------------------------------------------------------------------------------------------------- */
/* Up to four (B, N, H, d) tensors q, k, v, dout ~ N(0, 1) from --seed, each rounded to --dtype (what HBM holds, so
 * references see the same values). x[i] is NULL past count and for every tensor under --count-only. */
typedef struct {
    float *x[4];   /* q, k, v, dout */
    size_t n;      /* elements of each: B*N*H*d */
} lab_inputs;
lab_inputs lab_inputs_normal(const cli_cfg *cfg, int count);
void lab_inputs_free(lab_inputs *in);

/* ---- accuracy: Tri Dao's criterion, named once in verify.h (ORACLE_TRIDAO_FACTOR, verify_tridao_bound) ---------- */
/* Entry by entry (gradients, where entries are differences of large terms): the largest |got_i - ref_i| over its
 * bound ORACLE_TRIDAO_FACTOR·err_lowp + slack·mag_i, +inf once a NaN appears; <= 1 passes. lowp is the materialized
 * implementation's result (compared in float, as stored); *err and *err_lowp get max |got - ref|, max |lowp - ref|. */
double lab_tridao_ratio(const double *ref, const float *got, const double *lowp, const double *mag, size_t n,
                        double slack, double *err, double *err_lowp);
/* The largest of x[0..n), NaN when any is NaN (an error that cannot hide behind fmax). */
double lab_max_nan(const double *x, size_t n);
/* err <= tol, and never for NaN. */
bool lab_within(double err, double tol);
/* Largest |got - ref| over n, NaN if got holds a NaN (verify_max_abs) or either is NULL (nothing computed). */
double lab_max_abs(const double *ref, const float *got, size_t n);

/* ---- summary helpers ------------------------------------------------------------------------------------------- */
/* key=v when measured, key=na when not (--count-only computes nothing). */
void lab_sum_f64(summary_t *s, const char *key, bool measured, double v);
void lab_sum_u64(summary_t *s, const char *key, bool measured, uint64_t v);
/* prefix_key=v: "fa1", "Br" gives fa1_Br. */
void lab_sum_u64_prefixed(summary_t *s, const char *prefix, const char *key, uint64_t v);
void lab_sum_f64_prefixed(summary_t *s, const char *prefix, const char *key, bool measured, double v);
/* A ledger's keys under a prefix, in this order, those asked for: LAB_KEY_ELEMS hbm_read_elems, hbm_write_elems;
 * LAB_KEY_BYTES hbm_read_bytes, hbm_write_bytes; LAB_KEY_SRAM sram_peak_bytes; LAB_KEY_HBM hbm_peak_bytes;
 * LAB_KEY_WORK flops, exps.  lab_sum_ledger(&s, "std", m, LAB_KEYS_ALL) writes std_hbm_read_elems=... */
/* Several u64 keys at once: lab_sum_kv(&s, {"Tr", Tr}, {"Tc", Tc}) writes Tr=... Tc=... in that order. */
typedef struct {
    const char *key;
    uint64_t v;
} lab_kv;
void lab_sum_kvs(summary_t *s, const lab_kv *kv, size_t n);
#define lab_sum_kv(s, ...) \
    lab_sum_kvs((s), (const lab_kv[]){__VA_ARGS__}, sizeof((const lab_kv[]){__VA_ARGS__}) / sizeof(lab_kv))
/* The same for doubles (summary_f64: na for NaN): lab_sum_fkv(&s, {"gpt2_flash_gb", 8.7}, ...). */
typedef struct {
    const char *key;
    double v;
} lab_fkv;
void lab_sum_fkvs(summary_t *s, const lab_fkv *kv, size_t n);
#define lab_sum_fkv(s, ...) \
    lab_sum_fkvs((s), (const lab_fkv[]){__VA_ARGS__}, sizeof((const lab_fkv[]){__VA_ARGS__}) / sizeof(lab_fkv))
enum { LAB_KEY_ELEMS = 1, LAB_KEY_BYTES = 2, LAB_KEY_SRAM = 4, LAB_KEY_HBM = 8, LAB_KEY_WORK = 16, LAB_KEYS_ALL = 31 };
void lab_sum_ledger(summary_t *s, const char *prefix, const mem_t *m, unsigned keys);

#endif
