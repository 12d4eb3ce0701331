/* lab_table.h — ledgers side by side: one label column, then two cells per run (reads | writes, or any pair), in
 * fixed-width lines for people. Every lesson that compares runs prints its table through here, in its own style.
 *
 *   lab_table t = {.indent = "  ", .label_w = 8, .cell_w = 10, .first = " ", .sep = "   "};
 *   const mem_t *ms[2] = {m1, m2};
 *   lab_table_head(&t, "", (const char *[]){"part 1", "part 2"}, 2);           // a heading over each run
 *   lab_table_pair(&t, "tensor", (const char *[]){"reads", "writes", "reads", "writes"}, 2, NULL);
 *   lab_table_tensors(&t, ms, 2, NULL, LAB_ROWS_ALL);   // a row per tensor of either model, in order of appearance
 *   lab_table_total(&t, ms, 2, "   elements");
 *   //             part 1   part 2
 *   //   tensor     reads   writes     reads   writes
 *   //   Q             32        0        32        0
 *
 * Cells are right-aligned to cell_w characters (UTF-8 aware); a span covers a run's two cells (2·cell_w + 1). Each
 * line loses its trailing blanks before `suffix` (NULL: none) is added.
 */
#ifndef FLASHLAB_LAB_TABLE_H
#define FLASHLAB_LAB_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lab_attn.h"
#include "mem.h"

typedef struct {
    const char *indent;   /* before the label: "  " */
    int label_w;          /* label column width, characters (left-aligned) */
    int cell_w;           /* each cell's width, characters */
    const char *first;    /* before a row's first run: " " (or " | ") */
    const char *sep;      /* between two runs: "   " (or " | ") */
    FILE *out;            /* NULL: stdout */
} lab_table;

/* One line: label, then for each of n runs the two cells cells[2r], cells[2r+1] (NULL: blank). */
void lab_table_pair(const lab_table *t, const char *label, const char *const *cells, size_t n, const char *suffix);
/* One line: label, then one text per run spanning its two cells (NULL: blank). */
void lab_table_span(const lab_table *t, const char *label, const char *const *spans, size_t n, const char *suffix);
void lab_table_head(const lab_table *t, const char *label, const char *const *heads, size_t n);   /* a span line */
/* Numbers: a pair of u64 per run (rd[r], wr[r]); a single u64 per run in the first cell or spanning both. */
void lab_table_u64s(const lab_table *t, const char *label, const uint64_t *a, const uint64_t *b, size_t n,
                    const char *suffix);
void lab_table_u64(const lab_table *t, const char *label, const uint64_t *v, size_t n, bool span, const char *suffix);

/* A row per tensor, reads and writes in elements per run: names in the given order (NULL-terminated), or every tensor
 * of the models in order of appearance when names is NULL. LAB_ROWS_MOVED leaves out tensors no run moved. */
enum { LAB_ROWS_ALL = 0, LAB_ROWS_MOVED = 1 };
void lab_table_tensors(const lab_table *t, const mem_t *const *ms, size_t n, const char *const *names,
                       unsigned rows);
/* Totals of every run: reads and writes in elements; the same in bytes (fmt_bytes), both as lab_table_pair. */
void lab_table_total(const lab_table *t, const mem_t *const *ms, size_t n, const char *suffix);
void lab_table_bytes(const lab_table *t, const char *label, const mem_t *const *ms, size_t n, const char *suffix);

/* Runs of attention side by side: a heading per run, blocks Br x Bc and tiles Tr x Tc, the tensors named (every
 * one, NULL-terminated), totals in elements, bytes read + written, and ✓/✗ against each run's closed form. */
void lab_table_runs(const lab_table *t, const lab_attn *const *runs, size_t n, const char *const *heads,
                    const char *const *names);
/* Runs side by side as lesson07 prints them: a heading per run (its algorithm), every tensor some run moved, totals
 * in elements and bytes, FLOPs, exp() calls, SRAM and HBM peaks, and "= closed form" or "DIFFERS from closed form". */
void lab_table_ledgers(const lab_table *t, const lab_attn *const *runs, size_t n);
/* One run phase by phase (every phase that moved something): reads, writes, how many of them are of the tensors in
 * `quad` (NULL-terminated: the N x N ones, say), FLOPs. Returns the traffic of the quad tensors over all phases. */
uint64_t lab_table_phases(const lab_attn *r, const char *const *quad);

#endif
