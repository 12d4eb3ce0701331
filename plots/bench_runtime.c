/* bench_runtime — figure 5's data: CPU run time of the simulator's attention forward vs N, standard vs flash.
 *
 * A benchmark, not a test: real arithmetic on the memory model, every algorithm validated against the double
 * reference before it is timed, one warm-up call, then the median (and min, max) of repeats, all algorithms in the
 * same run on the same inputs: standard, flash1 and flash2 on one thread, then flash2 on all threads. What it measures is the simulator on this CPU (its loads copy element by element
 * through the dtype converter), not a GPU: the modelled GPU time is lesson05's business. The machine, compiler and
 * thread count go into the data file's header and the figure's title.
 *
 *   build/rel/plots/bench_runtime                       N = 256 ... 2048, d = 64, fp32, 5 repeats
 *   build/rel/plots/bench_runtime -N 1024 --threads 1 --out-dir /tmp
 * Writes <out-dir>/runtime.dat (default plots/out/data, made if missing; the file appears only whole: a failed
 * write is exit 3 and no file); the last line on stdout is a summary line.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "attention.h"
#include "bench.h"
#include "cli.h"
#include "outfile.h"
#include "reference.h"
#include "rng.h"
#include "summary.h"
#include "util.h"
#include "verify.h"

#define WARMUP 1
#define REPS 5
/* Real arithmetic is O(N^2 d) per call on one CPU thread: 8192 already takes minutes for the whole run. */
#define MAX_N 8192
/* fp32 storage, fp32 tile arithmetic against a double reference: a few ulps per dot product of length N. */
#define ATOL_FP32 2e-5
#define RTOL_FP32 2e-4

/* The algorithms on one thread each (their work, side by side), then flash2 on every thread: its query blocks are
 * independent, so it is the one that parallelizes within a head (standard and flash1 only across heads). */
typedef struct {
    attn_algo algo;
    int threads;      /* 0: all (--threads, or OpenMP's default) */
    char label[48];
} run_def;
#define MAXRUNS 4

typedef struct {
    mem_t *m;
    attn_params p;
    attn_tensors t;
} fwd_ctx;

static void run_forward(void *ctx)
{
    fwd_ctx *c = ctx;
    attn_forward(c->m, &c->p, &c->t);
}

/* The 1-minute load average (/proc/loadavg), NaN where the system has none: figure 5 warns when the machine was
 * busy, since other work slows the timed runs. */
static double load_average(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double l = NAN;
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = NAN;
        fclose(f);
    }
    return l;
}

static int bench_main(const cli_cfg *cfg)
{
    if (cfg->N > MAX_N)
        fl_fatal("-N %zu: real arithmetic at N above %d would run for hours on a CPU; lesson05 counts any N", cfg->N,
                 MAX_N);
    size_t d = cfg->d, Ns[16], nN = 0;
    for (size_t v = cfg->N < 256 ? cfg->N : 256; v <= cfg->N && nN < 16; v *= 2)
        Ns[nN++] = v;
    if (Ns[nN - 1] != cfg->N && nN < 16)
        Ns[nN++] = cfg->N;
    char path[4096], machine[384], dir[4 * sizeof path];
    outfile_mkdirs(cfg->out_dir);   /* before minutes of benchmarks: a directory that cannot be made stops now */
    snprintf(path, sizeof path, "%s/runtime.dat", cfg->out_dir);
#ifdef _OPENMP
    if (cfg->threads > 0)
        omp_set_num_threads(cfg->threads);   /* so the machine line names the threads the runs use */
#endif
    bench_machine(machine, sizeof machine);

    char threads_opt[32] = "";
    if (cfg->threads > 0)
        snprintf(threads_opt, sizeof threads_opt, " --threads %d", cfg->threads);
    outfile *dat = outfile_open(path);   /* all or nothing: runtime.dat appears only complete (else exit 3) */
    FILE *f = outfile_stream(dat);
    fprintf(f, "# runtime.dat — CPU run time of attention forward on the simulator (real arithmetic), figure 5\n"
               "# command: build/rel/plots/bench_runtime -N %zu -d %zu --sram %zu --dtype %s%s --out-dir %s\n"
               "# machine: %s\n"
               "# method: inputs ~ N(0,1) from seed %llu; each algorithm validated against the double reference, "
               "then %d warm-up call(s) and %d timed repeats, all algorithms in the same run\n"
               "# columns (one block per run, named by its '# algo:' line, separated by two blank lines; gnuplot `index k`):\n"
               "#  1 N          sequence length (tokens)\n"
               "#  2 median_ms  median run time of one forward pass (milliseconds)\n"
               "#  3 min_ms     fastest repeat (milliseconds)\n"
               "#  4 max_ms     slowest repeat (milliseconds)\n"
               "#  5 Br         query rows per block\n"
               "#  6 Bc         key rows per block\n"
               "#  7 max_abs_err largest |O - O_ref| of the validation call\n",
            cfg->N, d, cfg->M_bytes, dtype_name(cfg->dtype), threads_opt, fl_escape(cfg->out_dir, dir, sizeof dir),
            machine,
            (unsigned long long)cfg->seed, WARMUP, REPS);

    int all = 1;
#ifdef _OPENMP
    all = omp_get_max_threads();
#endif
    run_def runs[MAXRUNS] = {{ATTN_STANDARD, 1, "standard"}, {ATTN_FLASH1, 1, "flash1"}, {ATTN_FLASH2, 1, "flash2"}};
    size_t nruns = 3;
    if (all > 1) {
        runs[nruns] = (run_def){ATTN_FLASH2, all, ""};
        snprintf(runs[nruns].label, sizeof runs[nruns].label, "flash2_%d_threads", all);
        nruns++;
    }
    double load_before = load_average();
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    bench_result res[MAXRUNS][16];
    size_t Br[MAXRUNS][16], Bc[MAXRUNS][16];
    double err[MAXRUNS][16];
    printf("bench_runtime — attention forward on the simulator, real arithmetic, d = %zu, %s, M = %zu bytes\n"
           "%s; %d warm-up, median of %d\n\n%8s", d, dtype_name(cfg->dtype), cfg->M_bytes, machine, WARMUP, REPS,
           "N");
    for (size_t a = 0; a < nruns; a++)
        printf("  %18s ms %8s", runs[a].label, "max err");
    putchar('\n');

    for (size_t k = 0; k < nN; k++) {
        size_t N = Ns[k], n = N * d;
        rng_t r;
        rng_seed(&r, cfg->seed);
        float *q = xmalloc(n * sizeof *q), *kk = xmalloc(n * sizeof *kk), *v = xmalloc(n * sizeof *v);
        float *o = xmalloc(n * sizeof *o);
        double *o_ref = xmalloc(n * sizeof *o_ref);
        rng_fill_normal(&r, q, n, 1.0f);
        rng_fill_normal(&r, kk, n, 1.0f);
        rng_fill_normal(&r, v, n, 1.0f);
        ref_attention_bnhd(q, kk, v, 1, N, 1, d, 1.0 / sqrt((double)d), false, o_ref, NULL);
        printf("%8zu", N);
        for (size_t a = 0; a < nruns; a++) {
            fwd_ctx c = {.m = mem_create(cfg->M_bytes, false),
                         .p = {.algo = runs[a].algo, .B = 1, .N = N, .H = 1, .d = d, .threads = runs[a].threads}};
            block_choice ch;
            char e[512];
            if (attn_choose_blocks(&c.p, false, cfg->M_bytes, cfg->dtype, 0, 0, &ch, e, sizeof e))
                fl_fatal("%s", e);
            c.t = attn_alloc(c.m, &c.p, cfg->dtype, false);
            hbm_upload(c.t.q, q);
            hbm_upload(c.t.k, kk);
            hbm_upload(c.t.v, v);
            run_forward(&c);   /* the validation call: a wrong answer is never timed */
            hbm_download(c.t.out, o);
            verify_stats st;
            if (!verify_close(o_ref, o, n, ATOL_FP32, RTOL_FP32, runs[a].label, &st, NULL)) {
                verify_close(o_ref, o, n, ATOL_FP32, RTOL_FP32, runs[a].label, &st, stderr);
                fl_fatal("%s at N=%zu gives a wrong O; not timing it", runs[a].label, N);
            }
            bench_run(run_forward, &c, WARMUP, REPS, &res[a][k]);
            Br[a][k] = c.p.Br;
            Bc[a][k] = c.p.Bc;
            err[a][k] = st.max_abs;
            printf("  %21.2f %8.1e", res[a][k].median_ms, st.max_abs);
            fflush(stdout);
            attn_free(c.m, &c.t);
            mem_destroy(c.m);
        }
        putchar('\n');
        free(q), free(kk), free(v), free(o), free(o_ref);
    }
    /* before: other work (ours had not started); after: ours included (the all-threads run keeps every CPU busy) */
    char lb[16] = "na", la[16] = "na";   /* na: not measured (no /proc/loadavg) */
    double load_after = load_average();
    if (!isnan(load_before))
        snprintf(lb, sizeof lb, "%.2f", load_before);
    if (!isnan(load_after))
        snprintf(la, sizeof la, "%.2f", load_after);
    fprintf(f, "# load: 1-minute load average %s before the runs, %s after them, %ld CPUs online\n", lb, la, cpus);
    for (size_t a = 0; a < nruns; a++) {
        fprintf(f, "%s# algo: %s\n", a ? "\n\n" : "", runs[a].label);
        for (size_t k = 0; k < nN; k++)
            fprintf(f, "%zu %.4f %.4f %.4f %zu %zu %.3g\n", Ns[k], res[a][k].median_ms, res[a][k].min_ms,
                    res[a][k].max_ms, Br[a][k], Bc[a][k], err[a][k]);
    }
    outfile_commit(dat);
    printf("\nwrote %s\n", path);

    summary_t s;
    summary_begin(&s, cfg, "standard,flash1,flash2", Br[2][nN - 1], Bc[2][nN - 1]);
    for (size_t a = 0; a < nruns; a++) {
        char key[64];
        snprintf(key, sizeof key, "%s_ms", runs[a].label);
        summary_f64(&s, key, res[a][nN - 1].median_ms);
    }
    summary_u64(&s, "warmup", WARMUP);
    summary_u64(&s, "reps", REPS);
    double worst = 0;
    for (size_t a = 0; a < nruns; a++)
        for (size_t k = 0; k < nN; k++)
            worst = err[a][k] > worst ? err[a][k] : worst;
    summary_f64(&s, "max_abs_err", worst);
    summary_print(&s, stdout);
    return 0;
}

static const cli_spec spec = {
    .name = "bench_runtime",
    .title = "CPU run time of the simulator's attention forward vs N: standard vs flash (figure 5)",
    .details = "Sequence lengths 256, 512, ... up to N. Each algorithm is checked against the double reference, then "
               "timed:\none warm-up call and the median of 5 repeats, all algorithms in the same run: standard, flash1 and\n"
               "flash2 on one thread, then flash2 on all threads (--threads, or OMP_NUM_THREADS).",
    .defaults = {.N = 2048, .d = 64, .B = 1, .H = 1, .M_bytes = 192 * 1024, .dtype = DTYPE_FP32, .seed = 42,
                 .out_dir = "plots/out/data"},
    .extra = CLI_OPT_OUT_DIR | CLI_OPT_THREADS,
};

int main(int argc, char **argv) { return cli_main(&spec, argc, argv, bench_main); }
