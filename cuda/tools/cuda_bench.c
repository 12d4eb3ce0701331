/* cuda_bench.c — measurements of the teaching kernels on a GPU, for cuda/tools/bench.sh and cuda/tools/ncu.sh.
 *
 *   cuda_bench sweep FILE [d B H]       v01 standard, v02 flash1, v03 flash2 for N = 1024 .. 16384 (default d=64,
 *                                       B=1, H=16): each checked first (counters == simulator, sampled rows vs the
 *                                       double reference), then timed (median, CUDA events) with its device memory
 *                                       (cudaMemGetInfo around the allocations); a table on stdout and in FILE
 *   cuda_bench once ALGO N d B H [causal]
 *                                       one forward of the plain kernels after one of the counting twins (for
 *                                       Nsight Compute); prints, per kernel, the simulator's bytes for its phase
 *
 * Every version is validated before it is timed; exit status 1 if any check failed (after the whole sweep), 2
 * for bad input or no GPU, 4 for a failing CUDA call.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cuda_attn.h"
#include "gpu_main.h"   // defines: gpu_or_exit
#include "mem.h"
#include "util.h"

#define CHECK_HEADS 4
#define CHECK_ROWS 32

static void make_plan(attn_params *p, const cuda_device *dev, cuda_attn_plan *pl)
{
    block_choice ch;
    char err[512];
    if (attn_choose_blocks(p, false, dev->smem_optin, DTYPE_FP32, 0, 0, &ch, err, sizeof err) ||
        cuda_attn_plan_make(p, dev->smem_optin, pl, err, sizeof err))
        fl_fatal("%s", err);
}

static int sweep(const char *file, size_t d, size_t B, size_t H, const cuda_device *dev, const char *cmd)
{
    FILE *f = fopen(file, "w");
    if (!f)
        fl_fatal("cannot write %s", file);
    time_t now = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    fprintf(f, "# teaching kernels: time and device memory over N (cuda/tools/cuda_bench.c)\n");
    fprintf(f, "# device: %s (%d SMs, %zu bytes shared memory per block); date: %s\n", dev->name, dev->sms,
            dev->smem_optin, date);
    fprintf(f, "# command: %s\n", cmd);
    fprintf(f, "# fp32, d=%zu B=%zu H=%zu, not causal; ms = median of repeats after warm-up (CUDA events);\n", d, B,
            H);
    fprintf(f, "# dev_bytes = device memory the run allocated (cudaMemGetInfo before and after); counted bytes = "
               "kernel counters x 4 (== simulator: match=1)\n");
    fprintf(f, "# N algo Br Bc ms dev_bytes counted_rd_bytes counted_wr_bytes match max_abs_err tflops\n");
    printf("%6s %-9s %4s %4s %10s %12s %14s %14s %5s %9s %7s\n", "N", "algo", "Br", "Bc", "ms", "dev_MiB", "rd_MiB",
           "wr_MiB", "match", "max_err", "TFLOP/s");
    int bad = 0;
    for (size_t N = 1024; N <= 16384; N *= 2) {
        attn_params p0 = {.B = B, .N = N, .H = H, .d = d};
        size_t n = B * N * H * d, nl = B * H * N;
        float *q = xmalloc(n * sizeof *q), *k = xmalloc(n * sizeof *k), *v = xmalloc(n * sizeof *v);
        float *o = xmalloc(n * sizeof *o), *L = xmalloc(nl * sizeof *L);
        cuda_attn_inputs(&p0, 42, q, k, v);
        for (int a = 0; a < CUDA_ATTN_NALGOS; a++) {
            attn_params p = p0;
            p.algo = cuda_attn_algos[a];
            cuda_attn_plan pl;
            make_plan(&p, dev, &pl);
            cuda_counts sim, gpu;
            char err[512];
            gpu_or_exit(cuda_sim_counts(&p, dev->smem_optin, &sim, err, sizeof err), err);
            cuda_attn_session *s;
            gpu_or_exit(cuda_attn_open(&pl, q, k, v, &s, err, sizeof err), err);
            gpu_or_exit(cuda_attn_exec(s, true, &gpu, err, sizeof err), err);
            bool match = cuda_counts_equal(&sim, &gpu), hasL;
            gpu_or_exit(cuda_attn_exec(s, false, NULL, err, sizeof err), err);
            gpu_or_exit(cuda_attn_download(s, o, L, &hasL, err, sizeof err), err);
            cuda_check_stats st;
            cuda_attn_check(&p, q, k, v, o, hasL ? L : NULL, CHECK_HEADS, CHECK_ROWS, &st);
            int reps = p.algo == ATTN_FLASH1 && N >= 8192 ? 3 : 7;
            double ms;
            gpu_or_exit(cuda_attn_time_ms(s, 1, reps, &ms, err, sizeof err), err);
            uint64_t rd = 0, wr = 0;
            for (int t = 0; t < CT_NTENSORS; t++)
                rd += gpu.rd[t] * 4, wr += gpu.wr[t] * 4;
            double tf = 4.0 * B * H * (double)N * N * d / ms / 1e9;
            uint64_t db = cuda_attn_device_bytes(s);
            gpu_or_exit(cuda_attn_close(s, err, sizeof err), err);
            fprintf(f, "%zu %s %zu %zu %.4f %llu %llu %llu %d %.3g %.3f\n", N, attn_algo_name(p.algo), p.Br, p.Bc,
                    ms, (unsigned long long)db, (unsigned long long)rd, (unsigned long long)wr, match,
                    st.max_abs_O, tf);
            printf("%6zu %-9s %4zu %4zu %10.3f %12.1f %14.1f %14.1f %5s %9.2g %7.2f\n", N, attn_algo_name(p.algo),
                   p.Br, p.Bc, ms, db / 1048576.0, rd / 1048576.0, wr / 1048576.0, match ? "yes" : "NO",
                   st.max_abs_O, tf);
            fflush(stdout);
            bad += !match || !st.ok;
        }
        free(q), free(k), free(v), free(o), free(L);
    }
    if (ferror(f) | fclose(f)) {   /* both: fclose must run */
        fprintf(stderr, "cuda_bench: error: writing %s failed\n", file);
        remove(file);
        return FL_EXIT_IO;
    }
    return bad ? FL_EXIT_CHECK : FL_EXIT_OK;
}

static int once(attn_params *p, const cuda_device *dev)
{
    cuda_attn_plan pl;
    make_plan(p, dev, &pl);
    size_t n = p->B * p->N * p->H * p->d;
    float *q = xmalloc(n * sizeof *q), *k = xmalloc(n * sizeof *k), *v = xmalloc(n * sizeof *v);
    cuda_attn_inputs(p, 42, q, k, v);
    /* the simulator's bytes per phase: one phase per kernel (standard: S, softmax, PV; flash: forward) */
    mem_t *m = mem_create(dev->smem_optin, true);
    attn_tensors t = attn_alloc(m, p, DTYPE_FP32, false);
    attn_forward(m, p, &t);
    cuda_counts sim, gpu;
    char err[512];
    gpu_or_exit(cuda_counts_from_ledger(m, &sim, err, sizeof err), err);
    for (int x = 0; x < pl.nkernels; x++) {
        io_count c = mem_io(m, NULL, p->algo == ATTN_STANDARD ? attn_standard_phase[x] : "forward");
        printf("kernel=%s Br=%zu Bc=%zu sim_rd_bytes=%llu sim_wr_bytes=%llu\n", pl.k[x].name, p->Br, p->Bc,
               (unsigned long long)c.rd_bytes, (unsigned long long)c.wr_bytes);
    }
    cuda_attn_session *s;
    gpu_or_exit(cuda_attn_open(&pl, q, k, v, &s, err, sizeof err), err);
    gpu_or_exit(cuda_attn_exec(s, true, &gpu, err, sizeof err), err);
    printf("counters_match=%d\n", cuda_counts_equal(&sim, &gpu));
    gpu_or_exit(cuda_attn_exec(s, false, NULL, err, sizeof err), err);
    gpu_or_exit(cuda_attn_close(s, err, sizeof err), err);
    attn_free(m, &t);
    mem_destroy(m);
    free(q), free(k), free(v);
    return cuda_counts_equal(&sim, &gpu) ? FL_EXIT_OK : FL_EXIT_CHECK;
}

static size_t arg_size(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || !v)
        fl_fatal("expected a positive number, got '%s'", s);
    return (size_t)v;
}

int main(int argc, char **argv)
{
    fl_set_progname("cuda_bench");
    cuda_device dev;
    if (argc < 2)
        fl_fatal("usage: cuda_bench sweep FILE [d B H] | cuda_bench once ALGO N d B H [causal]");
    char err[256];
    gpu_or_exit(cuda_attn_device(&dev, err, sizeof err), err);
    if (!strcmp(argv[1], "sweep") && (argc == 3 || argc == 6)) {
        char cmd[512] = "";
        for (int x = 0; x < argc; x++)
            snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), "%s%s", x ? " " : "", argv[x]);
        return sweep(argv[2], argc == 6 ? arg_size(argv[3]) : 64, argc == 6 ? arg_size(argv[4]) : 1,
                     argc == 6 ? arg_size(argv[5]) : 16, &dev, cmd);
    }
    if (!strcmp(argv[1], "once") && (argc == 7 || argc == 8)) {
        attn_params p = {.N = arg_size(argv[3]), .d = arg_size(argv[4]), .B = arg_size(argv[5]),
                         .H = arg_size(argv[6]), .causal = argc == 8 && !strcmp(argv[7], "causal")};
        if (attn_algo_parse(argv[2], &p.algo))
            fl_fatal("unknown algorithm '%s' (standard, flash1, flash2)", argv[2]);
        return once(&p, &dev);
    }
    fl_fatal("usage: cuda_bench sweep FILE [d B H] | cuda_bench once ALGO N d B H [causal]");
}
