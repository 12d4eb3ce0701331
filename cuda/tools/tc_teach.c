/* tc_teach.c — the naive (v01, standard attention) and teaching (v03, FlashAttention-2 in fp32) kernels of the GPU
 * track timed on the benchmark's shapes, for the same table as the tensor-core kernels (make bench-gpu).
 *
 *   tc_teach FILE [max_N]      d in {64, 128}, N = 512 .. max_N (16384), B = 16384/N, H = 2048/d, causal and not
 *
 * The kernels run through cuda_attn.h (the teaching runner): fp32 inputs, blocks chosen from the device's shared
 * memory as the simulator chooses them from M, checked against fp64 on sampled rows before they are timed, then
 * timed by the runner (gpu_time_ms). Writes "algo d N causal ms tflops" rows to FILE.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cuda_attn.h"
#include "gpu_main.h"   // defines: gpu_or_exit
#include "util.h"

#define WARMUP 1
#define REPS 3          /* these kernels take up to a second at N = 16384: a few repeats give the median */
#define CHECK_HEADS 2
#define CHECK_ROWS 16

int main(int argc, char **argv)
{
    fl_set_progname("tc_teach");
    if (argc < 2 || argc > 3)
        fl_fatal("usage: tc_teach FILE [max_N]");
    size_t max_n = argc == 3 ? (size_t)strtoul(argv[2], NULL, 10) : 16384;
    cuda_device dev;
    char err[512];
    gpu_or_exit(cuda_attn_device(&dev, err, sizeof err), err);
    FILE *f = fopen(argv[1], "w");
    if (!f)
        fl_fatal("cannot write %s", argv[1]);
    fprintf(f, "# %s: v01 standard and v03 flash2 (fp32) through cuda_attn.h, median of %d after %d warm-up\n",
            dev.name, REPS, WARMUP);
    fprintf(f, "algo d N causal ms tflops\n");
    static const attn_algo algos[] = {ATTN_STANDARD, ATTN_FLASH2};
    for (size_t d = 64; d <= 128; d *= 2)
        for (size_t N = 512; N <= max_n; N *= 2) {
            size_t B = 16384 / N, H = 2048 / d, n = B * N * H * d;
            float *q = xmalloc(n * sizeof *q), *k = xmalloc(n * sizeof *k), *v = xmalloc(n * sizeof *v);
            float *o = xmalloc(n * sizeof *o), *lse = xmalloc(B * H * N * sizeof *lse);
            for (int causal = 0; causal <= 1; causal++)
                for (size_t a = 0; a < sizeof algos / sizeof algos[0]; a++) {
                    attn_params p = {.algo = algos[a], .B = B, .N = N, .H = H, .d = d, .causal = causal};
                    block_choice ch;
                    cuda_attn_plan pl;
                    if (attn_choose_blocks(&p, false, dev.smem_optin, DTYPE_FP32, 0, 0, &ch, err, sizeof err) ||
                        cuda_attn_plan_make(&p, dev.smem_optin, &pl, err, sizeof err)) {
                        fprintf(stderr, "tc_teach: %s d=%zu N=%zu: %s\n", attn_algo_name(p.algo), d, N, err);
                        continue;
                    }
                    cuda_attn_inputs(&p, 20261122u + N, q, k, v);
                    cuda_attn_session *s;
                    bool hasL;
                    gpu_or_exit(cuda_attn_open(&pl, q, k, v, &s, err, sizeof err), err);
                    gpu_or_exit(cuda_attn_exec(s, false, NULL, err, sizeof err), err);
                    gpu_or_exit(cuda_attn_download(s, o, lse, &hasL, err, sizeof err), err);
                    cuda_check_stats st;
                    cuda_attn_check(&p, q, k, v, o, algos[a] == ATTN_FLASH2 ? lse : NULL, CHECK_HEADS, CHECK_ROWS,
                                    &st);
                    double ms = NAN;
                    if (st.ok)
                        gpu_or_exit(cuda_attn_time_ms(s, WARMUP, REPS, &ms, err, sizeof err), err);
                    gpu_or_exit(cuda_attn_close(s, err, sizeof err), err);
                    double tf = 4.0 * B * H * N * N * d / (causal ? 2 : 1) / ms / 1e9;
                    fprintf(f, "%s %zu %zu %d %.4f %.2f\n", attn_algo_name(p.algo), d, N, causal, ms, tf);
                    printf("tc_teach: %-8s d=%-3zu N=%-5zu %-6s %9.3f ms %7.2f TFLOP/s  check %s\n",
                           attn_algo_name(p.algo), d, N, causal ? "causal" : "full", ms, tf, st.ok ? "OK" : "FAIL");
                    fflush(stdout);
                }
            free(q), free(k), free(v), free(o), free(lse);
        }
    if (ferror(f) | fclose(f)) {   /* both: fclose must run */
        fprintf(stderr, "tc_teach: error: writing %s failed\n", argv[1]);
        remove(argv[1]);
        return FL_EXIT_IO;
    }
    return FL_EXIT_OK;
}
