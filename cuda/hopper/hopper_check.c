/* hopper_check.c — every Hopper version (cuda/hopper/hopper.def) checked before any is timed: the products alone
 * on one tile (probe), O and L against fp64 with Tri Dao's criterion on every row of small ragged shapes and on
 * sampled rows of the benchmark's shapes, and the counting twins' loads and stores against the simulator's flash2
 * ledger and its closed form, per tensor, exactly.
 *
 *   hopper_check                  small shapes (every row), benchmark shapes (sampled rows), counters
 *   hopper_check --quick          small shapes, counters
 *   hopper_check --big            benchmark shapes only (sampled rows)
 *   hopper_check --tiny           four small shapes in fp16, no counters (for compute-sanitizer); the fourth has
 *                                 more tiles than an H100 has SMs, so persistent blocks walk several tiles
 *   hopper_check --probe          only the products on one tile, per tile shape
 *   hopper_check --versions a,b   only these versions (a kernel that faults spoils the process's CUDA context:
 *                                 run one version per process to see the others)
 *   hopper_check --table          no GPU needed: which version `final` runs for each head dimension, mask and N
 *                                 (hopper_final.def), with its blocks; a check that every case has a version and
 *                                 that final's blocks (hence its ledger) are that version's
 *
 * One line per check, "hopper_check: X of Y checks passed" last. Exit status: 0 all passed, 1 a check failed,
 * 2 bad usage or no GPU, 3 a CUDA error or a launch that failed (the line before says which), or the report
 * could not be written.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

#include "hopper.h"
#include "fwd_host.h"   // defines: tc_problem_new, tc_ref_new, fwd_check, fwd_count, fwd_print_check, ...
#include "rng.h"
#include "util.h"
#include "outfile.h"   // defines: outfile_check_stdout

#define SEED 20261206u
#define BIG_ROWS 64         /* rows checked per benchmark-sized shape: a fp64 row costs 4 N d flops */
/* Probe: fp32 sums of 16-bit products differ from fp64 by ~1e-7 relative; a wrong layout by O(1). */
#define PROBE_RTOL 1e-4

static int checks, passed, broken;
static char selected[512];

static bool wanted(int v)
{
    if (!selected[0])
        return true;
    const char *name = hp_versions[v].name;
    size_t n = strlen(name);
    for (const char *s = selected; (s = strstr(s, name)); s += n)
        if ((s == selected || s[-1] == ',') && (s[n] == ',' || s[n] == 0))
            return true;
    return false;
}

static bool supports(int v, size_t d)
{
    int br, bc;
    hp_versions[v].blocks((int)d, 0, 1, &br, &bc);   /* final has rows of both causalities for every d */
    return br > 0;
}

/* A failing cudaFree is a broken device: said, and counted like a failed launch. */
static void free_problem(tc_problem *p)
{
    char err[256];
    if (tc_problem_free(p, err, sizeof err)) {
        printf("freeing the problem  FAIL (%s)\n", err);
        broken = 1;
    }
}

static void probe(int d, int bc, dtype_t dt)
{
    const size_t nq = 64 * (size_t)d, nk = (size_t)bc * d;
    float *h = xmalloc((nq + 2 * nk) * sizeof *h), *s = xmalloc(64 * (size_t)bc * sizeof *s);
    float *o = xmalloc(nq * sizeof *o);
    uint16_t *raw = xmalloc((nq + 2 * nk) * sizeof *raw);
    rng_t r;
    rng_seed(&r, SEED + (uint64_t)d * 1000 + bc);
    rng_fill_normal(&r, h, nq + 2 * nk, 1.0f);
    for (size_t x = 0; x < nq + 2 * nk; x++) {
        raw[x] = dt == DTYPE_FP16 ? fp16_from_float(h[x]) : bf16_from_float(h[x]);
        h[x] = dt == DTYPE_FP16 ? fp16_to_float(raw[x]) : bf16_to_float(raw[x]);
    }
    void *dev;
    float *ds, *dout;
    char err[256] = "";
    int rc = cudaMalloc(&dev, (nq + 2 * nk) * 2) || cudaMalloc((void **)&ds, 64 * (size_t)bc * 4) ||
             cudaMalloc((void **)&dout, nq * 4) || cudaMemcpy(dev, raw, (nq + 2 * nk) * 2, cudaMemcpyHostToDevice);
    const uint16_t *dq = dev, *dk = dq + nq, *dv = dk + nk;
    if (!rc)
        rc = hp_probe(d, bc, dt, dq, dk, dv, ds, dout, err, sizeof err);
    if (!rc)
        rc = cudaDeviceSynchronize() || cudaMemcpy(s, ds, 64 * (size_t)bc * 4, cudaMemcpyDeviceToHost) ||
             cudaMemcpy(o, dout, nq * 4, cudaMemcpyDeviceToHost);
    checks++;
    if (rc) {
        printf("probe d=%-3d Bc=%-3d %s  FAIL (%s)\n", d, bc, dtype_name(dt),
               err[0] ? err : cudaGetErrorString(cudaGetLastError()));
        broken = 1;
    } else {
        const float *q = h, *k = h + nq, *v = h + nq + nk;
        double es = 0, ms = 0, eo = 0, mo = 0;
        for (int i = 0; i < 64; i++)
            for (int j = 0; j < bc; j++) {
                double acc = 0;
                for (int x = 0; x < d; x++)
                    acc += (double)q[i * d + x] * k[j * d + x];
                es = fmax(es, isnan(s[i * bc + j]) ? INFINITY : fabs(s[i * bc + j] - acc));
                ms = fmax(ms, fabs(acc));
            }
        for (int i = 0; i < 64; i++)
            for (int x = 0; x < d; x++) {
                double acc = 0;
                for (int j = 0; j < bc; j++)
                    acc += (double)dtype_round(dt, s[i * bc + j]) * v[j * d + x];
                eo = fmax(eo, isnan(o[i * d + x]) ? INFINITY : fabs(o[i * d + x] - acc));
                mo = fmax(mo, fabs(acc));
            }
        bool ok = es <= PROBE_RTOL * ms && eo <= PROBE_RTOL * mo;
        passed += ok;
        printf("probe d=%-3d Bc=%-3d %s  S=QK^T max err %.2e (of %.1f)  O=PV max err %.2e (of %.1f)  %s\n", d, bc,
               dtype_name(dt), es, ms, eo, mo, ok ? "OK" : "FAIL");
    }
    cudaFree(dev), cudaFree(ds), cudaFree(dout);
    (void)cudaGetLastError();
    free(h), free(s), free(o), free(raw);
}

static void check_shape(const tc_shape *s, size_t max_rows)
{
    char err[256];
    tc_problem *p;
    if (tc_problem_new(s, SEED + s->N * 31 + s->d, &p, err, sizeof err)) {
        printf("problem B=%zu N=%zu H=%zu d=%zu  FAIL (%s)\n", s->B, s->N, s->H, s->d, err);
        checks++, broken = 1;
        return;
    }
    for (int causal = 0; causal <= 1; causal++) {
        tc_ref *ref = tc_ref_new(p, causal, max_rows, SEED + 7);
        for (int v = 0; v < hp_nversions; v++) {
            if (!wanted(v) || !supports(v, s->d))
                continue;
            tc_result r;
            checks++;
            if (fwd_check(p, ref, &hp_versions[v], &r, err, sizeof err)) {
                printf("%-13s d=%-3zu %s  FAIL (%s)\n", hp_versions[v].name, s->d, dtype_name(s->dt), err);
                broken = 1;
                continue;
            }
            passed += r.ok;
            fwd_print_check(hp_versions[v].name, s, causal, &r);
        }
        tc_ref_free(ref);
    }
    free_problem(p);
}

static void check_counts(const tc_shape *s)
{
    char err[256];
    tc_problem *p;
    if (tc_problem_new(s, SEED, &p, err, sizeof err)) {
        printf("problem B=%zu N=%zu H=%zu d=%zu  FAIL (%s)\n", s->B, s->N, s->H, s->d, err);
        checks++, broken = 1;
        return;
    }
    for (int causal = 0; causal <= 1; causal++)
        for (int v = 0; v < hp_nversions; v++) {
            if (!wanted(v) || !supports(v, s->d))
                continue;
            tc_counts c;
            checks++;
            if (fwd_count(p, causal, &hp_versions[v], &c, err, sizeof err)) {
                printf("%-13s counters FAIL (%s)\n", hp_versions[v].name, err);
                broken = 1;
                continue;
            }
            passed += c.ok;
            fwd_print_counts(hp_versions[v].name, s, causal, &c);
        }
    free_problem(p);
}

static const size_t dims[] = {32, 64, 96, 128, 256};

/* --table: final's rule read back through the library, per head dimension and mask, over N = 1 ... 65536. */
static int final_table(void)
{
    static const size_t ns[] = {1, 512, 1024, 2048, 4096, 8192, 16384, 65536};
    const int fin = hp_find("final");
    if (fin < 0) {
        fprintf(stderr, "hopper_check: no version named final in hopper.def\n");
        return 1;
    }
    printf("final's rule (hopper_final.def): the version that runs, Br x Bc\n%-4s %-6s", "d", "mask");
    for (size_t x = 0; x < sizeof ns / sizeof ns[0]; x++)
        printf(" %18zu", ns[x]);
    printf("   (N)\n");
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        for (int causal = 0; causal <= 1; causal++) {
            printf("%-4zu %-6s", dims[i], causal ? "causal" : "none");
            for (size_t x = 0; x < sizeof ns / sizeof ns[0]; x++) {
                const char *name = hp_final_pick((int)dims[i], causal, ns[x]);
                const int v = name ? hp_find(name) : -1;
                int fbr = 0, fbc = 0, br = 0, bc = 0;
                hp_versions[fin].blocks((int)dims[i], causal, ns[x], &fbr, &fbc);
                if (v >= 0)
                    hp_versions[v].blocks((int)dims[i], causal, ns[x], &br, &bc);
                const bool ok = v >= 0 && br > 0 && bc > 0 && fbr == br && fbc == bc;
                char cell[40];
                snprintf(cell, sizeof cell, "%s %dx%d%s", name ? name : "none", br, bc, ok ? "" : " FAIL");
                printf(" %18s", cell);
                checks++, passed += ok;
            }
            printf("\n");
        }
    printf("hopper_check: %d of %d checks passed\n", passed, checks);
    return passed == checks ? 0 : 1;
}

static int check_main(int argc, char **argv)
{
    fl_set_progname("hopper_check");
    bool quick = false, tiny = false, probe_only = false, big = false;
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--quick"))
            quick = true;
        else if (!strcmp(argv[a], "--big"))
            big = true;
        else if (!strcmp(argv[a], "--tiny"))
            tiny = true;
        else if (!strcmp(argv[a], "--probe"))
            probe_only = true;
        else if (!strcmp(argv[a], "--table") && argc == 2)
            return final_table();
        else if (!strcmp(argv[a], "--versions") && a + 1 < argc && strlen(argv[a + 1]) < sizeof selected)
            strcpy(selected, argv[++a]);
        else {
            fprintf(stderr, "usage: hopper_check [--quick | --big | --tiny | --probe] [--versions a,b,...]"
                            " | --table\n");
            return 2;
        }
    }
    int devs = 0;
    if (cudaGetDeviceCount(&devs) != cudaSuccess || !devs) {
        fprintf(stderr, "hopper_check: no CUDA device found (this command needs an sm_90 GPU)\n");
        return 2;
    }
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess || prop.major != 9) {
        fprintf(stderr, "hopper_check: device 0 is not a Hopper GPU (compute capability %d.%d)\n", prop.major,
                prop.minor);
        return 2;
    }
    printf("hopper_check: %s, %d SMs; %d versions\n", prop.name, prop.multiProcessorCount, hp_nversions);

    if (probe_only) {
        static const int pr[][2] = {{32, 128}, {64, 64},   {64, 128}, {64, 192}, {96, 128},
                                    {128, 128}, {128, 176}, {256, 64}, {256, 80}};
        for (size_t x = 0; x < sizeof pr / sizeof pr[0]; x++)
            probe(pr[x][0], pr[x][1], DTYPE_FP16);
        probe(128, 128, DTYPE_BF16);
        printf("hopper_check: %d of %d checks passed\n", passed, checks);
        return broken ? 3 : passed == checks ? 0 : 1;
    }
    if (tiny) {
        check_shape(&(tc_shape){2, 17, 3, 64, DTYPE_FP16}, SIZE_MAX);
        check_shape(&(tc_shape){1, 333, 2, 128, DTYPE_FP16}, SIZE_MAX);
        check_shape(&(tc_shape){1, 200, 1, 256, DTYPE_FP16}, SIZE_MAX);
        check_shape(&(tc_shape){1, 333, 2, 32, DTYPE_FP16}, SIZE_MAX);
        /* 192 tiles of 128 rows > 132 SMs: the dynamic scheduler reuses its index slots within a block */
        check_shape(&(tc_shape){1, 333, 64, 128, DTYPE_FP16}, BIG_ROWS);
    } else if (!big) {
        /* Small shapes, every row: N = 1, ragged blocks, N below and above the blocks, B and H > 1. */
        static const size_t small[][3] = {{1, 1, 1}, {2, 17, 3}, {1, 200, 2}, {2, 333, 1}, {1, 1000, 1}};
        for (size_t x = 0; x < sizeof dims / sizeof dims[0]; x++)
            for (int dt = DTYPE_FP16; dt <= DTYPE_BF16; dt++)
                for (size_t y = 0; y < sizeof small / sizeof small[0]; y++)
                    check_shape(&(tc_shape){small[y][0], small[y][1], small[y][2], dims[x], (dtype_t)dt}, SIZE_MAX);
    }
    if (!quick && !tiny) {
        /* The benchmark's shapes (hidden 2048, B N = 16384), sampled rows; a ragged one. */
        static const size_t big[][4] = {{4, 4096, 32, 64}, {1, 16384, 32, 64}, {4, 4096, 16, 128}, {1, 16384, 16, 128},
                                        {2, 8192, 21, 96}, {2, 8192, 8, 256}, {3, 5000, 16, 128}, {2, 8192, 64, 32}};
        for (size_t x = 0; x < sizeof big / sizeof big[0]; x++)
            check_shape(&(tc_shape){big[x][0], big[x][1], big[x][2], big[x][3], DTYPE_FP16}, BIG_ROWS);
        check_shape(&(tc_shape){2, 8192, 16, 128, DTYPE_BF16}, BIG_ROWS);
    }
    if (!tiny && !big) {
        /* Counters: ragged and exact blocks, N below a block, causal and not. */
        static const size_t cnt[][3] = {{1, 17, 1}, {2, 1000, 3}, {1, 4096, 2}};
        for (size_t x = 0; x < sizeof dims / sizeof dims[0]; x++)
            for (size_t y = 0; y < sizeof cnt / sizeof cnt[0]; y++)
                check_counts(&(tc_shape){cnt[y][0], cnt[y][1], cnt[y][2], dims[x], DTYPE_FP16});
    }
    printf("hopper_check: %d of %d checks passed\n", passed, checks);
    return broken ? 3 : passed == checks ? 0 : 1;
}

int main(int argc, char **argv)
{
    const int rc = check_main(argc, argv);
    outfile_check_stdout();   /* the report is what the checks are for: lost on the way out, exit 3 */
    return rc;
}
