/* lab_roof.h — the roofline: GPUs' ceilings from their datasheets, kernels' arithmetic intensity (counted FLOPs per
 * counted HBM byte), a time on the roofline, HBM traffic behind an idealised L2, forward plus backward counted for the
 * paper's Figure 2 (left), and FlashAttention-2's warp partitioning counted one level down (shared memory as "HBM").
 *
 *   lab_kernel k[LAB_NKERNELS];
 *   lab_kernels(cfg, k);                                   // standard's S, softmax, PV, all three; flash1; flash2
 *   double t = lab_kernel_time(&k[0], &LAB_GPU[0], false); // seconds: max(memory time, compute time)
 *   lab_fb f;
 *   lab_fwd_bwd(cfg, ATTN_FLASH1, false, 0, 0, &f);       // forward + backward, each on its own rule's blocks
 */
#ifndef FLASHLAB_LAB_ROOF_H
#define FLASHLAB_LAB_ROOF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lab.h"
#include "lab_attn.h"

/* A GPU's ceilings. mm: dense fp16/bf16 tensor-core FLOP/s (what matrix products get); fp32: FLOP/s of the fp32
 * units (what the non-matmul work gets); exps: exp() per second of the special-function units; bw: HBM bytes/s. */
typedef struct {
    const char *name, *source;
    double mm, fp32, exps, bw;
} lab_gpu;
enum { LAB_A100_40, LAB_A100_80, LAB_H100, LAB_H200, LAB_NGPUS };
extern const lab_gpu LAB_GPU[LAB_NGPUS];
double lab_gpu_ridge(const lab_gpu *g);   /* mm / bw: FLOPs per byte where memory time = matmul time */
/* With L->say: the ceilings, one line per GPU (its rates, its ridge, its source). */
void lab_roof_print_gpus(const lab_t *L);

/* One kernel (or a fused pass, or a sum of kernels), counted. l2_bytes: its HBM traffic if an ideal L2 served every
 * re-read within a kernel (each tensor read at most once per kernel, and not at all after the kernel wrote it;
 * written at most once). */
typedef struct {
    const char *name, *key;   /* for people; one word for files and summary keys ("std_S", "flash2") */
    uint64_t flops_mm, flops_ew, exps, bytes, l2_bytes;
} lab_kernel;
enum { LAB_K_S, LAB_K_SOFTMAX, LAB_K_PV, LAB_K_STANDARD, LAB_K_FLASH1, LAB_K_FLASH2, LAB_NKERNELS };
/* One forward of cfg's shape (count-only, cfg's M and dtype, each algorithm's own block rule): standard attention's
 * three kernels (its ledger phases) and their sum, and the fused forward passes of flash1 and flash2. Every ledger is
 * held to its closed form: false if one differs. */
bool lab_kernels(const cli_cfg *cfg, lab_kernel *k);
double lab_kernel_ai(const lab_kernel *k, bool l2);   /* (matmul + other FLOPs) / bytes (or l2_bytes) */
/* Time on g's roofline, seconds: the larger of bytes / bw and mm / g->mm + ew / g->fp32 + exps / g->exps (memory
 * and compute overlap perfectly; the compute units do not overlap each other). *memory_bound: the bytes decide. */
double lab_kernel_time(const lab_kernel *k, const lab_gpu *g, bool l2, bool *memory_bound);
/* With L->say: the kernels' counts and FLOP/B (and behind the ideal L2), then their times on every GPU's roofline. */
void lab_roof_print_kernels(const lab_t *L, const lab_kernel *k, size_t n);

/* Forward then backward of cfg's shape on a fresh count-only model of M = cfg's (grown to what the blocks need when
 * Br, Bc are given), each pass on its own rule's blocks (or Br x Bc for both): every access, DRAM behind an ideal
 * L2, the work, dQ's traffic, and whether both ledgers equal their closed forms. */
typedef struct {
    uint64_t bytes, l2_bytes, flops_mm, flops_ew, exps;
    uint64_t dq_bytes, dq_size;   /* reads + writes of dQ; dQ's bytes (one write) */
    size_t Br[2], Bc[2];          /* forward, backward */
    bool closed_ok;
} lab_fb;
void lab_fwd_bwd(const cli_cfg *cfg, attn_algo a, bool causal, size_t Br, size_t Bc, lab_fb *out);

/* The observer behind l2_bytes, for any run: attach before the tensors are allocated. */
typedef struct lab_l2 lab_l2;
lab_l2 *lab_l2_watch(mem_t *m);
uint64_t lab_l2_bytes(const lab_l2 *w, const char *phase);   /* one ledger phase, or NULL: all of them */
void lab_l2_free(mem_t *m, lab_l2 *w);

/* FlashAttention's warp partitioning inside one thread block, counted on the memory model one level down: shared
 * memory plays HBM, one warp's registers play SRAM. One Br x Bc tile of the forward split over `warps` warps:
 * split-K (FlashAttention-1: each warp takes Bc/warps keys, reads all of Qi, and the warps' partial Oi (fp32) and row
 * statistics go through shared memory to be summed) or split-Q (FlashAttention-2: each warp takes Br/warps query rows
 * and reads all of Kj, Vj; nothing to exchange). Elements moved between shared memory and registers, per tile. */
typedef struct {
    uint64_t q, kv, exchange;   /* reads of Qi; of Kj and Vj; partial O and m, l written and read back */
    unsigned syncs;             /* barriers between the warps within the tile */
} lab_split;
void lab_warp_split(size_t Br, size_t Bc, size_t d, size_t warps, bool split_q, lab_split *out);

/* <out-dir>/<name>: the ceilings (block 0: one row per GPU) and the kernels (block 1: AI, bytes, FLOPs, the time on
 * each GPU's roofline), gnuplot-ready, all or nothing (exit 3 on a failed write). */
void lab_roof_write(const cli_cfg *cfg, const char *name, const lab_kernel *k, size_t n);

#endif
