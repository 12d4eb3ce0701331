/* cli.h — the command line every lesson shares, parsed once here so no lesson copies a main().
 *
 *   static const cli_spec spec = {.name = "lesson03", .title = "tiled QK^T V", .defaults = {.N = 8, .d = 4, ...}};
 *   int main(int argc, char **argv) { return cli_main(&spec, argc, argv, lesson03_run); }
 *
 * Options: -N/--seq-len, -d/--head-dim, -M/--sram BYTES (suffixes K, KiB, M, MiB, G, GiB: all powers of 1024),
 * --block-rows, --block-cols, --dtype fp32|fp16|bf16, --batch, --heads, --causal (lessons that mask),
 * --trace none|text|csv|json, --trace-file PATH and --trace-limit BYTES (lessons that trace), --seed, --count-only,
 * --quiet, --threads (lessons that run in parallel), --algo (lessons that offer a choice), --step (lessons that
 * pause), --out-dir (lessons that write files), --l2 (lessons that predict DRAM bytes), -h/--help, --version. "--opt=value" and "--opt value" both work; so
 * do "-N16" and "-N 16". A lesson may add whole-number options of its own (lesson11's --kv-heads, --splits,
 * --page-size): spec->own. Bad input gets one line on stderr, every echoed value escaped (fl_escape), and exit status 2.
 *
 * Output is never lost in silence: cli_main flushes stdout after the lesson and exits 3 (FL_EXIT_IO) with one line
 * if any write to it failed; a trace file is written all or nothing (outfile.h). A trace's size is known before it
 * is written: when a trace is asked for, cli_main first runs the lesson in a child process, count-only and quiet,
 * its output discarded, with a census in place of the trace (trace.h); a trace estimated above --trace-limit
 * (default CLI_TRACE_LIMIT) is refused with the estimate, exit 2, before anything runs. While writing, the limit
 * still holds: a trace that reaches it stops the lesson (exit 2) and its file is removed.
 */
#ifndef FLASHLAB_CLI_H
#define FLASHLAB_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "trace.h"

#define FLASHLAB_VERSION "0.1.0"

/* The largest trace written without --trace-limit: 1 GiB is a minute of writing and more than any viewer opens
 * comfortably (Perfetto loads JSON traces of a few hundred MB); anything bigger should be asked for by name. */
#define CLI_TRACE_LIMIT ((uint64_t)1 << 30)
/* A dry run already past the limit stops counting after this many seconds and reports what it has seen. */
#define CLI_CENSUS_MAX_S 2.0
#define CLI_MAX_OWN 4         /* options of a lesson's own, at most */

typedef struct {
    const char *lesson;      /* the program's name, "lesson03" */
    size_t N, d, B, H;       /* sequence length, head dimension, batch, heads */
    size_t M_bytes;          /* SRAM capacity M */
    size_t Br, Bc;           /* block rows (queries) and columns (keys); 0: choose by the paper's rule */
    dtype_t dtype;           /* storage type of Q, K, V, O in HBM */
    bool causal;
    trace_fmt trace;
    const char *trace_file;  /* NULL: the trace goes to stdout */
    uint64_t trace_limit;    /* --trace-limit: most bytes a trace may take; 0: CLI_TRACE_LIMIT */
    uint64_t seed;
    bool count_only, quiet, step;
    const char *algo;        /* --algo; the spec's default when not given */
    const char *out_dir;     /* --out-dir */
    int threads;             /* --threads; 0: OpenMP's default (OMP_NUM_THREADS) */
    size_t own[CLI_MAX_OWN]; /* the lesson's own options, in the order of spec->own; 0: not given */
    const char *l2;          /* --l2: a GPU's L2 (A100, H100, H200) or a size (50M); NULL: no L2 (l2.h) */
} cli_cfg;

/* A whole-number option of one lesson, parsed like --batch: digits only, min..max (min >= 1), else exit 2.
 * Its value lands in cfg->own[k] for spec->own[k]; 0 means not given (the lesson picks a default).
 * With meta NULL it is a flag instead (lesson09's --backward): no value, cfg->own[k] = 1 when given. */
typedef struct {
    const char *name;        /* "kv-heads" for --kv-heads; NULL ends the list */
    const char *meta;        /* "HKV", for --help; NULL: a flag, taking no value */
    const char *help;        /* one line for --help */
    size_t min, max;
} cli_own_opt;

/* Options a lesson may accept beyond the common ones. */
enum {
    CLI_OPT_CAUSAL = 1u, CLI_OPT_ALGO = 2u, CLI_OPT_STEP = 4u, CLI_OPT_OUT_DIR = 8u, CLI_OPT_THREADS = 16u,
    CLI_OPT_TRACE = 32u,  /* --trace, --trace-file, --trace-limit: the lesson opens its trace with cli_trace_open */
    CLI_OPT_L2 = 1u << 8  /* --l2 GPU|SIZE: predicted DRAM bytes beside the ledger (lab_l2.h) */
};

typedef struct {
    const char *name;          /* "lesson03" */
    const char *title;         /* one line: what the lesson teaches */
    const char *details;       /* more help text, printed after the options (may be NULL) */
    cli_cfg defaults;
    unsigned extra;            /* CLI_OPT_* bits */
    const char *const *algos;  /* NULL-terminated names --algo accepts (with CLI_OPT_ALGO) */
    cli_own_opt own[CLI_MAX_OWN + 1]; /* the lesson's own options, ended by one with name NULL */
} cli_spec;

enum { CLI_OK = 0, CLI_DONE = 1, CLI_ERROR = 2 };

/* Parse argv into cfg (starting from spec->defaults). CLI_OK: run; CLI_DONE: help or version was printed, exit 0;
 * CLI_ERROR: one line went to stderr, exit 2. Checks ranges: sizes >= 1, blocks <= N, known names. */
int cli_parse(const cli_spec *spec, int argc, char **argv, cli_cfg *cfg);

/* Parse "64K", "1MiB", "4096" into bytes; false on junk, zero-free overflow or a negative number. */
bool cli_parse_bytes(const char *s, size_t *out);

/* The whole main(): parse, estimate the trace (above), then return run(&cfg)'s status; 0 after --help, 2 on bad
 * input, 3 when stdout lost output. */
typedef int (*lesson_fn)(const cli_cfg *cfg);
int cli_main(const cli_spec *spec, int argc, char **argv, lesson_fn run);

/* Open cfg->trace on m (to --trace-file, or stdout), guarded by --trace-limit. NULL when tracing is off. A failed
 * write stops the program at once (one line, exit 3, the file removed); cli_trace_close commits the file. */
trace_t *cli_trace_open(const cli_cfg *cfg, mem_t *m);
void cli_trace_close(const cli_cfg *cfg, trace_t *t);
uint64_t cli_trace_limit(const cli_cfg *cfg);   /* --trace-limit, or CLI_TRACE_LIMIT */

/* --step: wait for Enter, but only when stdin and stdout are terminals (never in CI or a pipe). "c" then Enter runs on
 * without pausing; "q" (or the end of input, Ctrl-D) ends the program at once with status 0 and no summary line
 * (an open trace file is removed, as for any exit before it is complete). */
void cli_pause(const cli_cfg *cfg, const char *prompt);

#endif
