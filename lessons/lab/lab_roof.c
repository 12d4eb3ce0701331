/* lab_roof.c — ceilings, kernels on the roofline, an idealised L2, forward + backward counts, warp partitioning
 * counted one level down (include/lab/lab_roof.h). */
#include "lab_roof.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outfile.h"   // defines: outfile_open, outfile_commit (all-or-nothing files, exit 3)
#include "util.h"

/* Exp rates: the A100's special-function units return 16 results per clock per SM (CUDA C++ Programming Guide,
 * throughput of arithmetic instructions, compute capability 8.0), x 108 SMs x 1.41 GHz; Hopper's 3.9 T/s is the
 * FlashAttention-3 paper's (Shah et al. 2024, Section 3.1: 989 TFLOP/s of matmul, 3.9 TFLOP/s of special functions). */
const lab_gpu LAB_GPU[LAB_NGPUS] = {
    [LAB_A100_40] = {"A100 40GB", "NVIDIA A100 datasheet", 312e12, 19.5e12, 16.0 * 108 * 1.41e9, 1.555e12},
    [LAB_A100_80] = {"A100 80GB", "NVIDIA A100 datasheet (SXM)", 312e12, 19.5e12, 16.0 * 108 * 1.41e9, 2.039e12},
    [LAB_H100] = {"H100 SXM", "NVIDIA H100 datasheet (SXM)", 989e12, 67e12, 3.9e12, 3.35e12},
    [LAB_H200] = {"H200", "NVIDIA H200 datasheet (SXM)", 989e12, 67e12, 3.9e12, 4.8e12},
};

double lab_gpu_ridge(const lab_gpu *g) { return g->mm / g->bw; }

void lab_roof_print_gpus(const lab_t *L)
{
    lab_say(L, "  %-10s %15s %13s %9s %9s %13s   %s\n", "GPU", "matmul TFLOP/s", "fp32 TFLOP/s", "exp T/s", "HBM TB/s",
            "ridge FLOP/B", "source");
    for (int g = 0; g < LAB_NGPUS; g++) {
        const lab_gpu *G = &LAB_GPU[g];
        lab_say(L, "  %-10s %15.0f %13.1f %9.2f %9.3f %13.0f   %s\n", G->name, G->mm / 1e12, G->fp32 / 1e12,
                G->exps / 1e12, G->bw / 1e12, lab_gpu_ridge(G), G->source);
    }
}

void lab_roof_print_kernels(const lab_t *L, const lab_kernel *k, size_t n)
{
    lab_say(L, "  %-21s %13s %12s %11s %11s %8s %10s\n", "kernel", "matmul FLOPs", "other FLOPs", "exp()", "HBM bytes",
            "FLOP/B", "ideal L2");
    for (size_t x = 0; x < n; x++)
        lab_say(L, "  %-21s %13llu %12llu %11llu %11llu %8.1f %10.1f\n", k[x].name, (unsigned long long)k[x].flops_mm,
                (unsigned long long)k[x].flops_ew, (unsigned long long)k[x].exps, (unsigned long long)k[x].bytes,
                lab_kernel_ai(&k[x], false), lab_kernel_ai(&k[x], true));
    lab_say(L, "  (ideal L2: the FLOP/B if an L2 cache served every re-read inside a kernel.)\n  Time on each roofline, "
            "µs (* memory-bound: bytes / bandwidth is the larger; compute = matmul + other + exp):\n  %-21s", "kernel");
    for (int g = 0; g < LAB_NGPUS; g++)
        lab_say(L, " %10s", LAB_GPU[g].name);
    for (size_t x = 0; x < n; x++) {
        char row[256];
        int len = snprintf(row, sizeof row, "  %-21s", k[x].name);
        for (int g = 0; g < LAB_NGPUS; g++) {
            bool mem;
            double t = lab_kernel_time(&k[x], &LAB_GPU[g], false, &mem);
            len += snprintf(row + len, sizeof row - (size_t)len, " %9.2f%s", t * 1e6, mem ? "*" : " ");
        }
        while (len > 0 && row[len - 1] == ' ')   /* no trailing blank */
            row[--len] = 0;
        lab_say(L, "\n%s", row);
    }
    lab_say(L, "\n");
}

double lab_kernel_ai(const lab_kernel *k, bool l2)
{
    return (double)(k->flops_mm + k->flops_ew) / (double)(l2 ? k->l2_bytes : k->bytes);
}

double lab_kernel_time(const lab_kernel *k, const lab_gpu *g, bool l2, bool *memory_bound)
{
    double mem = (double)(l2 ? k->l2_bytes : k->bytes) / g->bw;
    double comp = (double)k->flops_mm / g->mm + (double)k->flops_ew / g->fp32 + (double)k->exps / g->exps;
    if (memory_bound)
        *memory_bound = mem >= comp;
    return mem > comp ? mem : comp;
}

/* ---- the idealised L2: per (phase, tensor), the first access, and reads and writes in elements ------------------ */

struct lab_l2 {
    char tname[MEM_MAX_TENSORS][MEM_NAME_LEN], pname[MEM_MAX_PHASES][MEM_NAME_LEN];
    uint64_t numel[MEM_MAX_TENSORS], esize[MEM_MAX_TENSORS];
    uint64_t rd[MEM_MAX_PHASES][MEM_MAX_TENSORS], wr[MEM_MAX_PHASES][MEM_MAX_TENSORS];
    unsigned char first[MEM_MAX_PHASES][MEM_MAX_TENSORS];   /* 0 untouched, 1 read first, 2 written first */
    size_t nt, np, cur;
};

static size_t l2_index(char (*names)[MEM_NAME_LEN], size_t *n, size_t max, const char *name)
{
    size_t i = 0;
    while (i < *n && strcmp(names[i], name))
        i++;
    if (i == *n) {
        if (*n == max)
            fl_internal("lab_l2: more than %zu names", max);
        snprintf(names[(*n)++], MEM_NAME_LEN, "%s", name);
    }
    return i;
}

static void l2_event(const mem_event *ev, void *ctx)
{
    lab_l2 *w = ctx;
    if (ev->kind == MEM_EV_PHASE) {
        w->cur = l2_index(w->pname, &w->np, MEM_MAX_PHASES, ev->name);
    } else if (ev->kind == MEM_EV_HBM_ALLOC) {
        size_t t = l2_index(w->tname, &w->nt, MEM_MAX_TENSORS, ev->tensor);
        w->numel[t] = ev->elems;
        w->esize[t] = ev->elems ? ev->bytes / ev->elems : 0;
    } else if (ev->kind == MEM_EV_LOAD || ev->kind == MEM_EV_STORE) {
        size_t t = l2_index(w->tname, &w->nt, MEM_MAX_TENSORS, ev->tensor);
        bool load = ev->kind == MEM_EV_LOAD;
        if (!w->first[w->cur][t])
            w->first[w->cur][t] = load ? 1 : 2;
        *(load ? &w->rd[w->cur][t] : &w->wr[w->cur][t]) += ev->elems;
    }
}

lab_l2 *lab_l2_watch(mem_t *m)
{
    lab_l2 *w = xmalloc(sizeof *w);
    memset(w, 0, sizeof *w);
    w->np = 1;
    strcpy(w->pname[0], "main");   /* the model's first phase, before any mem_phase */
    mem_observe(m, l2_event, w);
    return w;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

uint64_t lab_l2_bytes(const lab_l2 *w, const char *phase)
{
    uint64_t bytes = 0;
    for (size_t p = 0; p < w->np; p++) {
        if (phase && strcmp(phase, w->pname[p]))
            continue;
        for (size_t t = 0; t < w->nt; t++) {   /* what the kernel itself wrote first is re-read from L2 */
            uint64_t rd = w->first[p][t] == 1 ? min_u64(w->rd[p][t], w->numel[t]) : 0;
            bytes += (rd + min_u64(w->wr[p][t], w->numel[t])) * w->esize[t];
        }
    }
    return bytes;
}

void lab_l2_free(mem_t *m, lab_l2 *w)
{
    mem_unobserve(m, l2_event, w);
    free(w);
}

/* ---- kernels of one forward ------------------------------------------------------------------------------------ */

static lab_kernel kernel_of(int x, const mem_t *m, const lab_l2 *w, const char *phase, uint64_t mm)
{
    static const char *const name[] = {"standard: S = QK^T", "standard: softmax", "standard: O = PV",
                                       "standard: 3 kernels", "flash1 (fused)", "flash2 (fused)"};
    static const char *const key[] = {"std_S", "std_softmax", "std_PV", "std", "flash1", "flash2"};
    io_count c = mem_io(m, NULL, phase);
    return (lab_kernel){name[x], key[x], mm, mem_flops(m, phase) - mm, mem_exps(m, phase), c.rd_bytes + c.wr_bytes,
                        lab_l2_bytes(w, phase)};
}

bool lab_kernels(const cli_cfg *cfg, lab_kernel *k)
{
    cli_cfg c = *cfg;
    c.count_only = true;
    bool ok = true;
    for (int a = 0; a < ATTN_NALGOS; a++) {
        lab_attn r = lab_attn_plan(&c, (attn_algo)a, false, NULL);
        lab_guard_tiles(r.Tr * r.Tc * c.B * c.H, attn_algo_name(r.p.algo));
        lab_attn_model(NULL, &r);
        lab_l2 *w = lab_l2_watch(r.m);
        lab_attn_go(NULL, &r, NULL);
        ok = ok && r.closed_ok;
        if (a == ATTN_STANDARD) {   /* its phases are its kernels; S and PV each hold one of the two products */
            for (int ph = 0; ph < ATTN_STANDARD_PHASES; ph++)
                k[ph] = kernel_of(ph, r.m, w, attn_standard_phase[ph], ph == 1 ? 0 : r.io.flops_mm / 2);
            k[LAB_K_STANDARD] = kernel_of(LAB_K_STANDARD, r.m, w, NULL, r.io.flops_mm);
        } else {
            int x = a == ATTN_FLASH1 ? LAB_K_FLASH1 : LAB_K_FLASH2;
            k[x] = kernel_of(x, r.m, w, NULL, r.io.flops_mm);
        }
        lab_l2_free(r.m, w);
        lab_attn_free(&r);
    }
    return ok;
}

/* ---- forward + backward ---------------------------------------------------------------------------------------- */

void lab_fwd_bwd(const cli_cfg *cfg, attn_algo a, bool causal, size_t Br, size_t Bc, lab_fb *out)
{
    attn_params p[2];
    size_t M = cfg->M_bytes;
    dtype_t dt = cfg->dtype;
    for (int b = 0; b < 2; b++) {
        p[b] = (attn_params){.algo = a, .B = cfg->B, .N = cfg->N, .H = cfg->H, .d = cfg->d, .causal = causal,
                             .Br = Br, .Bc = Bc, .threads = cfg->threads};
        block_choice bc;
        char err[512];
        if (Br && Bc)
            M = max_size(M, attn_sram_need(a, b, Br, Bc, cfg->d, dt));
        else if (attn_choose_blocks(&p[b], b, M, dt, cfg->Br, cfg->Bc, &bc, err, sizeof err))
            fl_fatal("%s%s: %s", attn_algo_name(a), b ? " backward" : "", err);
        lab_guard_tiles(6 * (uint64_t)ceil_div(cfg->N, p[b].Br) * ceil_div(cfg->N, p[b].Bc) * cfg->B * cfg->H,
                        attn_algo_name(a));
    }
    mem_t *m = mem_create(M, true);
    lab_l2 *w = lab_l2_watch(m);
    attn_tensors t = attn_alloc(m, &p[0], dt, true);
    *out = (lab_fb){.closed_ok = true, .dq_size = hbm_numel(t.dq) * dtype_size(dt)};
    for (int b = 0; b < 2; b++) {
        mem_ledger_reset(m);
        if (b)
            attn_backward(m, &p[1], &t);
        else
            attn_forward(m, &p[0], &t);
        attn_io io;
        attn_io_closed_form(&p[b], b, &io);
        io_count c = mem_io(m, NULL, NULL), q = mem_io(m, "dQ", NULL);
        out->closed_ok = out->closed_ok && lab_ledger_matches(m, &io);
        out->bytes += c.rd_bytes + c.wr_bytes;
        out->dq_bytes += q.rd_bytes + q.wr_bytes;
        out->flops_mm += io.flops_mm;
        out->flops_ew += mem_flops(m, NULL) - io.flops_mm;
        out->exps += mem_exps(m, NULL);
        out->Br[b] = p[b].Br, out->Bc[b] = p[b].Bc;
    }
    out->l2_bytes = lab_l2_bytes(w, NULL);
    attn_free(m, &t);
    lab_l2_free(m, w);
    mem_destroy(m);
}

/* ---- warps inside a thread block ------------------------------------------------------------------------------- */

/* Warp w's share of n rows: rows [*r0, *r0 + share). */
static size_t share(size_t n, size_t warps, size_t w, size_t *r0)
{
    size_t base = n / warps, extra = n % warps;
    *r0 = w * base + (w < extra ? w : extra);
    return base + (w < extra);
}

void lab_warp_split(size_t Br, size_t Bc, size_t d, size_t warps, bool split_q, lab_split *out)
{
    mem_t *m = mem_create((size_t)1 << 30, true);   /* registers: not the limit counted here */
    hbm_tensor *Q = hbm_alloc_mat(m, "Qi", DTYPE_FP16, Br, d), *K = hbm_alloc_mat(m, "Kj", DTYPE_FP16, Bc, d);
    hbm_tensor *V = hbm_alloc_mat(m, "Vj", DTYPE_FP16, Bc, d);
    hbm_tensor *Op = hbm_alloc_mat(m, "O partial", DTYPE_FP32, warps * Br, d);
    hbm_tensor *St = hbm_alloc_mat(m, "m, l partial", DTYPE_FP32, warps * Br, 2);
    *out = (lab_split){.syncs = 0};
    for (size_t w = 0; w < warps; w++) {   /* each warp: its slice of the tile, S, P~ and its O */
        size_t r0 = 0, k0 = 0, nr = split_q ? share(Br, warps, w, &r0) : Br, nk = split_q ? Bc : share(Bc, warps, w, &k0);
        float *q = sram_alloc(m, nr * d, DTYPE_FP16, "q"), *k = sram_alloc(m, nk * d, DTYPE_FP16, "k");
        float *v = sram_alloc(m, nk * d, DTYPE_FP16, "v"), *o = sram_alloc(m, nr * d, DTYPE_FP32, "o");
        float *st = sram_alloc(m, nr * 2, DTYPE_FP32, "m, l");
        hbm_load_rows(m, q, hbm_whole(Q), r0, nr, "q");
        hbm_load_rows(m, k, hbm_whole(K), k0, nk, "k");
        hbm_load_rows(m, v, hbm_whole(V), k0, nk, "v");
        if (!split_q) {   /* a partial O over this warp's keys only: to be summed with the other warps' */
            hbm_store_rows(m, hbm_whole(Op), w * Br, Br, o, "o");
            hbm_store_rows(m, hbm_whole(St), w * Br, Br, st, "m, l");
        }
        sram_free(m, st), sram_free(m, o), sram_free(m, v), sram_free(m, k), sram_free(m, q);
    }
    if (!split_q) {   /* barrier; then each warp sums every warp's partials for its share of the rows */
        out->syncs = 1;
        for (size_t w = 0; w < warps; w++) {
            size_t r0, nr = share(Br, warps, w, &r0);
            float *o = sram_alloc(m, nr * d, DTYPE_FP32, "o"), *st = sram_alloc(m, nr * 2, DTYPE_FP32, "m, l");
            for (size_t u = 0; u < warps; u++) {
                hbm_load_rows(m, o, hbm_whole(Op), u * Br + r0, nr, "o");
                hbm_load_rows(m, st, hbm_whole(St), u * Br + r0, nr, "m, l");
            }
            sram_free(m, st), sram_free(m, o);
        }
    }
    io_count op = mem_io(m, "O partial", NULL), sp = mem_io(m, "m, l partial", NULL);
    out->q = mem_io(m, "Qi", NULL).rd_elems;
    out->kv = mem_io(m, "Kj", NULL).rd_elems + mem_io(m, "Vj", NULL).rd_elems;
    out->exchange = op.rd_elems + op.wr_elems + sp.rd_elems + sp.wr_elems;
    mem_destroy(m);
}

/* ---- the .dat file --------------------------------------------------------------------------------------------- */

static void dat_name(char *dst, size_t n, const char *s)   /* one gnuplot word: spaces and ':' become '_' */
{
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++)
        dst[i] = s[i] == ' ' || s[i] == ':' ? '_' : s[i];
    dst[i] = 0;
}

void lab_roof_write(const cli_cfg *cfg, const char *name, const lab_kernel *k, size_t n)
{
    char path[4096], word[64], dir[4096];   /* a GPU's name as one gnuplot word */
    snprintf(path, sizeof path, "%s/%s", cfg->out_dir, name);
    outfile *o = outfile_open(path);
    FILE *f = outfile_stream(o);
    fprintf(f, "# %s — the roofline: ceilings of four GPUs and the kernels of one attention forward, counted\n"
            "# command: ./lesson13 -N %zu -d %zu --sram %zu --dtype %s --batch %zu --heads %zu --out-dir %s\n"
            "# flashlab %s, count-only memory model; FLOPs by mem.h's convention; sources of the ceilings: the "
            "datasheets named in block 0\n# block 0 (index 0), one row per GPU: 1 name  2 matmul FLOP/s (dense "
            "fp16/bf16)  3 fp32 FLOP/s  4 exp/s  5 HBM bytes/s  6 ridge (FLOP/byte)\n# block 1 (index 1), one row "
            "per kernel: 1 name  2 FLOPs (matmul + other)  3 matmul FLOPs  4 other FLOPs  5 exps  6 HBM bytes\n"
            "#   7 HBM bytes behind an ideal L2  8 FLOP/byte  9 FLOP/byte behind the ideal L2\n#   10-13 attained "
            "FLOP/s on the roofline (FLOPs / modelled time) of A100 40GB, A100 80GB, H100 SXM, H200\n#   14-17 the "
            "same behind the ideal L2\n", name, cfg->N, cfg->d, cfg->M_bytes, dtype_name(cfg->dtype), cfg->B, cfg->H,
            fl_escape(cfg->out_dir, dir, sizeof dir), FLASHLAB_VERSION);
    fputs("# gpus\n", f);
    for (int g = 0; g < LAB_NGPUS; g++) {
        dat_name(word, sizeof word, LAB_GPU[g].name);
        fprintf(f, "%s %.6g %.6g %.6g %.6g %.6g\n", word, LAB_GPU[g].mm, LAB_GPU[g].fp32, LAB_GPU[g].exps,
                LAB_GPU[g].bw, lab_gpu_ridge(&LAB_GPU[g]));
    }
    fputs("\n\n# kernels\n", f);
    for (size_t x = 0; x < n; x++) {
        const lab_kernel *kk = &k[x];
        double fl = (double)(kk->flops_mm + kk->flops_ew);
        fprintf(f, "%s %.6g %llu %llu %llu %llu %llu %.6g %.6g", kk->key, fl, (unsigned long long)kk->flops_mm,
                (unsigned long long)kk->flops_ew, (unsigned long long)kk->exps, (unsigned long long)kk->bytes,
                (unsigned long long)kk->l2_bytes, lab_kernel_ai(kk, false), lab_kernel_ai(kk, true));
        for (int l2 = 0; l2 < 2; l2++)
            for (int g = 0; g < LAB_NGPUS; g++)
                fprintf(f, " %.6g", fl / lab_kernel_time(kk, &LAB_GPU[g], l2, NULL));
        fputc('\n', f);
    }
    outfile_commit(o);
}
