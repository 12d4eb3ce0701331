/* lesson12_ring.c — ring attention (Liu, Zaharia, Abbeel 2023): the sequence over P devices, K and V passed around
 * a ring, the partial outputs merged with lesson02's log-sum-exp rule.
 *
 * What it teaches, in six parts on P simulated devices (each its own HBM, SRAM and ledger, sim/model/ring.c):
 *   1  the split: contiguous (device r holds chunk r) or zigzag (chunks r and 2P-1-r of 2P)
 *   2  the ring: at step s device r holds device (r - s) mod P's K, V; FlashAttention-2's forward (Alg.1 lines 3-15)
 *      on its queries against that chunk gives Os, Ls, merged into O, L: L = log(e^La + e^Lb), O = Σ e^(Lx - L) Ox
 *   3  the output against single-device attention (fp64 reference)
 *   4  the link ledger: each device sends 2·n·d elements a step, P - 1 steps: 2·d·(P - 1)·N in all
 *   5  every device's HBM ledger against its closed form (docs/lesson12.md derives it)
 *   6  causal masking: tiles per device under contiguous (about 2P - 1 times more on the last) and zigzag (even),
 *      and the modelled clock: transfers hide under compute when n = N/P exceeds about peak·e / (2·link bandwidth)
 * Its options (--devices, --layout, --link-gbs, --peak-tflops), tables, trace spans, summary: lessons/lab/lab_ring.c
 * Run:  ./lesson12                    (N=128, d=8, P=4, contiguous; M = 1344 B: FA2 blocks 8 x 8)
 *       ./lesson12 --causal --layout zigzag --devices 8 -N 256
 *       ./lesson12 --count-only -N 131072 -d 128 --devices 8 --causal --layout zigzag -M 192K --dtype bf16
 *       ./lesson12 --trace json --trace-file ring.json   (one track per device and per link: ui.perfetto.dev)
 * Summary: algo=ring with every device's ledger added up (sram and hbm peaks: the largest device's), max_abs_err,
 *   devices, layout, link_elems, link_bytes, device_tiles (comma-separated), tile_imbalance, the causal imbalances of
 *   both layouts, time_ns and time_serial_ns (modelled), overlap_rows, closed_form_ok.
 */
#include <stdlib.h>

#include "lab_check.h"  // defines: lab_ref_attention, lab_ref_free (and lab_attn.h, lab.h: lab_max_abs, verify_tridao_bound)
#include "lab_ring.h"   // defines: lab_ring_params, lab_ring_check_links, lab_ring_summary, LAB_RING_MAIN (ring.h)
#include "lessons.h"
#include "report.h"     // defines: report_mark
#include "util.h"

#define FLOOR_ROUNDINGS 2.0  /* O: Tri Dao's bound plus two roundings of max |O|, and one more per merge */
#define L_RTOL 1e-5          /* L is fp32 on chip in every dtype: ~100 fp32 ulps of the largest |L| */

static const char DETAILS[] = LAB_RING_OPTIONS_HELP
    "Every device runs FlashAttention-2's forward (Algorithm 1) on its queries against the K, V chunk it holds, with\n"
    "blocks chosen by FA2's rule for the longest chunk; --sram is each device's SRAM.";

const cli_spec lesson12_spec = {
    .name = "lesson12",
    .title = "Ring attention: the sequence over many devices, K and V passed around a ring",
    .details = DETAILS,
    .defaults = {.N = 128, .d = 8, .B = 1, .H = 1, .M_bytes = 1344, .dtype = DTYPE_FP32, .seed = 1},
    .extra = CLI_OPT_CAUSAL | CLI_OPT_TRACE,
};

int lesson12_run(const cli_cfg *cfg)
{
    const lab_ring_opts *opts = lab_ring_options();
    size_t N = cfg->N, d = cfg->d, P = opts->P, heads = cfg->B * cfg->H;
    dtype_t dt = cfg->dtype;
    bool count_only = cfg->count_only, causal = cfg->causal;
    lab_t L = lab_begin(cfg);
    ring_params rp = lab_ring_params(cfg, opts->layout, causal), rc = lab_ring_params(cfg, RING_CONTIGUOUS, true),
                rz = lab_ring_params(cfg, RING_ZIGZAG, true);
    lab_guard_tiles(lab_ring_planned_tiles(&rp, dt) + lab_ring_planned_tiles(&rc, dt) +
                    lab_ring_planned_tiles(&rz, dt), "ring");
    /* the ring (4N²d), the fp64 reference and the materialized low-precision one (4N²d each) */
    lab_guard_flops(cfg, 12.0 * (double)N * (double)N * (double)d * (double)heads, "the ring and two references");
    lab_guard_elems(cfg, cfg->B * N, cfg->H * d, "q, k, v");
    lab_inputs in = lab_inputs_normal(cfg, 3);
    size_t n = ring_max_rows(&rp);

    /* ---- part 1: the split ------------------------------------------------------------------------------------ */
    lab_say(&L, "lesson12 — %s\n\nQ, K, V: %zu x %zu head%s of N=%zu rows x d=%zu, %s%s, over P=%zu devices "
            "(layout %s).\nEach device: its own HBM, SRAM M = %zu bytes and ledger; FlashAttention-2 blocks for its "
            "longest chunk (%zu rows): Br=%zu, Bc=%zu.\n", lesson12_spec.title, cfg->B, cfg->H, heads > 1 ? "s" : "",
            N, d, dtype_name(dt), causal ? ", causal mask" : "", P, ring_layout_name(rp.layout), cfg->M_bytes, n,
            rp.a.Br, rp.a.Bc);
    lab_say(&L, "\nPart 1 — the split: %s\n", rp.layout == RING_ZIGZAG
            ? "2P chunks, device r holds chunks r and 2P-1-r (one early, one late)"
            : "P chunks, device r holds chunk r");
    lab_ring_show_split(&L, &rp);

    /* ---- part 2: the ring ------------------------------------------------------------------------------------- */
    lab_say(&L, "\nPart 2 — the ring: at step s device r holds device (r-s) mod P's K, V. On it:\n"
            "  FA2 Alg.1 lines 3-15 on its queries against that chunk -> Os, Ls (the chunk's own softmax)\n"
            "  merge (lesson02): L = log(e^La + e^Lb), O = e^(La-L) Oa + e^(Lb-L) Ob     (step 0 writes O, L)\n"
            "  and, at the same time, send the chunk on to device r+1 (P-1 sends in all).\n");
    lab_ring_show_steps(&L, &rp);
    ring_t *R = ring_create(&rp, cfg->M_bytes, dt, count_only);
    ring_scatter(R, in.x[0], in.x[1], in.x[2]);
    ring_forward(R);
    size_t nall = in.n, nl = heads * N;
    float *o = count_only ? NULL : xmalloc(nall * sizeof *o), *lse = count_only ? NULL : xmalloc(nl * sizeof *lse);
    ring_gather(R, o, lse);

    /* ---- part 3: against single-device attention ------------------------------------------------------------ */
    lab_ref ref = lab_ref_attention(cfg, &in, causal, true);
    double err_o = lab_max_abs(ref.o, o, nall), err_L = lab_max_abs(ref.lse, lse, nl);
    double tol = verify_tridao_bound(ref.err_lowp, (FLOOR_ROUNDINGS + (double)(P - 1)) * dtype_eps(dt) * ref.o_max);
    double tol_L = L_RTOL * (1 + ref.lse_max);
    bool ok_out = count_only || (lab_within(err_o, tol) && lab_within(err_L, tol_L));
    lab_say(&L, "\nPart 3 — the output against single-device attention (fp64 reference, all N rows at once)\n");
    if (!count_only)
        lab_say(&L, "  max |O - O_ref| = %.3g (allowed %.3g: 2 x a materialized %s implementation's %.3g + "
                "(2 + P-1 merges)·u·max|O|) %s\n  max |L - L_ref| = %.3g (allowed %.3g) %s\n", err_o, tol,
                dtype_name(dt), ref.err_lowp, report_mark(lab_within(err_o, tol)), err_L, tol_L,
                report_mark(lab_within(err_L, tol_L)));
    else
        lab_say(&L, "  (--count-only: nothing computed)\n");

    /* ---- part 4: the link ledger ------------------------------------------------------------------------------ */
    uint64_t BHd = (uint64_t)heads * d;
    ring_count tot = ring_link_total(R);
    lab_say(&L, "\nPart 4 — the link ledger: link r carries r's chunk at step 0, then what it received: every "
            "chunk\n  but device r+1's own, K and V: 2·B·H·d·(N - n_(r+1)) elements over P-1 steps\n");
    bool ok_link = lab_ring_check_links(&L, R);   /* each link against ring_link_closed_form */
    ok_link &= tot.elems == 2 * BHd * (P - 1) * N;
    char b1[32];
    lab_say(&L, "  all links: %llu elements (%s) = 2·B·H·d·(P-1)·N = %llu %s\n", (unsigned long long)tot.elems,
            fmt_bytes(tot.bytes, b1, sizeof b1), (unsigned long long)(2 * BHd * (P - 1) * N),
            report_mark(ok_link));

    /* ---- part 5: each device's HBM ledger --------------------------------------------------------------------- */
    lab_say(&L, "\nPart 5 — each device's HBM ledger (HBM <-> SRAM; what the links carry is part 4's)\n");
    bool ok_dev = lab_ring_check_devices(&L, R, dt);

    /* ---- part 6: causal balance and the clock ----------------------------------------------------------------- */
    uint64_t tc[RING_MAX_DEVICES], tz[RING_MAX_DEVICES];
    double imb_c = lab_ring_causal_tiles(cfg, RING_CONTIGUOUS, tc), imb_z = lab_ring_causal_tiles(cfg, RING_ZIGZAG, tz);
    lab_say(&L, "\nPart 6 — causal masking: tiles each device computes, same shapes, both layouts\n");
    lab_ring_show_causal(&L, P, tc, tz);
    lab_say(&L, "  max/min: contiguous %.3g (about 2P-1 = %zu: the last device computes P-1 full chunks and its "
            "diagonal,\n  the first only its diagonal), zigzag %.3g: each device's late chunk sees what its early one "
            "misses.\n", imb_c, 2 * P - 1, imb_z);

    double F = opts->peak_tflops * 1e12, W = opts->link_gbs * 1e9, e = (double)dtype_size(dt);
    double n_hide = F * e / (2 * W), t = ring_time_ns(R), ts = ring_time_serial_ns(R);
    lab_say(&L, "\n  The clock (modelled: compute = FLOPs / %.0f TFLOP/s, a send = bytes / %.0f GB/s):\n"
            "  a full step computes 4·n²·d FLOPs and sends 2·n·d elements of %g bytes, so the send hides when\n"
            "  4n²d/F >= 2nd·e/W, i.e. n >= F·e/(2W) = %.0f rows per device (this run: n = %zu; causal: about twice).\n"
            "  (d cancels out.) This ring: %.4g ns with the sends overlapped, %.4g ns if each step sent first and then\n"
            "  computed.\n", opts->peak_tflops, opts->link_gbs, e, n_hide, n, t, ts);
    lab_ring_show_clock(&L, R, dt);
    lab_ring_trace(&L, R);

    bool closed_ok = ok_link && ok_dev;
    lab_ring_summary(cfg, R, &(lab_ring_result){.err_o = err_o, .err_L = err_L, .imb_contiguous = imb_c,
                                                 .imb_zigzag = imb_z, .overlap_rows = n_hide, .closed_ok = closed_ok});

    ring_destroy(R);
    free(o), free(lse);
    lab_ref_free(&ref);
    lab_inputs_free(&in);
    return lab_end(&L, closed_ok && ok_out);
}

LAB_RING_MAIN(lesson12_spec, lesson12_run)
