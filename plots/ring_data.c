/* ring_data — the data of lesson12's figures, from count-only rings (sim/model/ring.c) of H100s on NVLink 4:
 *
 *   lesson12_ring_traffic.dat    link traffic vs P (N fixed): counted and closed form, per link and in all
 *   lesson12_ring_overlap.dat    one step's compute and send vs rows per device n, and the ring's modelled time
 *   lesson12_ring_imbalance.dat  causal: tiles and FLOPs per device, contiguous and zigzag
 *
 *   build/rel/plots/ring_data [--out-dir plots/data]
 *
 * Every count comes from a ring that ran (count-only) and is checked against its closed form here; a mismatch
 * exits 1, a failed write 3 (the partial file removed). Times are the ring's modelled clock, not measurements.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ring.h"
#include "util.h"

#define N_TRAFFIC 65536           /* sequence length of the traffic sweep */
#define P_IMBALANCE 8             /* devices of the imbalance figure */
#define P_OVERLAP 8               /* devices of the overlap sweep */
#define D 128                     /* head dimension */
#define M_BYTES (192 * 1024)      /* SRAM of one H100 SM, about (228 KiB, some for the runtime) */
#define DT DTYPE_BF16

static const char *out_dir = "plots/data";
static int mismatches;

static ring_params make(size_t P, size_t N, ring_layout l, bool causal)
{
    ring_params rp = {.P = P, .layout = l, .link_bytes_per_s = RING_NVLINK4_BYTES_PER_S, .peak_flops = RING_H100_FLOPS,
                      .a = {.algo = ATTN_FLASH2, .B = 1, .N = N, .H = 1, .d = D, .causal = causal}};
    char err[200];
    block_choice bc;
    if (ring_check(&rp, err, sizeof err) || ring_choose_blocks(&rp, M_BYTES, DT, 0, 0, &bc, err, sizeof err))
        fl_fatal("%s", err);
    return rp;
}

static ring_t *run(const ring_params *rp)
{
    ring_t *R = ring_create(rp, M_BYTES, DT, true);
    ring_forward(R);
    for (size_t r = 0; r < rp->P; r++) {
        ring_device_io io;
        ring_device_closed_form(rp, DT, r, &io);
        io_count c = mem_io(ring_mem(R, r), NULL, NULL);
        uint64_t link = 0;
        for (size_t s = 0; s + 1 < rp->P; s++)
            link += ring_link(R, r, s).elems;
        if (c.rd_elems != io.io.rd || c.wr_elems != io.io.wr || ring_tiles(R, r) != io.io.tiles ||
            link != ring_link_closed_form(rp, r)) {
            fprintf(stderr, "ring_data: P=%zu N=%zu device %zu differs from its closed form\n", rp->P, rp->a.N, r);
            mismatches++;
        }
    }
    return R;
}

/* Open out_dir/name for writing; close_data checks every write (exit 3, the partial file removed). */
static FILE *open_data(const char *name, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", out_dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "ring_data: error: cannot write '%s': %s\n", path, strerror(errno));
        exit(FL_EXIT_IO);
    }
    fprintf(f, "# %s — lesson12's figures (build/rel/plots/ring_data); flashlab, count-only rings on the simulator\n"
               "# devices: H100 SXM, %.0f TFLOP/s dense bf16, NVLink 4 at %.0f GB/s each way; d = %d, bf16, SRAM M = %d "
               "bytes, FA2 blocks by its rule\n", name, RING_H100_FLOPS / 1e12, RING_NVLINK4_BYTES_PER_S / 1e9, D,
            M_BYTES);
    return f;
}

static void close_data(FILE *f, const char *path)
{
    if (ferror(f) | fclose(f)) {
        fprintf(stderr, "ring_data: error: writing '%s' failed\n", path);
        remove(path);
        exit(FL_EXIT_IO);
    }
    printf("  wrote %s\n", path);
}

static void traffic(void)
{
    char path[4096];
    FILE *f = open_data("lesson12_ring_traffic.dat", path, sizeof path);
    fprintf(f, "# N = %d, not causal, contiguous. Columns:\n#  1 P  devices\n#  2 link_elems  counted, all links, "
               "all steps\n#  3 closed_elems  2 d (P-1) N\n#  4 per_link_elems  counted, link 0 -> 1\n#  5 "
               "per_device_hbm_elems  counted HBM <-> SRAM traffic of device 0 (reads + writes)\n#  6 "
               "single_device_hbm_elems  the same ring with P = 1: FlashAttention-2 on one device\n", N_TRAFFIC);
    ring_params one = make(1, N_TRAFFIC, RING_CONTIGUOUS, false);
    ring_t *R1 = run(&one);
    io_count c1 = mem_io(ring_mem(R1, 0), NULL, NULL);
    ring_destroy(R1);
    for (size_t P = 1; P <= RING_MAX_DEVICES; P *= 2) {
        ring_params rp = make(P, N_TRAFFIC, RING_CONTIGUOUS, false);
        ring_t *R = run(&rp);
        uint64_t link0 = 0;
        for (size_t s = 0; s + 1 < P; s++)
            link0 += ring_link(R, 0, s).elems;
        io_count c = mem_io(ring_mem(R, 0), NULL, NULL);
        fprintf(f, "%zu %llu %llu %llu %llu %llu\n", P, (unsigned long long)ring_link_total(R).elems,
                (unsigned long long)(2ull * D * (P - 1) * N_TRAFFIC), (unsigned long long)link0,
                (unsigned long long)(c.rd_elems + c.wr_elems), (unsigned long long)(c1.rd_elems + c1.wr_elems));
        ring_destroy(R);
    }
    close_data(f, path);
}

static void overlap(void)
{
    char path[4096];
    FILE *f = open_data("lesson12_ring_overlap.dat", path, sizeof path);
    double hide = RING_H100_FLOPS * (double)dtype_size(DT) / (2 * RING_NVLINK4_BYTES_PER_S);
    fprintf(f, "# P = %d, not causal, contiguous, N = P n. F e / (2 W) = %.1f rows. Columns:\n#  1 n  rows per "
               "device\n#  2 compute_ns  device 0, step 1 (FA2 on n x n and the merge): counted FLOPs / peak\n#  3 "
               "send_ns  device 0, step 1: bytes / link bandwidth\n#  4 time_ns  the ring, sends overlapped "
               "(modelled)\n#  5 serial_ns  each step sending first, then computing\n#  6 compute_ns_all  the "
               "compute of device 0 over all steps (the ring's floor)\n", P_OVERLAP, hide);
    for (size_t n = 256; n <= 32768; n *= 2) {
        ring_params rp = make(P_OVERLAP, n * P_OVERLAP, RING_CONTIGUOUS, false);
        ring_t *R = run(&rp);
        ring_slot x = ring_slot_at(R, 0, 1), y = ring_slot_at(R, 0, 0);
        double all = 0;
        for (size_t s = 0; s < P_OVERLAP; s++)
            all += (double)ring_slot_at(R, 0, s).flops / RING_H100_FLOPS * 1e9;
        fprintf(f, "%zu %.6g %.6g %.6g %.6g %.6g\n", n, x.end - x.start, y.send_end - y.send_start, ring_time_ns(R),
                ring_time_serial_ns(R), all);
        ring_destroy(R);
    }
    close_data(f, path);
}

static void imbalance(void)
{
    char path[4096];
    FILE *f = open_data("lesson12_ring_imbalance.dat", path, sizeof path);
    fprintf(f, "# P = %d, N = %d, causal. Columns:\n#  1 device\n#  2 contiguous_tiles\n#  3 zigzag_tiles\n#  4 "
               "contiguous_flops\n#  5 zigzag_flops\n", P_IMBALANCE, N_TRAFFIC);
    ring_params c = make(P_IMBALANCE, N_TRAFFIC, RING_CONTIGUOUS, true), z = make(P_IMBALANCE, N_TRAFFIC, RING_ZIGZAG,
                                                                                 true);
    ring_t *Rc = run(&c), *Rz = run(&z);
    for (size_t r = 0; r < P_IMBALANCE; r++)
        fprintf(f, "%zu %llu %llu %llu %llu\n", r, (unsigned long long)ring_tiles(Rc, r),
                (unsigned long long)ring_tiles(Rz, r), (unsigned long long)mem_flops(ring_mem(Rc, r), NULL),
                (unsigned long long)mem_flops(ring_mem(Rz, r), NULL));
    ring_destroy(Rc);
    ring_destroy(Rz);
    close_data(f, path);
}

int main(int argc, char **argv)
{
    fl_set_progname("ring_data");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out-dir") && i + 1 < argc)
            out_dir = argv[++i];
        else
            fl_fatal("usage: ring_data [--out-dir DIR]");
    }
    mkdir(out_dir, 0777);   /* an existing directory is fine; a missing one fails at the first write */
    traffic();
    overlap();
    imbalance();
    if (mismatches)
        fprintf(stderr, "ring_data: %d rings differ from their closed forms\n", mismatches);
    return mismatches ? FL_EXIT_CHECK : FL_EXIT_OK;
}
