/* summary.h — the last line of every lesson: "summary: key=value ...", for scripts, tests and plots.
 *
 *   summary_t s;
 *   summary_begin(&s, cfg, "flash1", Br, Bc);     // lesson, algo, N, d, B, H, M_bytes, Br, Bc, dtype, causal
 *   summary_ledger(&s, m);                        // hbm_*_elems/bytes, sram_peak_bytes, hbm_peak_bytes, flops,
 *                                                 // exps, and rd_<T>/wr_<T> elements per tensor
 *   summary_f64(&s, "max_abs_err", err);
 *   summary_print(&s, stdout);
 *
 * Values never contain spaces; a value that was not measured is written "na" (summary_f64 writes "na" for NaN and
 * ±inf itself, so no lesson can print nan).
 */
#ifndef FLASHLAB_SUMMARY_H
#define FLASHLAB_SUMMARY_H

#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "mem.h"

typedef struct {
    char buf[4096];
    size_t len;
} summary_t;

void summary_begin(summary_t *s, const cli_cfg *cfg, const char *algo, size_t Br, size_t Bc);
void summary_ledger(summary_t *s, const mem_t *m);
void summary_u64(summary_t *s, const char *key, uint64_t v);
void summary_f64(summary_t *s, const char *key, double v);   /* %.6g; NaN or ±inf prints "na": not measured */
void summary_str(summary_t *s, const char *key, const char *v);
void summary_print(const summary_t *s, FILE *out);

/* Read key's value back from a summary line (tests, plots); false when absent. */
bool summary_get(const char *line, const char *key, char *val, size_t vallen);

#endif
