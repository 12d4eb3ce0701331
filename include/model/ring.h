/* ring.h — ring attention (Liu, Zaharia, Abbeel 2023): one sequence spread over P devices, each with its own HBM,
 * SRAM and ledger (a memory model of its own), joined in a ring of links that keep a ledger of their own.
 *
 * Device r keeps its query rows and passes the K, V chunk it holds to device r+1 (mod P), P-1 times. At step s it
 * holds the chunk of device (r - s) mod P, runs FlashAttention-2's forward on its queries against it
 * (attn_flash2_forward_head: O and L of that chunk alone) and merges the partial result into its running O, L with
 * the log-sum-exp rule of lesson02:  L = log(e^La + e^Lb),  O = e^(La - L) Oa + e^(Lb - L) Ob.
 *
 *   ring_params rp = {.P = 4, .layout = RING_ZIGZAG, .a = {.algo = ATTN_FLASH2, .B = 1, .N = N, .H = 1, .d = d,
 *                     .causal = true}, .link_bytes_per_s = RING_NVLINK4_BYTES_PER_S, .peak_flops = RING_H100_FLOPS};
 *   ring_choose_blocks(&rp, M, dt, 0, 0, &bc, err, sizeof err);    // each device's FA2 blocks for its chunk
 *   ring_t *R = ring_create(&rp, M, dt, false);
 *   ring_scatter(R, q, k, v);  ring_forward(R);  ring_gather(R, o, lse);
 *   ring_link(R, r, s);        // what crossed link r -> r+1 at step s
 *   mem_io(ring_mem(R, r), "Q", NULL);                               // device r's own ledger
 *
 * The sequence is cut into P chunks (contiguous) or 2P chunks (zigzag) as evenly as possible, the first N mod C one
 * row longer. Contiguous: device r holds chunk r. Zigzag: device r holds chunks r and 2P-1-r, stored one after the
 * other, so that under a causal mask every device has as much to compute (the layout of Llama 3's context
 * parallelism, Dubey et al. 2024, and of ring-flash-attention's zigzag). Causal: only the step that holds a device's own chunk is masked (step 0); other chunks lie
 * wholly before or after a query piece, so each step computes full tiles or nothing.
 *
 * Device r's HBM: Q, K, V, O (B, n_r, H, d) in the storage dtype and L (B, H, n_r) fp32; with P > 1 also the ring's
 * receive buffers Kin, Vin (two slots of the longest chunk each: one computed on, one being received) and the step's
 * partial Os (dtype), Ls (fp32). Its ledger counts HBM <-> SRAM traffic, as every memory model does; what crosses a
 * link (read from the sender's HBM, written into the receiver's) is the link ledger's. Phases: "flash2", "merge".
 *
 * The clock is modelled, not measured: a step's compute lasts its counted FLOPs / peak, a send its bytes / link
 * bandwidth; a device computes step s once it holds the chunk and has finished step s-1, and sends it on once the
 * link is free and the next device has a free slot. So the overlap of transfers with compute is computed, not assumed.
 */
#ifndef FLASHLAB_RING_H
#define FLASHLAB_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attention.h"
#include "mem.h"

#define RING_MAX_DEVICES 64   /* real context parallelism spans 8-64 GPUs; tables of more help nobody */

/* Named defaults: NVIDIA H100 SXM5 (datasheet). NVLink 4 gives a GPU 900 GB/s, both directions together: 450 GB/s
 * each way, one ring link's share when every GPU sends to one neighbour. Dense BF16 tensor cores: 989 TFLOP/s. */
#define RING_NVLINK4_BYTES_PER_S 450e9
#define RING_H100_FLOPS 989e12

typedef enum { RING_CONTIGUOUS, RING_ZIGZAG } ring_layout;
const char *ring_layout_name(ring_layout l);                /* "contiguous", "zigzag" */
int ring_layout_parse(const char *s, ring_layout *out);     /* 0 ok, -1 unknown */

typedef struct {
    size_t P;                 /* devices, 1 .. min(N, RING_MAX_DEVICES) */
    ring_layout layout;
    attn_params a;            /* the whole problem (B, N, H, d, scale, causal) and each device's blocks Br, Bc */
    double link_bytes_per_s;  /* one direction of one link */
    double peak_flops;        /* one device */
} ring_params;

/* 0, or -1 with one sentence in err: P = 0, P > N, P > RING_MAX_DEVICES, a rate that is not finite and > 0. */
int ring_check(const ring_params *rp, char *err, size_t errlen);

/* ---- the split ------------------------------------------------------------------------------------------------ */
typedef struct {
    size_t pos, n;            /* sequence positions pos .. pos+n-1 */
} ring_piece;
typedef struct {
    ring_piece piece[2];      /* stored in this order: device row i < piece[0].n is position piece[0].pos + i */
    size_t npieces;           /* 1 (contiguous) or 2 (zigzag; the second may hold 0 rows when N < 2P) */
    size_t n;                 /* rows the device holds */
} ring_chunk;
ring_chunk ring_chunk_of(const ring_params *rp, size_t r);
size_t ring_position(const ring_chunk *c, size_t i);       /* the sequence position of the chunk's row i */
size_t ring_max_rows(const ring_params *rp);                /* the longest chunk: the receive slots' rows */

/* What device r computes at step s: its rows q0 .. q0+nq-1 against rows k0 .. k0+nk-1 of the chunk it holds (device
 * src's), masked on the diagonal (causal, s = 0) or not. nq = 0: nothing (causal: every key comes after every query). */
typedef struct {
    size_t src, q0, nq, k0, nk;
    bool causal;
} ring_work;
ring_work ring_step_work(const ring_params *rp, size_t r, size_t s);
/* The GPU path's other plan (cuda/ring/, --plan chunks): every step the whole chunk pair, its kernel masking by
 * position (causal: key position > query position hidden); nq = 0 only when every key comes after every query. */
ring_work ring_step_whole(const ring_params *rp, size_t r, size_t s);
/* Rows w0 .. w0+n-1 of chunk c as a chunk of their own: their positions, in one piece or two (w0 + n <= c->n). */
ring_chunk ring_chunk_rows(const ring_chunk *c, size_t w0, size_t n);

/* Each device's FA2 blocks, by FA2's rule for the longest chunk (requests clamped to it): attn_choose_blocks. */
int ring_choose_blocks(ring_params *rp, size_t M_bytes, dtype_t dt, size_t Br_req, size_t Bc_req, block_choice *out,
                       char *err, size_t errlen);

/* ---- the devices ---------------------------------------------------------------------------------------------- */
typedef struct ring ring_t;
/* P memory models of SRAM M each, every tensor allocated; stops with exit 2 on bad parameters (ring_check). */
ring_t *ring_create(const ring_params *rp, size_t M_bytes, dtype_t dt, bool count_only);
void ring_destroy(ring_t *R);
const ring_params *ring_params_of(const ring_t *R);
mem_t *ring_mem(ring_t *R, size_t r);                      /* device r's memory model (observers go here) */
/* Host access, not counted: q, k, v (B, N, H, d) dealt to the devices; O (B, N, H, d) and L (B, H, N) collected. */
void ring_scatter(ring_t *R, const float *q, const float *k, const float *v);
void ring_gather(ring_t *R, float *o, float *lse);
/* The P steps. Runs once per ring. */
void ring_forward(ring_t *R);

/* ---- what was counted ----------------------------------------------------------------------------------------- */
typedef struct {
    uint64_t elems, bytes;
} ring_count;
ring_count ring_link(const ring_t *R, size_t r, size_t s);  /* link r -> r+1 mod P at step s (0 .. P-2) */
ring_count ring_link_total(const ring_t *R);
/* Device r at step s: tiles FA2 computed (visited, not skipped), FLOPs counted, and the modelled clock in ns. */
typedef struct {
    uint64_t tiles, flops;
    double start, end;            /* compute */
    double send_start, send_end;  /* its send to r+1 at this step (s < P-1), else 0 */
} ring_slot;
ring_slot ring_slot_at(const ring_t *R, size_t r, size_t s);
uint64_t ring_tiles(const ring_t *R, size_t r);             /* device r, every step */
double ring_time_ns(const ring_t *R);                       /* modelled: the last device's last compute ends */
/* Modelled with no overlap: every step sends first, then computes, each taking its slowest device. */
double ring_time_serial_ns(const ring_t *R);

/* ---- closed forms, from the lines of the algorithm (docs/lesson12.md derives them) ------------------------------ */
/* Elements over link r in all steps: every chunk but the next device's own, K and V: 2·B·H·d·(N - n_{r+1}). */
uint64_t ring_link_closed_form(const ring_params *rp, size_t r);
/* Device r's ledger in elements, all heads: rows Q, K, V, Kin, Vin, O, L, Os, Ls (reads, writes), totals and tiles;
 * and the most HBM bytes it holds. */
typedef struct {
    attn_io io;
    uint64_t hbm_peak;
} ring_device_io;
void ring_device_closed_form(const ring_params *rp, dtype_t dt, size_t r, ring_device_io *out);

#endif
