/* lab_show.h — views of an algorithm's state that lessons share: the paper's listings as the lessons print them, and
 * one query row of FlashAttention-2 followed key block by key block through the simulator's own row update; a run's
 * blocks and SRAM plan, the tile map it painted, and the HBM peak of runs over growing N.
 *
 *   lab_listing_print(&L, LAB_FA2_ALG1);         //    3  for 1 <= i <= Tr: ... 15  write Li to HBM
 *   size_t row = lab_row_most_rescaled(&r.p, in.x[0], in.x[1], 64);
 *   ok &= lab_flash2_row_walk(&r, &in, row, 3);   // prints m, rowmax, l and 3 columns of O per key block
 */
#ifndef FLASHLAB_LAB_SHOW_H
#define FLASHLAB_LAB_SHOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lab_attn.h"

/* The pseudocode of the papers, numbered as there: Algorithm 0 (standard attention, Dao et al. 2022), Algorithm 1
 * (FlashAttention forward), FlashAttention-2's Algorithm 1 (Dao 2023). Printed to stdout, two-space indent. */
typedef enum { LAB_ALG0, LAB_FA1_ALG1, LAB_FA2_ALG1 } lab_listing;
void lab_listing_print(const lab_t *L, lab_listing which);   /* when L->say */

/* Among the first `rows` query rows of head (0, 0), the one whose running max grows after the first key block most
 * often (so the rescaling shows); with the causal mask row N-1, the only one that sees every key block. */
size_t lab_row_most_rescaled(const attn_params *p, const float *q, const float *k, size_t rows);

/* Row `row` of head (0, 0) of a computed flash2 run r on inputs in: FA2 line 8 computed here, lines 9-10 by
 * attn_flash2_row_update, then lines 12-13; one line per key block (m_old, rowmax S, m_new, e^(m_old-m_new), l and
 * the first `cols` columns of the unnormalized O). True when O and L equal r's row bit for bit. */
bool lab_flash2_row_walk(const lab_attn *r, const lab_inputs *in, size_t row, size_t cols);

/* FlashAttention-2's forward ledger from its lines against run r's count, in elements, one report_check line each:
 * Q reads (line 4: N·d), K and V reads (line 7: the closed form's key rows·d), O and L writes (lines 14-15), total
 * reads (unmasked: Nd + 2Nd·Tr) and writes. True when each holds and r->closed_ok. Prints only when L->say. */
bool lab_flash2_ledger_report(const lab_t *L, const lab_attn *r);

/* lab_attn_open + lab_attn_run (lab_attn.h), drawn when L shows tables: with brief, one line per tile while it runs
 * (TILEWALK_BRIEF), after the line intro; otherwise the map it painted (r->map, when set), after the run. */
void lab_attn_go_shown(lab_t *L, lab_attn *r, const lab_inputs *in, bool brief, const char *intro);

/* The map r painted (r->map), headed "  the Tr x Tc tiles of head 0<what>:" (a blank line after it with blank), when
 * L shows tables and r has a map. */
void lab_attn_print_map(const lab_t *L, const lab_attn *r, const char *what, bool blank);
/* Its blocks and SRAM plan, as "  <algo>  Br=.., Bc=.. (Tr=.., Tc=..): <rule>" and "SRAM: Qi Kj ... = n bytes". */
void lab_attn_print_plan(const lab_t *L, const lab_attn *r);
/* The most HBM bytes each run's algorithm keeps allocated when planned again at sequence length N (count-only, not
 * traced, the requested blocks clamped to N): peak[a] for runs[a]. False, nothing run, when one would walk more than
 * LAB_SWEEP_MAX_TILES tiles (6 per tile: standard's backward walks its grid six times). */
bool lab_attn_peaks(const lab_attn *const *runs, size_t n, size_t N, uint64_t *peak);
/* With L->say, a table of lab_attn_peaks at N, 2N, ... 2^(sizes-1) N: one column per run, and the first run's peak
 * over the last's when there are several ("std / flash"). */
void lab_attn_peak_table(const lab_t *L, const lab_attn *const *runs, size_t n, int sizes);

#endif
