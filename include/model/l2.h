/* l2.h — an L2 cache between HBM and the SMs, and the thread-block schedule that feeds it: from the ledger's
 * requests to the DRAM bytes Nsight Compute measures (dram__bytes_read.sum, dram__bytes_write.sum).
 *
 * The ledger (mem.h) counts what a kernel asks of global memory, exactly. A GPU's L2 answers most of it: a head's
 * K and V stay in L2 while all its query blocks stream them. The model replays the ledger's requests through
 *   - a schedule: a kernel is a grid of thread blocks; SMs x blocks-per-SM of them are resident at once (blocks per
 *     SM from their shared memory and threads), they start in blockIdx order as slots free up, and the resident
 *     ones take turns, one request (one tile load or store) each, round robin;
 *   - a cache of 128-byte lines of four 32-byte sectors, in two partitions (A100 and H100 split their L2 in two,
 *     each next to half the SMs). A line lives in its home partition (a hash of its address); a line an SM reads
 *     from the other partition is also copied into the SM's own one, so data read on both sides takes two lines.
 *     Sets of L2_WAYS lines, picked by a hash; least recently used line evicted. A load of a sector not in L2
 *     reads 32 bytes from DRAM; a store goes to the home line without reading (write-back, byte masks) and updates a
 *     copy the SM's partition holds. Dirty data is written back when its line is evicted, or early when more than
 *     L2_DIRTY_FRACTION of the L2 is dirty (a random dirty line is cleaned); a sector written only in part is read
 *     before it is written back (DRAM keeps ECC per sector). Each kernel starts on an empty L2 (ncu flushes the
 *     caches before every kernel it profiles) and nothing is flushed at its end: data still in L2 then never
 *     reaches DRAM.
 * Nothing changes in the ledger: the L2 only adds predicted DRAM bytes beside it, per kernel and per tensor.
 *
 *   l2_config c;  l2_config_parse("H100", &c, err, sizeof err);       // or "50MiB", "A100", "H200"
 *   l2_kernel k[L2_MAX_KERNELS];  int n = l2_attn_kernels(&p, k);     // the teaching kernels' grids (cuda/)
 *   l2_t *l2 = l2_create(&c);  l2_attach(l2, m, k, n);                // before the tensors are allocated
 *   t = attn_alloc(m, &p, DTYPE_FP32, false);  attn_forward(m, &p, &t);
 *   l2_count io = l2_io(l2, NULL, "v03_flash2");                      // requests and predicted DRAM bytes
 *   l2_destroy(l2);                                                   // before mem_destroy(m)
 *
 * Off unless a program asks for it: without an l2_t nothing observes the model and every ledger stays as it was.
 */
#ifndef FLASHLAB_L2_H
#define FLASHLAB_L2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attention.h"
#include "mem.h"

#define L2_LINE_BYTES 128      /* an L2 line: one tag */
#define L2_SECTOR_BYTES 32     /* a sector: what DRAM moves and what ncu's lts__t_sectors count */
/* NVIDIA publishes neither the associativity nor the replacement policy. With hashed sets, 32 ways behave close to
 * a fully associative LRU; of 8, 16 and 32, it is the one that fits the recorded reads best (docs/l2.md). */
#define L2_WAYS 32
#define L2_PARTITIONS 2
/* The most of the L2 that may be dirty before lines are written back early: fitted to what the recorded kernels
 * leave dirty when they end (standard's scores kernel: 22 MB on an H100, 27 MB on an H200). */
#define L2_DIRTY_FRACTION 0.42
#define L2_SAMPLE_CHUNK 1024   /* sampling keeps or drops whole 1 KiB pieces of the address space */
#define L2_MAX_KERNELS 8
#define L2_MAX_KEYED 4

/* The GPU around the L2: its size and what decides how many thread blocks run at once. */
typedef struct {
    char name[16];             /* "H100", or "custom" for a size given in bytes */
    uint64_t bytes;            /* L2 capacity */
    unsigned ways;             /* associativity (L2_WAYS) */
    unsigned parts;            /* partitions (L2_PARTITIONS; 1: one plain cache) */
    double dirty_fraction;     /* L2_DIRTY_FRACTION; 1: dirty lines leave only when evicted */
    bool rmw;                  /* a sector written in part is read before it is written back */
    unsigned sms;              /* streaming multiprocessors */
    size_t smem_per_sm;        /* shared memory one SM holds (bytes) */
    size_t smem_reserved;      /* shared memory CUDA reserves per resident block (1 KiB since Ampere) */
    unsigned threads_per_sm;   /* most resident threads per SM */
    unsigned blocks_per_sm;    /* most resident blocks per SM */
    size_t smem_optin;         /* most shared memory one block may ask for: the M the teaching kernels' blocks use */
    unsigned sample;           /* simulate the addresses of one chunk in `sample` and scale (1: all of them, exact);
                                * a power of 2; the cache shrinks by the same factor */
} l2_config;

/* "A100" (40 MiB, 108 SMs), "H100" (50 MiB, 132 SMs), "H200" (60 MiB, 132 SMs), or a size ("50MiB", "40M",
 * "1048576": powers of 1024) on an H100's SMs. 0, or -1 with one line in err. */
int l2_config_parse(const char *s, l2_config *out, char *err, size_t errlen);

/* One kernel launch: a one-dimensional grid, and how a request finds the block that issued it.
 * block = (b*H + h) * per_head + unit, where unit is 0 when rows_per_block is 0, the last mem_step's i for a
 * tensor named in keyed (its rows are keys, walked by every query block), and r0 / rows_per_block otherwise. */
typedef struct {
    char name[24];             /* "v03_flash2" */
    char phase[MEM_NAME_LEN];  /* the memory model's phase whose requests it issues ("forward", "S", "PV") */
    uint64_t blocks;           /* grid size */
    unsigned threads;          /* threads per block */
    size_t smem;               /* shared memory per block, bytes */
    uint64_t per_head;         /* blocks per (batch, head) */
    size_t heads;              /* H */
    size_t rows_per_block;     /* query rows one block owns (0: all of them) */
    const char *keyed[L2_MAX_KEYED];   /* tensors whose requests belong to the block of the current step */
} l2_kernel;

/* The grids of the CUDA teaching kernels for p (blocks Br, Bc set; fp32), as cuda/ launches them:
 * standard v01_scores (B*H*Tr blocks), v01_softmax (B*H*N), v01_pv (B*H*Tr); flash1 v02_flash1 (B*H);
 * flash2 v03_flash2 (B*H*Tr); 256 threads each, shared memory from attn_sram_plan. Returns how many. */
int l2_attn_kernels(const attn_params *p, l2_kernel *out);

/* Blocks of k resident at once on c's GPU (SMs x blocks per SM, at most the grid); 0 when one block does not
 * fit an SM. Registers are not counted: the teaching kernels use few enough that shared memory decides. */
uint64_t l2_resident(const l2_config *c, const l2_kernel *k);

typedef struct l2 l2_t;

l2_t *l2_create(const l2_config *c);
void l2_destroy(l2_t *l2);     /* detaches from the memory model, which must still exist */
/* Observe m: its tensors get addresses (2 MiB aligned, in allocation order, as cudaMalloc gives them), so attach
 * before allocating them; a phase named by kernel k starts kernel k on an empty L2; requests in other phases
 * form a kernel of one block of their own. */
void l2_attach(l2_t *l2, mem_t *m, const l2_kernel *k, int nkernels);
void l2_finish(l2_t *l2);      /* run what is queued to its end (l2_io calls it) */

/* ---- the cache alone (tests) --------------------------------------------------------------------------------- */
void l2_begin_kernel(l2_t *l2, const char *name);   /* counts go to this kernel; the L2 starts empty */
/* bytes at addr read (write = false) or written by SM sm, on behalf of a tensor (a name). */
void l2_access(l2_t *l2, unsigned sm, uint64_t addr, uint64_t bytes, bool write, const char *tensor);
unsigned l2_home(const l2_t *l2, uint64_t addr);    /* the partition the byte at addr lives in */

/* ---- what it predicts ---------------------------------------------------------------------------------------- */
typedef struct {
    uint64_t req_rd, req_wr;   /* bytes requested (loads, stores): the ledger's bytes */
    uint64_t dram_rd, dram_wr; /* predicted DRAM bytes: sectors missed, dirty sectors written back */
} l2_count;
/* Counts of one tensor (NULL: all) in one kernel (NULL: all kernels). */
l2_count l2_io(l2_t *l2, const char *tensor, const char *kernel);
size_t l2_nkernels(const l2_t *l2);
const char *l2_kernel_name(const l2_t *l2, size_t i);   /* in the order they first ran */
uint64_t l2_kernel_resident(const l2_t *l2, size_t i);  /* blocks resident at once (1: a kernel of one block) */
const l2_config *l2_config_of(const l2_t *l2);

#endif
