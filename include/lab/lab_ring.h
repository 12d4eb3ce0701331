/* lab_ring.h — what lesson12 does around the ring (sim/model/ring.c): its own options (--devices, --layout,
 * --link-gbs, --peak-tflops, taken out of argv before the common ones), the ring's parameters and tile guard, the
 * tables of each part (the split, the steps, the links, each device's ledger against its closed form, causal tiles,
 * the clock), the modelled timeline as trace spans, and the summary line.
 *
 *   ring_params rp = lab_ring_params(cfg, lab_ring_options()->layout, cfg->causal);   // exits 2 on a bad ring
 *   ring_t *R = ring_create(&rp, cfg->M_bytes, cfg->dtype, cfg->count_only); ...; ring_forward(R);
 *   bool ok = lab_ring_check_links(&L, R) & lab_ring_check_devices(&L, R, cfg->dtype);
 *   LAB_RING_MAIN(lesson12_spec, lesson12_run)                                         // the lesson's main()
 */
#ifndef FLASHLAB_LAB_RING_H
#define FLASHLAB_LAB_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lab.h"
#include "ring.h"      // defines: ring_params, ring_t, ring_layout, RING_MAX_DEVICES
#include "summary.h"   // defines: summary_t

#define LAB_RING_SHOW_DEVICES 8   /* tables with a column per device up to this many devices (lists: twice as many) */
#define LAB_RING_SHOW_STEPS 8     /* the step and timeline tables up to this many steps */

/* ---- the lesson's own options ----------------------------------------------------------------------------------- */
typedef struct {
    size_t P;                       /* --devices (default 4) */
    ring_layout layout;             /* --layout (default contiguous) */
    double link_gbs, peak_tflops;   /* --link-gbs, --peak-tflops (defaults: NVLink 4 one way, an H100's BF16) */
} lab_ring_opts;
/* The options as parsed (the defaults when lab_ring_main has not run, as in the test runner). */
const lab_ring_opts *lab_ring_options(void);

/* Their help, the start of the lesson's details. */
#define LAB_RING_OPTIONS_HELP                                                                                   \
    "Options of this lesson:\n"                                                                                 \
    "      --devices P        simulated devices in the ring, 1 .. min(N, 64) (default 4)\n"                     \
    "      --layout L         contiguous (device r holds chunk r) or zigzag (chunks r and 2P-1-r of 2P)\n"     \
    "      --link-gbs W       GB/s one link carries one way (default 450: NVLink 4 on an H100 SXM, 900 GB/s\n" \
    "                         both ways together)\n"                                                        \
    "      --peak-tflops F    TFLOP/s of one device (default 989: an H100 SXM's dense BF16 tensor cores)\n"

/* main(): take the lesson's options out of argv ("--opt=value" or "--opt value"; a bad one: one line, exit 2), then
 * cli_main with the rest. */
int lab_ring_main(const cli_spec *spec, int argc, char **argv, lesson_fn run);
#ifdef FLASHLAB_NO_MAIN
#define LAB_RING_MAIN(spec, run)
#else
#define LAB_RING_MAIN(spec, run) \
    int main(int argc, char **argv) { return lab_ring_main(&(spec), argc, argv, (run)); }
#endif

/* ---- the ring --------------------------------------------------------------------------------------------------- */
/* The ring of cfg's shapes over the options' devices and rates, in layout, FA2's blocks chosen for its longest chunk
 * (-M, --block-rows, --block-cols); a ring that cannot be: one line, exit 2. */
ring_params lab_ring_params(const cli_cfg *cfg, ring_layout layout, bool causal);
/* Tiles all devices will walk, from the closed forms (for lab_guard_tiles, before any work). */
uint64_t lab_ring_planned_tiles(const ring_params *rp, dtype_t dt);
/* Tiles per device of a count-only causal ring in layout l into tiles[0..P); returns max / min. */
double lab_ring_causal_tiles(const cli_cfg *cfg, ring_layout l, uint64_t *tiles);

/* ---- the parts' tables (with L->show; each cut to the sizes above) ---------------------------------------------- */
void lab_ring_show_split(const lab_t *L, const ring_params *rp);   /* part 1: each device's rows and positions */
void lab_ring_show_steps(const lab_t *L, const ring_params *rp);   /* part 2: rows x keys (whose chunk) per step */
/* Part 4: every link's elements per step against ring_link_closed_form; true when all agree. */
bool lab_ring_check_links(const lab_t *L, ring_t *R);
/* Part 5: each device's counted ledger against ring_device_closed_form, tensor by tensor; tiles; HBM peak. */
bool lab_ring_check_devices(const lab_t *L, ring_t *R, dtype_t dt);
/* Part 6: the causal tiles of both layouts, device by device. */
void lab_ring_show_causal(const lab_t *L, size_t P, const uint64_t *contiguous, const uint64_t *zigzag);
/* Part 6: the last device's modelled steps, then one full step's compute against its send, n = 512 .. 32768. */
void lab_ring_show_clock(const lab_t *L, ring_t *R, dtype_t dt);
/* The modelled timeline as spans, one track per device and per link, on the lesson's trace (--trace); then closed. */
void lab_ring_trace(lab_t *L, ring_t *R);

/* ---- the summary ------------------------------------------------------------------------------------------------ */
typedef struct {
    double err_o, err_L;               /* max |O - O_ref|, max |L - L_ref| (na under --count-only) */
    double imb_contiguous, imb_zigzag; /* lab_ring_causal_tiles of both layouts */
    double overlap_rows;               /* n above which a send hides under a full step's compute */
    bool closed_ok;                    /* every link and device ledger equals its closed form */
} lab_ring_result;
/* summary: algo=ring, every device's ledger added up (sram and hbm peaks: the largest device's), the errors, devices,
 * layout, link_elems, link_bytes, device_tiles, tile_imbalance, both causal imbalances, time_ns, time_serial_ns,
 * overlap_rows, link_gbs, peak_tflops, closed_form_ok; printed to stdout. */
void lab_ring_summary(const cli_cfg *cfg, ring_t *R, const lab_ring_result *res);

#endif
