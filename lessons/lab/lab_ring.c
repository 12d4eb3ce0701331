/* lab_ring.c — lesson12's options, tables, trace spans and summary around the ring (include/lab/lab_ring.h). */
#include "lab_ring.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab_attn.h"   // defines: lab_io_row
#include "report.h"     // defines: report_mark
#include "util.h"

static lab_ring_opts opts = {4, RING_CONTIGUOUS, RING_NVLINK4_BYTES_PER_S / 1e9, RING_H100_FLOPS / 1e12};

const lab_ring_opts *lab_ring_options(void) { return &opts; }

/* ---- the options ---------------------------------------------------------------------------------------------- */
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

int lab_ring_main(const cli_spec *spec, int argc, char **argv, lesson_fn run)
{
    fl_set_progname(spec->name);
    return cli_main(spec, take_options(argc, argv), argv, run);
}

/* ---- the ring ------------------------------------------------------------------------------------------------- */
ring_params lab_ring_params(const cli_cfg *cfg, ring_layout layout, bool causal)
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

uint64_t lab_ring_planned_tiles(const ring_params *rp, dtype_t dt)
{
    uint64_t t = 0;
    for (size_t r = 0; r < rp->P; r++) {
        ring_device_io io;
        ring_device_closed_form(rp, dt, r, &io);
        t += io.io.tiles;
    }
    return t;
}

double lab_ring_causal_tiles(const cli_cfg *cfg, ring_layout l, uint64_t *tiles)
{
    ring_params rp = lab_ring_params(cfg, l, true);
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

/* ---- the parts' tables ---------------------------------------------------------------------------------------- */
/* "  ... and 3 more devices" after a list cut at twice LAB_RING_SHOW_DEVICES. */
static void more_devices(const lab_t *L, size_t P)
{
    if (L->show && P > 2 * LAB_RING_SHOW_DEVICES)
        printf("  ... and %zu more devices\n", P - 2 * LAB_RING_SHOW_DEVICES);
}

void lab_ring_show_split(const lab_t *L, const ring_params *rp)
{
    for (size_t r = 0; L->show && r < rp->P && r < 2 * LAB_RING_SHOW_DEVICES; r++) {
        ring_chunk c = ring_chunk_of(rp, r);
        printf("  device %-3zu %6zu rows, positions ", r, c.n);
        for (size_t k = 0; k < c.npieces; k++)
            if (c.piece[k].n)
                printf("%s%zu..%zu", k ? " + " : "", c.piece[k].pos, c.piece[k].pos + c.piece[k].n - 1);
        putchar('\n');
    }
    more_devices(L, rp->P);
}

/* Step by step, what each device computes: "rows x keys (src)", c on the causal diagonal, - when all is masked. */
void lab_ring_show_steps(const lab_t *L, const ring_params *rp)
{
    if (!L->show || rp->P > LAB_RING_SHOW_DEVICES)
        return;
    printf("  what each device computes: query rows x keys of the chunk it holds (whose chunk)%s\n  step",
           rp->a.causal ? ";\n  c: masked on the diagonal, -: every key after every query, nothing to do" : "");
    for (size_t r = 0; r < rp->P; r++)
        printf("   device %-7zu", r);
    putchar('\n');
    for (size_t s = 0; s < rp->P && s < LAB_RING_SHOW_STEPS; s++) {
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

bool lab_ring_check_links(const lab_t *L, ring_t *R)
{
    const ring_params *rp = ring_params_of(R);
    size_t P = rp->P;
    bool ok = true, table = L->show && P <= LAB_RING_SHOW_DEVICES;
    for (size_t r = 0; r < P; r++) {
        uint64_t sum = 0;
        if (table && P > 1)
            printf("  link %zu -> %zu:", r, (r + 1) % P);
        for (size_t s = 0; s + 1 < P; s++) {
            sum += ring_link(R, r, s).elems;
            if (table && s < LAB_RING_SHOW_STEPS)
                printf(" %8llu", (unsigned long long)ring_link(R, r, s).elems);
        }
        bool same = sum == ring_link_closed_form(rp, r);
        ok &= same;
        if (table && P > 1)
            printf("   = %llu, closed form %llu %s\n", (unsigned long long)sum,
                   (unsigned long long)ring_link_closed_form(rp, r), report_mark(same));
    }
    return ok;
}

bool lab_ring_check_devices(const lab_t *L, ring_t *R, dtype_t dt)
{
    const ring_params *rp = ring_params_of(R);
    static const char *const names[] = {"Q", "K", "V", "Kin", "Vin", "O", "L", "Os", "Ls"};
    bool ok = true, table = L->show && rp->P <= LAB_RING_SHOW_DEVICES;
    if (table) {
        printf("  elements read / written per device, counted (= closed form ✓, else ✗):\n  %-6s", "");
        for (size_t r = 0; r < rp->P; r++)
            printf("  %17s %zu", "device", r);
        printf("\n");
    }
    ring_device_io want[RING_MAX_DEVICES];
    for (size_t r = 0; r < rp->P; r++)
        ring_device_closed_form(rp, dt, r, &want[r]);
    /* one device receives nothing: no Kin, Vin, Os, Ls */
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
        if (L->show && (rp->P <= LAB_RING_SHOW_DEVICES || !same))
            printf("  device %zu: reads %llu, writes %llu elements, %llu tiles, HBM peak %llu bytes: closed form %s\n",
                   r, (unsigned long long)t.rd_elems, (unsigned long long)t.wr_elems,
                   (unsigned long long)ring_tiles(R, r), (unsigned long long)mem_hbm_peak(ring_mem(R, r)),
                   report_mark(same));
    }
    return ok;
}

void lab_ring_show_causal(const lab_t *L, size_t P, const uint64_t *contiguous, const uint64_t *zigzag)
{
    for (size_t r = 0; L->show && r < P && r < 2 * LAB_RING_SHOW_DEVICES; r++)
        printf("  device %-3zu contiguous %10llu   zigzag %10llu\n", r, (unsigned long long)contiguous[r],
               (unsigned long long)zigzag[r]);
    more_devices(L, P);
}

void lab_ring_show_clock(const lab_t *L, ring_t *R, dtype_t dt)
{
    const ring_params *rp = ring_params_of(R);
    size_t P = rp->P, d = rp->a.d;
    if (L->show && P <= LAB_RING_SHOW_DEVICES) {
        printf("  device %zu's steps (ns): compute start..end, send start..end\n", P - 1);
        for (size_t s = 0; s < P && s < LAB_RING_SHOW_STEPS; s++) {
            ring_slot x = ring_slot_at(R, P - 1, s);
            printf("    step %zu: compute %10.4g..%-10.4g", s, x.start, x.end);
            if (s + 1 < P)
                printf("   send %10.4g..%-10.4g", x.send_start, x.send_end);
            putchar('\n');
        }
    }
    if (!L->show)
        return;
    /* one full step of n rows against n keys, at this d and dtype: arithmetic only */
    double F = opts.peak_tflops * 1e12, W = opts.link_gbs * 1e9, e = (double)dtype_size(dt);
    printf("  one full step in %s, by rows per device n: compute 4n²d/F against a send 2nd·e/W (d = %zu)\n",
           dtype_name(dt), d);
    for (double m = 512; m <= 32768; m *= 2) {
        double c = 4 * m * m * (double)d / F * 1e9, x = 2 * m * (double)d * e / W * 1e9;
        printf("    n = %6.0f: compute %10.4g ns, send %10.4g ns  %s\n", m, c, x,
               c >= x ? "the send hides" : "the send shows");
    }
}

void lab_ring_trace(lab_t *L, ring_t *R)
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

/* ---- the summary ---------------------------------------------------------------------------------------------- */
void lab_ring_summary(const cli_cfg *cfg, ring_t *R, const lab_ring_result *res)
{
    const ring_params *rp = ring_params_of(R);
    summary_t s;
    summary_begin(&s, cfg, "ring", rp->a.Br, rp->a.Bc);
    io_count all = {0};
    uint64_t sram = 0, hbm = 0, flops = 0, exps = 0, tmin = UINT64_MAX, tmax = 0;
    char tiles[RING_MAX_DEVICES * 21 + 1] = "";
    size_t len = 0;
    for (size_t r = 0; r < rp->P; r++) {
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
    ring_count link = ring_link_total(R);
    lab_sum_kv(&s, {"hbm_read_elems", all.rd_elems}, {"hbm_write_elems", all.wr_elems},
               {"hbm_read_bytes", all.rd_bytes}, {"hbm_write_bytes", all.wr_bytes}, {"sram_peak_bytes", sram},
               {"hbm_peak_bytes", hbm}, {"flops", flops}, {"exps", exps});
    lab_sum_f64(&s, "max_abs_err", !cfg->count_only, res->err_o);
    lab_sum_f64(&s, "L_max_abs_err", !cfg->count_only, res->err_L);
    summary_u64(&s, "devices", rp->P);
    summary_str(&s, "layout", ring_layout_name(rp->layout));
    lab_sum_kv(&s, {"link_elems", link.elems}, {"link_bytes", link.bytes});
    summary_str(&s, "device_tiles", tiles);
    lab_sum_fkv(&s, {"tile_imbalance", (double)tmax / (double)tmin},
                {"contiguous_causal_imbalance", res->imb_contiguous}, {"zigzag_causal_imbalance", res->imb_zigzag},
                {"time_ns", ring_time_ns(R)},
                {"time_serial_ns", ring_time_serial_ns(R)}, {"overlap_rows", res->overlap_rows},
                {"link_gbs", opts.link_gbs}, {"peak_tflops", opts.peak_tflops});
    summary_u64(&s, "closed_form_ok", res->closed_ok);
    summary_print(&s, stdout);
}
