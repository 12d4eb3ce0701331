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
 * Run:  ./lesson12                    (N=128, d=8, P=4, contiguous; M = 1344 B: FA2 blocks 8 x 8)
 *       ./lesson12 --causal --layout zigzag --devices 8 -N 256
 *       ./lesson12 --count-only -N 131072 -d 128 --devices 8 --causal --layout zigzag -M 192K --dtype bf16
 *       ./lesson12 --trace json --trace-file ring.json   (one track per device and per link: ui.perfetto.dev)
 * Summary: algo=ring with every device's ledger added up (sram and hbm peaks: the largest device's), max_abs_err,
 *   devices, layout, link_elems, link_bytes, device_tiles (comma-separated), tile_imbalance, the causal imbalances of
 *   both layouts, time_ns and time_serial_ns (modelled), overlap_rows, closed_form_ok.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab_check.h"  // defines: lab_ref_attention, lab_ref_free (and lab_attn.h, lab.h: lab_max_abs, verify_tridao_bound)
#include "lessons.h"
#include "report.h"     // defines: report_mark
#include "ring.h"       // defines: ring_create, ring_forward, ring_link, ring_device_closed_form
#include "util.h"

#define SHOW_DEVICES 8       /* tables with a column per device up to this many devices */
#define SHOW_STEPS 8         /* the step and timeline tables up to this many steps */
#define FLOOR_ROUNDINGS 2.0  /* O: Tri Dao's bound plus two roundings of max |O|, and one more per merge */
#define L_RTOL 1e-5          /* L is fp32 on chip in every dtype: ~100 fp32 ulps of the largest |L| */

/* lesson12's own options, taken out of argv before the common ones are parsed (main below). */
typedef struct {
    size_t P;
    ring_layout layout;
    double link_gbs, peak_tflops;
} ring_opts;
static ring_opts opts = {4, RING_CONTIGUOUS, RING_NVLINK4_BYTES_PER_S / 1e9, RING_H100_FLOPS / 1e12};

static const char DETAILS[] =
    "Options of this lesson:\n"
    "      --devices P        simulated devices in the ring, 1 .. min(N, 64) (default 4)\n"
    "      --layout L         contiguous (device r holds chunk r) or zigzag (chunks r and 2P-1-r of 2P)\n"
    "      --link-gbs W       GB/s one link carries one way (default 450: NVLink 4 on an H100 SXM, 900 GB/s\n"
    "                         both ways together)\n"
    "      --peak-tflops F    TFLOP/s of one device (default 989: an H100 SXM's dense BF16 tensor cores)\n"
    "Every device runs FlashAttention-2's forward (Algorithm 1) on its queries against the K, V chunk it holds, with\n"
    "blocks chosen by FA2's rule for the longest chunk; --sram is each device's SRAM.";

const cli_spec lesson12_spec = {
    .name = "lesson12",
    .title = "Ring attention: the sequence over many devices, K and V passed around a ring",
    .details = DETAILS,
    .defaults = {.N = 128, .d = 8, .B = 1, .H = 1, .M_bytes = 1344, .dtype = DTYPE_FP32, .seed = 1},
    .extra = CLI_OPT_CAUSAL | CLI_OPT_TRACE,
};

static ring_params params(const cli_cfg *cfg, ring_layout layout, bool causal)
{
    ring_params rp = {.P = opts.P, .layout = layout, .link_bytes_per_s = opts.link_gbs * 1e9,
                      .peak_flops = opts.peak_tflops * 1e12,
                      .a = {.algo = ATTN_FLASH2, .B = cfg->B, .N = cfg->N, .H = cfg->H, .d = cfg->d, .causal = causal}};
    char err[200];
    block_choice bc;
    if (ring_check(&rp, err, sizeof err) ||
        ring_choose_blocks(&rp, cfg->M_bytes, cfg->dtype, cfg->Br, cfg->Bc, &bc, err, sizeof err))
        fl_fatal("%s", err);
    return rp;
}

/* Tiles all devices will walk, from the closed forms: the guard runs before any work. */
static uint64_t planned_tiles(const ring_params *rp, dtype_t dt)
{
    uint64_t t = 0;
    for (size_t r = 0; r < rp->P; r++) {
        ring_device_io io;
        ring_device_closed_form(rp, dt, r, &io);
        t += io.io.tiles;
    }
    return t;
}

static void print_piece_list(const ring_chunk *c)
{
    for (size_t k = 0; k < c->npieces; k++)
        if (c->piece[k].n)
            printf("%s%zu..%zu", k ? " + " : "", c->piece[k].pos, c->piece[k].pos + c->piece[k].n - 1);
    putchar('\n');
}

/* Step by step, what each device computes: "rows x keys (src)", c on the causal diagonal, - when all is masked. */
static void print_steps(const ring_params *rp)
{
    printf("  what each device computes: query rows x keys of the chunk it holds (whose chunk)%s\n  step",
           rp->a.causal ? ";\n  c: masked on the diagonal, -: every key after every query, nothing to do" : "");
    for (size_t r = 0; r < rp->P; r++)
        printf("   device %-7zu", r);
    putchar('\n');
    for (size_t s = 0; s < rp->P && s < SHOW_STEPS; s++) {
        printf("  %4zu", s);
        for (size_t r = 0; r < rp->P; r++) {
            ring_work w = ring_step_work(rp, r, s);
            char cell[40];
            if (w.nq)
                snprintf(cell, sizeof cell, "%zux%zu (%zu)%s", w.nq, w.nk, w.src, w.causal ? " c" : "");
            else
                snprintf(cell, sizeof cell, "- (%zu)", w.src);
            printf("   %-14s", cell);
        }
        putchar('\n');
    }
}

/* Each device's counted ledger against its closed form, tensor by tensor; tiles; HBM peak. */
static bool check_devices(const lab_t *L, ring_t *R, dtype_t dt)
{
    const ring_params *rp = ring_params_of(R);
    static const char *const names[] = {"Q", "K", "V", "Kin", "Vin", "O", "L", "Os", "Ls"};
    bool ok = true, table = L->show && rp->P <= SHOW_DEVICES;
    if (table) {
        printf("  elements read / written per device, counted (= closed form ✓, else ✗):\n  %-6s", "");
        for (size_t r = 0; r < rp->P; r++)
            printf("  %17s %zu", "device", r);
        printf("\n");
    }
    ring_device_io want[RING_MAX_DEVICES];
    for (size_t r = 0; r < rp->P; r++)
        ring_device_closed_form(rp, dt, r, &want[r]);
    for (size_t k = 0; k < sizeof names / sizeof names[0] && (rp->P > 1 || k < 3 || k == 5 || k == 6); k++) {
        if (table)
            printf("  %-6s", names[k]);
        for (size_t r = 0; r < rp->P; r++) {
            attn_io_row w = lab_io_row(&want[r].io, names[k]);
            io_count c = mem_io(ring_mem(R, r), names[k], NULL);
            bool same = c.rd_elems == w.rd && c.wr_elems == w.wr;
            ok &= same;
            if (table)
                printf("  %8llu / %6llu %s", (unsigned long long)c.rd_elems, (unsigned long long)c.wr_elems,
                       report_mark(same));
        }
        if (table)
            putchar('\n');
    }
    for (size_t r = 0; r < rp->P; r++) {
        io_count t = mem_io(ring_mem(R, r), NULL, NULL);
        bool same = t.rd_elems == want[r].io.rd && t.wr_elems == want[r].io.wr &&
                    ring_tiles(R, r) == want[r].io.tiles && mem_hbm_peak(ring_mem(R, r)) == want[r].hbm_peak;
        ok &= same;
        if (L->show && (rp->P <= SHOW_DEVICES || !same))
            printf("  device %zu: reads %llu, writes %llu elements, %llu tiles, HBM peak %llu bytes: closed form %s\n",
                   r, (unsigned long long)t.rd_elems, (unsigned long long)t.wr_elems,
                   (unsigned long long)ring_tiles(R, r), (unsigned long long)mem_hbm_peak(ring_mem(R, r)),
                   report_mark(same));
    }
    return ok;
}

/* Tiles per device of a count-only causal ring in layout l: the table's column, and max/min. */
static double causal_tiles(const cli_cfg *cfg, ring_layout l, uint64_t *tiles)
{
    ring_params rp = params(cfg, l, true);
    ring_t *R = ring_create(&rp, cfg->M_bytes, cfg->dtype, true);
    ring_forward(R);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t r = 0; r < rp.P; r++) {
        tiles[r] = ring_tiles(R, r);
        lo = tiles[r] < lo ? tiles[r] : lo, hi = tiles[r] > hi ? tiles[r] : hi;
    }
    ring_destroy(R);
    return (double)hi / (double)lo;
}

/* The modelled timeline as spans, one track per device and per link (--trace). */
static void trace_ring(lab_t *L, ring_t *R)
{
    lab_watch(L, ring_mem(R, 0));   /* opens the stream; the ring has run, so only spans follow */
    const ring_params *rp = ring_params_of(R);
    for (size_t s = 0; s < rp->P; s++)
        for (size_t r = 0; r < rp->P; r++) {
            ring_slot x = ring_slot_at(R, r, s);
            ring_work w = ring_step_work(rp, r, s);
            char track[48], what[160];
            snprintf(track, sizeof track, "device %zu", r);
            if (w.nq)
                snprintf(what, sizeof what, "step %zu: rows %zu..%zu x device %zu's %zu..%zu", s, w.q0,
                         w.q0 + w.nq - 1, w.src, w.k0, w.k0 + w.nk - 1);
            else
                snprintf(what, sizeof what, "step %zu: masked, nothing to compute", s);
            trace_span(L->trace, track, what, x.start, x.end - x.start, 0, x.flops);
            if (s + 1 < rp->P) {
                snprintf(track, sizeof track, "link %zu->%zu", r, (r + 1) % rp->P);
                snprintf(what, sizeof what, "K, V of device %zu", w.src);
                trace_span(L->trace, track, what, x.send_start, x.send_end - x.send_start, ring_link(R, r, s).bytes,
                           0);
            }
        }
    lab_unwatch(L);
}

int lesson12_run(const cli_cfg *cfg)
{
    size_t N = cfg->N, d = cfg->d, P = opts.P, heads = cfg->B * cfg->H;
    dtype_t dt = cfg->dtype;
    bool count_only = cfg->count_only, causal = cfg->causal;
    lab_t L = lab_begin(cfg);
    ring_params rp = params(cfg, opts.layout, causal), rc = params(cfg, RING_CONTIGUOUS, true),
                rz = params(cfg, RING_ZIGZAG, true);
    lab_guard_tiles(planned_tiles(&rp, dt) + planned_tiles(&rc, dt) + planned_tiles(&rz, dt), "ring");
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
    if (L.show)
        for (size_t r = 0; r < P && r < 2 * SHOW_DEVICES; r++) {
            ring_chunk c = ring_chunk_of(&rp, r);
            printf("  device %-3zu %6zu rows, positions ", r, c.n);
            print_piece_list(&c);
        }
    if (L.show && P > 2 * SHOW_DEVICES)
        printf("  ... and %zu more devices\n", P - 2 * SHOW_DEVICES);

    /* ---- part 2: the ring ------------------------------------------------------------------------------------- */
    lab_say(&L, "\nPart 2 — the ring: at step s device r holds device (r-s) mod P's K, V. On it:\n"
            "  FA2 Alg.1 lines 3-15 on its queries against that chunk -> Os, Ls (the chunk's own softmax)\n"
            "  merge (lesson02): L = log(e^La + e^Lb), O = e^(La-L) Oa + e^(Lb-L) Ob     (step 0 writes O, L)\n"
            "  and, at the same time, send the chunk on to device r+1 (P-1 sends in all).\n");
    if (L.show && P <= SHOW_DEVICES)
        print_steps(&rp);
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
    bool ok_link = tot.elems == 2 * BHd * (P - 1) * N;
    lab_say(&L, "\nPart 4 — the link ledger: link r carries r's chunk at step 0, then what it received: every "
            "chunk\n  but device r+1's own, K and V: 2·B·H·d·(N - n_(r+1)) elements over P-1 steps\n");
    for (size_t r = 0; r < P; r++) {
        uint64_t sum = 0;
        if (L.show && P <= SHOW_DEVICES && P > 1)
            printf("  link %zu -> %zu:", r, (r + 1) % P);
        for (size_t s = 0; s + 1 < P; s++) {
            sum += ring_link(R, r, s).elems;
            if (L.show && P <= SHOW_DEVICES && s < SHOW_STEPS)
                printf(" %8llu", (unsigned long long)ring_link(R, r, s).elems);
        }
        bool same = sum == ring_link_closed_form(&rp, r);
        ok_link &= same;
        if (L.show && P <= SHOW_DEVICES && P > 1)
            printf("   = %llu, closed form %llu %s\n", (unsigned long long)sum,
                   (unsigned long long)ring_link_closed_form(&rp, r), report_mark(same));
    }
    char b1[32];
    lab_say(&L, "  all links: %llu elements (%s) = 2·B·H·d·(P-1)·N = %llu %s\n", (unsigned long long)tot.elems,
            fmt_bytes(tot.bytes, b1, sizeof b1), (unsigned long long)(2 * BHd * (P - 1) * N),
            report_mark(ok_link));

    /* ---- part 5: each device's HBM ledger --------------------------------------------------------------------- */
    lab_say(&L, "\nPart 5 — each device's HBM ledger (HBM <-> SRAM; what the links carry is part 4's)\n");
    bool ok_dev = check_devices(&L, R, dt);

    /* ---- part 6: causal balance and the clock ----------------------------------------------------------------- */
    uint64_t tc[RING_MAX_DEVICES], tz[RING_MAX_DEVICES];
    double imb_c = causal_tiles(cfg, RING_CONTIGUOUS, tc), imb_z = causal_tiles(cfg, RING_ZIGZAG, tz);
    lab_say(&L, "\nPart 6 — causal masking: tiles each device computes, same shapes, both layouts\n");
    if (L.show)
        for (size_t r = 0; r < P && r < 2 * SHOW_DEVICES; r++)
            printf("  device %-3zu contiguous %10llu   zigzag %10llu\n", r, (unsigned long long)tc[r],
                   (unsigned long long)tz[r]);
    if (L.show && P > 2 * SHOW_DEVICES)
        printf("  ... and %zu more devices\n", P - 2 * SHOW_DEVICES);
    lab_say(&L, "  max/min: contiguous %.3g (about 2P-1 = %zu: the last device computes P-1 full chunks and its "
            "diagonal,\n  the first only its diagonal), zigzag %.3g: each device's late chunk sees what its early one "
            "misses.\n", imb_c, 2 * P - 1, imb_z);

    double F = opts.peak_tflops * 1e12, W = opts.link_gbs * 1e9, e = (double)dtype_size(dt);
    double n_hide = F * e / (2 * W), t = ring_time_ns(R), ts = ring_time_serial_ns(R);
    lab_say(&L, "\n  The clock (modelled: compute = FLOPs / %.0f TFLOP/s, a send = bytes / %.0f GB/s):\n"
            "  a full step computes 4·n²·d FLOPs and sends 2·n·d elements of %g bytes, so the send hides when\n"
            "  4n²d/F >= 2nd·e/W, i.e. n >= F·e/(2W) = %.0f rows per device (this run: n = %zu; causal: about twice).\n"
            "  (d cancels out.) This ring: %.4g ns with the sends overlapped, %.4g ns if each step sent first and then\n"
            "  computed.\n", opts.peak_tflops, opts.link_gbs, e, n_hide, n, t, ts);
    if (L.show && P <= SHOW_DEVICES) {
        printf("  device %zu's steps (ns): compute start..end, send start..end\n", P - 1);
        for (size_t s = 0; s < P && s < SHOW_STEPS; s++) {
            ring_slot x = ring_slot_at(R, P - 1, s);
            printf("    step %zu: compute %10.4g..%-10.4g", s, x.start, x.end);
            if (s + 1 < P)
                printf("   send %10.4g..%-10.4g", x.send_start, x.send_end);
            putchar('\n');
        }
    }
    if (L.show) {   /* one full step of n rows against n keys, at this d and dtype: arithmetic only */
        printf("  one full step in %s, by rows per device n: compute 4n²d/F against a send 2nd·e/W (d = %zu)\n",
               dtype_name(dt), d);
        for (double m = 512; m <= 32768; m *= 2) {
            double c = 4 * m * m * (double)d / F * 1e9, x = 2 * m * (double)d * e / W * 1e9;
            printf("    n = %6.0f: compute %10.4g ns, send %10.4g ns  %s\n", m, c, x,
                   c >= x ? "the send hides" : "the send shows");
        }
    }
    trace_ring(&L, R);

    bool closed_ok = ok_link && ok_dev;
    summary_t s;
    summary_begin(&s, cfg, "ring", rp.a.Br, rp.a.Bc);
    io_count all = {0};
    uint64_t sram = 0, hbm = 0, flops = 0, exps = 0, tmin = UINT64_MAX, tmax = 0;
    char tiles[RING_MAX_DEVICES * 21 + 1] = "";
    size_t len = 0;
    for (size_t r = 0; r < P; r++) {
        mem_t *m = ring_mem(R, r);
        io_count c = mem_io(m, NULL, NULL);
        all.rd_elems += c.rd_elems, all.wr_elems += c.wr_elems, all.rd_bytes += c.rd_bytes, all.wr_bytes += c.wr_bytes;
        sram = sram_peak(m) > sram ? sram_peak(m) : sram;
        hbm = mem_hbm_peak(m) > hbm ? mem_hbm_peak(m) : hbm;
        flops += mem_flops(m, NULL), exps += mem_exps(m, NULL);
        uint64_t x = ring_tiles(R, r);
        tmin = x < tmin ? x : tmin, tmax = x > tmax ? x : tmax;
        len += (size_t)snprintf(tiles + len, sizeof tiles - len, "%s%llu", r ? "," : "", (unsigned long long)x);
    }
    lab_sum_kv(&s, {"hbm_read_elems", all.rd_elems}, {"hbm_write_elems", all.wr_elems},
               {"hbm_read_bytes", all.rd_bytes}, {"hbm_write_bytes", all.wr_bytes}, {"sram_peak_bytes", sram},
               {"hbm_peak_bytes", hbm}, {"flops", flops}, {"exps", exps});
    lab_sum_f64(&s, "max_abs_err", !count_only, err_o);
    lab_sum_f64(&s, "L_max_abs_err", !count_only, err_L);
    summary_u64(&s, "devices", P);
    summary_str(&s, "layout", ring_layout_name(rp.layout));
    lab_sum_kv(&s, {"link_elems", tot.elems}, {"link_bytes", tot.bytes});
    summary_str(&s, "device_tiles", tiles);
    summary_f64(&s, "tile_imbalance", (double)tmax / (double)tmin);
    summary_f64(&s, "contiguous_causal_imbalance", imb_c);
    summary_f64(&s, "zigzag_causal_imbalance", imb_z);
    summary_f64(&s, "time_ns", t);
    summary_f64(&s, "time_serial_ns", ts);
    summary_f64(&s, "overlap_rows", n_hide);
    summary_f64(&s, "link_gbs", opts.link_gbs);
    summary_f64(&s, "peak_tflops", opts.peak_tflops);
    summary_u64(&s, "closed_form_ok", closed_ok);
    summary_print(&s, stdout);

    ring_destroy(R);
    free(o), free(lse);
    lab_ref_free(&ref);
    lab_inputs_free(&in);
    return lab_end(&L, closed_ok && ok_out);
}

/* ---- lesson12's own options ----------------------------------------------------------------------------------- */
#ifndef FLASHLAB_NO_MAIN

/* s for an error line: printable ASCII kept, anything else '?', at most 40 characters. */
static const char *escaped(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len && i < 40; i++)
        buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    buf[i] = 0;
    return buf;
}

static double positive(const char *opt, const char *val)
{
    char *end, buf[48];
    double v = strtod(val, &end);
    if (end == val || *end || !(v > 0) || isinf(v))
        fl_fatal("--%s needs a positive number, got '%s' (try --help)", opt, escaped(val, buf, sizeof buf));
    return v;
}

/* Take --devices, --layout, --link-gbs and --peak-tflops (with "=value" or a separate value) out of argv. */
static int take_options(int argc, char **argv)
{
    int out = 1;
    for (int i = 1; i < argc; i++) {
        static const char *const own[] = {"devices", "layout", "link-gbs", "peak-tflops"};
        const char *arg = argv[i], *val = NULL;
        int k = 4;
        for (int j = 0; j < 4 && k == 4; j++) {
            size_t n = strlen(own[j]);
            if (!strncmp(arg, "--", 2) && !strncmp(arg + 2, own[j], n) && (!arg[2 + n] || arg[2 + n] == '='))
                k = j, val = arg[2 + n] ? arg + 3 + n : NULL;
        }
        if (k == 4) {
            argv[out++] = argv[i];
            if (!strcmp(arg, "--"))
                while (++i < argc)
                    argv[out++] = argv[i];
            continue;
        }
        if (!val && i + 1 >= argc)
            fl_fatal("--%s needs a value (try --help)", own[k]);
        if (!val)
            val = argv[++i];
        char buf[48];
        if (k == 0) {
            char *end;
            unsigned long long v = strtoull(val, &end, 10);
            if (!*val || *val < '0' || *val > '9' || *end || v > RING_MAX_DEVICES)
                fl_fatal("--devices needs a whole number from 1 to %d, got '%s'", RING_MAX_DEVICES,
                         escaped(val, buf, sizeof buf));
            opts.P = (size_t)v;   /* 0 is refused with the ring's own words (ring_check) */
        } else if (k == 1) {
            if (ring_layout_parse(val, &opts.layout))
                fl_fatal("--layout must be contiguous or zigzag, got '%s'", escaped(val, buf, sizeof buf));
        } else if (k == 2)
            opts.link_gbs = positive(own[k], val);
        else
            opts.peak_tflops = positive(own[k], val);
    }
    argv[out] = NULL;
    return out;
}

int main(int argc, char **argv)
{
    fl_set_progname(lesson12_spec.name);
    return cli_main(&lesson12_spec, take_options(argc, argv), argv, lesson12_run);
}
#endif
