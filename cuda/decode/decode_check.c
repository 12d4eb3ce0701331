/* decode_check.c — the CUDA decode held to lesson11: o against the fp64 reference (decode_ref) within decode_ref.h's
 * tolerance, every element written (o poisoned with NaN first), the counting twin's output bitwise the plain one's,
 * and its counts per tensor equal to decode.h's closed form and to the simulator's own ledger of the same shape.
 * Needs no Check library: a plain program for the GPU machine (and for compute-sanitizer, with --quick).
 *
 *   decode_check [--quick] [--anchors]     exit 0 all pass, 1 a check failed, 2 bad usage or no GPU,
 *                                         3 the report could not be written, 4 CUDA error
 *
 * --quick: a few small shapes (ragged N, S not dividing N, both layouts, every variant, G = 1 .. 16, fp16, bf16),
 * each with both merges (a second kernel, fused).
 * Default: those and larger ones (the anchors' B=1 shapes at L = 4096, and N = 65536). --anchors: also every decode
 * shape of ../shared/anchors/h100_sdpa_2026-12-06.md with fl_decode_plan's variant and merge, counters only (no CPU
 * reference at 34 GB).
 */
#include <cuda_runtime.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "decode_cuda.h"
#include "decode_ref.h"
#include "dtype.h"
#include "exitcode.h"
#include "rng.h"
#include "outfile.h"   // defines: outfile_check_stdout
#include "util.h"      // defines: fl_escape

static const char *const NAMES[FL_DEC_NTENSORS] = {"Q", "K", "V", "O_split", "L_split", "O"};

#define CK(call)                                                                                                  \
    do {                                                                                                          \
        cudaError_t e_ = (call);                                                                                  \
        if (e_ != cudaSuccess) {                                                                                  \
            fprintf(stderr, "decode_check: CUDA error at %s:%d: %s (%s)\n", __FILE__, __LINE__,                  \
                    cudaGetErrorString(e_), #call);                                                               \
            exit(FL_EXIT_INTERNAL);                                                                               \
        }                                                                                                         \
    } while (0)

typedef struct {
    dtype_t dt;
    long long d, B, Hq, Hkv, N, S;   /* S = 0: fl_decode_splits */
    int flash_layout;                /* 0: SDPA's (B, Hkv, N, d); 1: flash_attn's (B, N, Hkv, d) */
    int variant;
    bool data;                       /* false: counters only (no CPU reference) */
} shape;

static const shape QUICK[] = {
    {DTYPE_FP16, 128, 1, 1, 1, 1, 1, 0, 0, true},     {DTYPE_FP16, 64, 2, 8, 2, 77, 5, 1, 0, true},
    {DTYPE_BF16, 128, 3, 12, 3, 200, 7, 0, 1, true},  {DTYPE_FP16, 128, 1, 16, 1, 130, 1, 0, 2, true},
    {DTYPE_BF16, 64, 2, 4, 4, 300, 0, 1, 3, true},    {DTYPE_FP16, 128, 2, 32, 8, 1000, 13, 1, 0, true},
    {DTYPE_FP16, 128, 1, 8, 8, 129, 129, 0, 1, true},
    /* the L2-hint and bulk-copy variants: ragged tails, one-row splits (63 zeroed rows a tile), both layouts */
    {DTYPE_FP16, 128, 1, 16, 1, 130, 1, 0, 4, true},  {DTYPE_BF16, 128, 2, 32, 8, 1000, 13, 1, 5, true},
    {DTYPE_FP16, 128, 2, 8, 2, 77, 5, 1, 6, true},    {DTYPE_BF16, 64, 3, 12, 3, 200, 7, 0, 7, true},
    {DTYPE_FP16, 128, 1, 8, 8, 129, 129, 0, 6, true},  {DTYPE_BF16, 128, 1, 16, 2, 333, 3, 1, 8, true},
    {DTYPE_FP16, 64, 2, 8, 4, 700, 3, 1, 9, true},     {DTYPE_BF16, 128, 1, 32, 8, 901, 2, 0, 10, true},
    /* the TMA variants (splits of whole tiles): the cache's last tile cut (zeros from the map's end), one tile a
     * split, N = 1, both layouts, G = 1 .. 16 */
    {DTYPE_FP16, 128, 1, 16, 1, 130, 2, 0, 11, true},  {DTYPE_BF16, 128, 2, 32, 8, 1000, 7, 1, 12, true},
    {DTYPE_FP16, 64, 3, 12, 3, 200, 4, 0, 13, true},   {DTYPE_BF16, 64, 2, 8, 2, 77, 2, 1, 11, true},
    {DTYPE_FP16, 128, 1, 8, 8, 1, 1, 0, 12, true},     {DTYPE_FP16, 128, 1, 16, 1, 777, 1, 1, 13, true},
    {DTYPE_BF16, 128, 2, 8, 8, 4000, 0, 0, 12, true},
    /* t64x6a, two tiles ahead then five for a split's last ntiles/32 + 8: a split all tail (13 tiles), one that
     * changes depth (N = 4000, S = 2: 32 tiles, the tail from tile 24), N = 1, both layouts */
    {DTYPE_FP16, 128, 1, 16, 1, 777, 1, 1, 14, true},  {DTYPE_BF16, 128, 2, 8, 8, 4000, 2, 0, 14, true},
    {DTYPE_FP16, 64, 1, 8, 8, 1, 1, 0, 14, true},      {DTYPE_FP16, 128, 1, 32, 8, 4096, 1, 1, 14, true},
};
static const shape FULL[] = {
    {DTYPE_FP16, 128, 1, 32, 8, 4096, 0, 0, 0, true},   {DTYPE_FP16, 128, 1, 32, 8, 4096, 0, 0, 1, true},
    {DTYPE_FP16, 128, 1, 32, 8, 4096, 0, 0, 2, true},   {DTYPE_FP16, 128, 1, 32, 8, 4096, 0, 0, 3, true},
    {DTYPE_FP16, 128, 1, 32, 32, 4096, 0, 0, 0, true},  {DTYPE_BF16, 128, 2, 64, 8, 5000, 0, 1, 0, true},
    {DTYPE_FP16, 128, 1, 8, 1, 65536, 0, 0, 0, true},   {DTYPE_BF16, 64, 4, 16, 4, 3001, 0, 0, 3, true},
    {DTYPE_FP16, 128, 1, 32, 8, 4096, 0, 0, 4, true},   {DTYPE_FP16, 128, 1, 32, 8, 4096, 0, 0, 5, true},
    {DTYPE_FP16, 128, 1, 32, 8, 4096, 0, 0, 6, true},   {DTYPE_FP16, 128, 1, 32, 8, 4096, 0, 0, 7, true},
    {DTYPE_FP16, 128, 1, 32, 8, 4096, 0, 0, 8, true},   {DTYPE_FP16, 128, 1, 32, 8, 4096, 0, 0, 9, true},
    {DTYPE_FP16, 128, 1, 32, 8, 4096, 0, 0, 10, true},
    {DTYPE_FP16, 128, 2, 32, 8, 32768, 1, 0, 6, true},  {DTYPE_FP16, 128, 2, 32, 8, 32768, 1, 1, 7, true},
    {DTYPE_FP16, 128, 2, 32, 8, 32768, 1, 0, 10, true},
    {DTYPE_FP16, 128, 1, 32, 8, 4096, 0, 0, 11, true},   {DTYPE_FP16, 128, 1, 32, 8, 4096, 0, 0, 12, true},
    {DTYPE_FP16, 128, 1, 32, 8, 4096, 0, 0, 13, true},   {DTYPE_FP16, 128, 2, 32, 8, 32768, 1, 1, 12, true},
    {DTYPE_BF16, 128, 2, 32, 8, 32768, 1, 0, 13, true},
    {DTYPE_FP16, 128, 1, 32, 8, 4096, 0, 0, 14, true},   {DTYPE_FP16, 128, 2, 32, 8, 32768, 1, 0, 14, true},
};
/* The anchors' decode table: B, Hq, Hkv, L at d = 128, fp16. */
static const long long ANCHORS[][4] = {
    {1, 32, 32, 4096},  {1, 32, 32, 32768}, {1, 32, 32, 131072}, {1, 32, 8, 4096},   {1, 32, 8, 32768},
    {1, 32, 8, 131072}, {16, 32, 8, 4096},  {16, 32, 8, 32768},  {16, 32, 8, 131072}, {64, 32, 8, 4096},
    {64, 32, 8, 32768}, {64, 32, 8, 131072}, {8, 64, 8, 4096},   {8, 64, 8, 32768},  {8, 64, 8, 131072},
};

static int sms;

/* How a call's S partials are merged, as the reports print it: "-" (one split, nothing to merge), fused or kernel. */
static const char *merge_name(long long S, int merge)
{
    return S == 1 ? "-" : merge == FL_DEC_MERGE_FUSED ? "fused" : "kernel";
}

/* Run the plain kernel (when data) and the counting twin on one shape; print one line; return pass. The twin runs
 * second on the same work buffer: a fused merge that left its completion counts dirty would show as DIFFERS. */
static bool check(const shape *c, int merge)
{
    long long S = c->S ? c->S : fl_decode_splits(c->B, c->Hkv, c->N, sms);
    size_t es = dtype_size(c->dt), nq = (size_t)(c->B * c->Hq * c->d), nkv = (size_t)(c->B * c->N * c->Hkv * c->d);
    size_t nw = (size_t)fl_decode_work_floats(c->B, c->Hq, c->d, S);
    void *dq, *dk, *dv, *dout;
    float *dwork = NULL;
    unsigned long long *dcount, count[FL_DEC_NCOUNT];
    CK(cudaMalloc(&dq, nq * es));
    CK(cudaMalloc(&dk, nkv * es));
    CK(cudaMalloc(&dv, nkv * es));
    CK(cudaMalloc(&dout, nq * es));
    CK(cudaMalloc((void **)&dcount, sizeof count));
    if (nw)
        CK(cudaMalloc((void **)&dwork, nw * sizeof(float)));
    if (nw)
        CK(cudaMemset(dwork, 0, nw * sizeof(float)));   /* the completion counts start at zero */
    fl_decode_args a = {.dtype = c->dt, .B = c->B, .Hq = c->Hq, .Hkv = c->Hkv, .N = c->N, .d = c->d, .splits = S,
                        .q = dq, .k = dk, .v = dv, .o = dout, .work = dwork, .variant = c->variant,
                        .merge = merge};
    if (c->flash_layout)
        a.k_sb = c->N * c->Hkv * c->d, a.k_sh = c->d, a.k_sn = c->Hkv * c->d;
    else
        a.k_sb = c->Hkv * c->N * c->d, a.k_sh = c->N * c->d, a.k_sn = c->d;
    char err[256];
    bool ok = true;
    double maxerr = NAN;
    float *o = NULL, *o2 = NULL;
    if (c->data) {
        /* Inputs as stored; the device copy of K, V in the shape's layout; o poisoned with NaN. */
        float *q = malloc(nq * sizeof *q), *k = malloc(nkv * sizeof *k), *v = malloc(nkv * sizeof *v);
        unsigned char *hq = malloc(nq * es), *hk = malloc(nkv * es), *hv = malloc(nkv * es), *ho = malloc(nq * es);
        rng_t r;
        rng_seed(&r, (uint64_t)(c->N * 1000 + c->Hq * 10 + c->variant));
        rng_fill_normal(&r, q, nq, 1.0f);
        rng_fill_normal(&r, k, nkv, 1.0f);
        rng_fill_normal(&r, v, nkv, 1.0f);
        for (size_t i = 0; i < nq; i++)
            dtype_set(c->dt, hq, i, q[i]), q[i] = dtype_get(c->dt, hq, i);
        for (long long b = 0; b < c->B; b++)
            for (long long n = 0; n < c->N; n++)
                for (long long h = 0; h < c->Hkv; h++)
                    for (long long x = 0; x < c->d; x++) {
                        size_t src = (size_t)(((b * c->N + n) * c->Hkv + h) * c->d + x);
                        size_t dst = (size_t)(b * a.k_sb + h * a.k_sh + n * a.k_sn + x);
                        dtype_set(c->dt, hk, dst, k[src]), k[src] = dtype_get(c->dt, hk, dst);
                        dtype_set(c->dt, hv, dst, v[src]), v[src] = dtype_get(c->dt, hv, dst);
                    }
        CK(cudaMemcpy(dq, hq, nq * es, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dk, hk, nkv * es, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dv, hv, nkv * es, cudaMemcpyHostToDevice));
        CK(cudaMemset(dout, 0xff, nq * es));   /* NaN in fp16 and bf16 */
        if (fl_decode(&a, NULL, err, sizeof err)) {
            fprintf(stderr, "decode_check: %s\n", err);
            exit(FL_EXIT_INTERNAL);
        }
        CK(cudaDeviceSynchronize());
        CK(cudaMemcpy(ho, dout, nq * es, cudaMemcpyDeviceToHost));
        o = malloc(nq * sizeof *o);
        for (size_t i = 0; i < nq; i++)
            o[i] = dtype_get(c->dt, ho, i);
        decode_params p = {.B = (size_t)c->B, .N = (size_t)c->N, .Hq = (size_t)c->Hq, .Hkv = (size_t)c->Hkv,
                           .d = (size_t)c->d, .splits = (size_t)S, .Bc = 16, .grouped = true};
        bool close;
        maxerr = decode_verify(&p, c->dt, q, k, v, o, true, NULL, &close);
        ok &= close;
        CK(cudaMemset(dout, 0xff, nq * es));
        o2 = malloc(nq * es);
        memcpy(o2, ho, nq * es);
        free(q), free(k), free(v), free(hq), free(hk), free(hv), free(ho);
    } else {
        CK(cudaMemset(dq, 0, nq * es));   /* counts do not depend on the values */
        CK(cudaMemset(dk, 0, nkv * es));
        CK(cudaMemset(dv, 0, nkv * es));
    }
    /* The counting twin: same launch, counters on. */
    CK(cudaMemset(dcount, 0, sizeof count));
    a.count = dcount;
    if (fl_decode(&a, NULL, err, sizeof err)) {
        fprintf(stderr, "decode_check: %s\n", err);
        exit(FL_EXIT_INTERNAL);
    }
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(count, dcount, sizeof count, cudaMemcpyDeviceToHost));
    bool same = true;
    if (c->data) {
        unsigned char *ho = malloc(nq * es);
        CK(cudaMemcpy(ho, dout, nq * es, cudaMemcpyDeviceToHost));
        same = !memcmp(ho, o2, nq * es);
        free(ho);
    }
    /* Counters against the closed form and against the simulator's ledger of the same shape (count-only). */
    decode_params p = {.B = (size_t)c->B, .N = (size_t)c->N, .Hq = (size_t)c->Hq, .Hkv = (size_t)c->Hkv,
                       .d = (size_t)c->d, .splits = (size_t)S, .grouped = true, .threads = 1};
    char why[256];
    if (decode_choose_block(&p, (size_t)1 << 20, c->dt, 0, why, sizeof why)) {
        fprintf(stderr, "decode_check: %s\n", why);
        exit(FL_EXIT_INTERNAL);
    }
    decode_io cf;
    decode_closed_form(&p, &cf);
    mem_t *m = mem_create((size_t)1 << 20, true);
    decode_tensors t = decode_alloc(m, &p, c->dt, NULL, 0);
    decode_run(m, &p, &t);
    bool counts = true;
    for (int i = 0; i < FL_DEC_NTENSORS; i++) {
        uint64_t want_rd = 0, want_wr = 0;
        for (size_t j = 0; j < cf.n; j++)
            if (!strcmp(cf.row[j].tensor, NAMES[i]))
                want_rd = cf.row[j].rd, want_wr = cf.row[j].wr;
        io_count sim = mem_io(m, NAMES[i], NULL);
        bool eq = count[2 * i] == want_rd && count[2 * i + 1] == want_wr && sim.rd_elems == want_rd &&
                  sim.wr_elems == want_wr;
        if (!eq)
            fprintf(stderr, "  %s: GPU rd %llu wr %llu, closed form rd %llu wr %llu, simulator rd %llu wr %llu\n",
                    NAMES[i], count[2 * i], count[2 * i + 1], (unsigned long long)want_rd,
                    (unsigned long long)want_wr, (unsigned long long)sim.rd_elems, (unsigned long long)sim.wr_elems);
        counts &= eq;
    }
    decode_free(m, &t);
    mem_destroy(m);
    ok &= counts && same;
    char err_s[32] = "na";   /* a counts-only shape (no data) has no error to show: na, never nan */
    if (c->data)
        snprintf(err_s, sizeof err_s, "%.3g", maxerr);
    printf("%-4s d=%-3lld B=%-3lld Hq=%-3lld Hkv=%-3lld N=%-7lld S=%-4lld %s %-5s %-6s max_err %-10s counters %s  "
           "twin %s  %s\n", dtype_name(c->dt), c->d, c->B, c->Hq, c->Hkv, c->N, S, c->flash_layout ? "BNHD" : "BHND",
           fl_decode_variant_name(c->variant), merge_name(S, merge), err_s,
           counts ? "=" : "DIFFER", c->data ? (same ? "=" : "DIFFERS") : "-",
           ok ? "ok" : "FAIL");
    free(o), free(o2);
    CK(cudaFree(dq));
    CK(cudaFree(dk));
    CK(cudaFree(dv));
    CK(cudaFree(dout));
    CK(cudaFree(dcount));
    if (dwork)
        CK(cudaFree(dwork));
    return ok;
}

/* Calls fl_decode must refuse with one line and nothing launched: a TMA variant with more splits than tiles; S > N;
 * Hq not a multiple of Hkv; a variant that is none. With d = NULL (--plan, no GPU) only fl_decode_check_args is
 * asked, with stand-in pointers; else fl_decode itself, on device memory that must come back untouched. */
static bool refusals(void *d)
{
    void *p = d ? d : (void *)(uintptr_t)4096;   /* --plan: never dereferenced (no CUDA call is made) */
    int tma = -1;   /* a variant of 64-row tiles that splits by whole tiles: at most 2 splits of 100 rows */
    for (int v = 0; v < fl_decode_nvariants(); v++)
        if (fl_decode_max_splits(v, 100) == 2)
            tma = v;
    const fl_decode_args base = {.dtype = DTYPE_FP16, .B = 1, .Hq = 4, .Hkv = 1, .N = 100, .d = 64, .splits = 3,
                                 .q = p, .k = p, .v = p, .o = p, .work = p, .variant = tma, .k_sb = 6400,
                                 .k_sh = 6400, .k_sn = 64, .merge = FL_DEC_MERGE_FUSED};
    fl_decode_args bad[4] = {base, base, base, base};
    bad[1].variant = 0, bad[1].splits = 101;
    bad[2].variant = 0, bad[2].Hq = 3, bad[2].Hkv = 2;
    bad[3].variant = fl_decode_nvariants();
    bool ok = tma >= 0;
    for (int i = 0; i < 4; i++) {
        char err[256] = "";
        int rc = d ? fl_decode(&bad[i], NULL, err, sizeof err) : fl_decode_check_args(&bad[i], err, sizeof err);
        ok &= rc == -1 && err[0] && !strchr(err, '\n');
        printf("refused: %s\n", err[0] ? err : "(accepted: FAIL)");
    }
    return ok;
}
static bool refusals_on_gpu(void)
{
    void *d;
    CK(cudaMalloc(&d, 4096));
    CK(cudaMemset(d, 0x5a, 4096));
    bool ok = refusals(d);
    unsigned char h[4096];
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < sizeof h; i++)
        ok &= h[i] == 0x5a;   /* nothing was launched */
    CK(cudaFree(d));
    printf("refusals: %s\n", ok ? "ok" : "FAIL");
    return ok;
}

/* --plan, no GPU: fl_decode_plan's configuration for the anchors' shapes (printed) and for a grid of others at
 * several SM counts, each one accepted by fl_decode's argument checks (a rule that picks a variant the kernel refuses
 * for the shape, say a TMA variant with more splits than tiles, fails here, not on a GPU); the refusals refused. */
#define LEN(a) (int)(sizeof(a) / sizeof((a)[0]))
static int plan_main(void)
{
    static const long long BS[] = {1, 2, 3, 8, 16, 64, 128}, HKV[] = {1, 2, 8, 32}, GS[] = {1, 4, 16},
                           NS[] = {1, 63, 64, 65, 300, 4096, 4097, 32768, 65537, 131072, 1000003};
    static const int SMS[] = {132, 114, 78, 1};
    void *p = (void *)(uintptr_t)4096;
    const int n = LEN(SMS) * LEN(BS) * LEN(HKV) * LEN(GS) * LEN(NS);
    int bad = 0;
    for (int i = 0; i < n; i++) {   /* i's digits, N fastest, then G, Hkv, B, the SM count */
        int r = i;
        const long long N = NS[r % LEN(NS)], G = GS[(r /= LEN(NS)) % LEN(GS)], Hkv = HKV[(r /= LEN(GS)) % LEN(HKV)],
                        B = BS[(r /= LEN(HKV)) % LEN(BS)], Hq = Hkv * G, d = 128;
        const int sms = SMS[r / LEN(BS)];
        fl_decode_args a = {.dtype = DTYPE_FP16, .B = B, .Hq = Hq, .Hkv = Hkv, .N = N, .d = d, .q = p, .k = p,
                            .v = p, .o = p, .work = p, .k_sb = Hkv * N * d, .k_sh = N * d, .k_sn = d};
        fl_decode_plan(&a, sms);
        char err[256];
        if (fl_decode_check_args(&a, err, sizeof err)) {
            printf("plan refused: sms=%d B=%lld Hq=%lld Hkv=%lld N=%lld S=%lld %s: %s\n", sms, B, Hq, Hkv, N,
                   a.splits, fl_decode_variant_name(a.variant), err);
            bad++;
        }
    }
    printf("the plan on the anchors' decode shapes (132 SMs):\n");
    for (size_t i = 0; i < sizeof ANCHORS / sizeof ANCHORS[0]; i++) {
        fl_decode_args a = {.B = ANCHORS[i][0], .Hq = ANCHORS[i][1], .Hkv = ANCHORS[i][2], .N = ANCHORS[i][3]};
        fl_decode_plan(&a, 132);
        printf("  B=%-3lld Hq=%-3lld Hkv=%-3lld L=%-7lld S=%-3lld %-6s %s\n", a.B, a.Hq, a.Hkv, a.N, a.splits,
               fl_decode_variant_name(a.variant), merge_name(a.splits, a.merge));
    }
    const bool refused = refusals(NULL);
    printf("decode_check --plan: %d of %d planned configurations accepted; refusals %s\n", n - bad, n,
           refused ? "ok" : "FAIL");
    return refused && bad == 0 ? FL_EXIT_OK : FL_EXIT_CHECK;
}

static int check_main(int argc, char **argv)
{
    bool quick = false, anchors = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--plan") && argc == 2)
            return plan_main();
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--anchors"))
            anchors = true;
        else {
            char e[128];
            fprintf(stderr, "decode_check: error: unknown option '%s' (--quick, --anchors; or --plan alone)\n",
                    fl_escape(argv[i], e, sizeof e));
            return FL_EXIT_USAGE;
        }
    }
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        fprintf(stderr, "decode_check: error: no CUDA device\n");
        return FL_EXIT_USAGE;
    }
    struct cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    sms = prop.multiProcessorCount;
    printf("decode_check on %s (%d SMs): o vs fp64, counters vs closed form and simulator, twin vs plain\n",
           prop.name, sms);
    int pass = refusals_on_gpu(), total = 1;
    for (int merge = FL_DEC_MERGE_KERNEL; merge <= FL_DEC_MERGE_FUSED; merge++)   /* the small shapes both ways */
        for (size_t i = 0; i < sizeof QUICK / sizeof QUICK[0]; i++, total++)
            pass += check(&QUICK[i], merge);
    for (size_t i = 0; !quick && i < sizeof FULL / sizeof FULL[0]; i++, total++)
        pass += check(&FULL[i], FL_DEC_MERGE);
    for (size_t i = 0; anchors && i < sizeof ANCHORS / sizeof ANCHORS[0]; i++, total++) {
        fl_decode_args plan = {.B = ANCHORS[i][0], .Hq = ANCHORS[i][1], .Hkv = ANCHORS[i][2], .N = ANCHORS[i][3]};
        fl_decode_plan(&plan, sms);
        shape c = {DTYPE_FP16, 128, plan.B, plan.Hq, plan.Hkv, plan.N, plan.splits, 0, plan.variant, false};
        pass += check(&c, plan.merge);
    }
    printf("decode_check: %d of %d shapes pass\n", pass, total);
    return pass == total ? FL_EXIT_OK : FL_EXIT_CHECK;
}

int main(int argc, char **argv)
{
    const int rc = check_main(argc, argv);
    outfile_check_stdout();   /* the report is what the checks are for: lost on the way out, exit 3 */
    return rc;
}
