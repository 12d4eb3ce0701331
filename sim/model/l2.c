/* l2.c — the L2 cache and the thread-block schedule that feeds it (see include/model/l2.h). */
#include "l2.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define TENSOR_ALIGN ((uint64_t)2 << 20)   /* cudaMalloc hands out large buffers on 2 MiB boundaries */
#define MAX_RUNS MEM_MAX_PHASES            /* distinct kernel names one model may run */
#define SALT_CHUNK 0x2545f4914f6cdd1dULL   /* independent hashes of one address: sampled?, home, set */
#define SALT_HOME 0x9e3779b97f4a7c15ULL

/* ---- configurations ------------------------------------------------------------------------------------------ */

/* Sizes from NVIDIA's A100 and H100 whitepapers (L2, SMs, shared memory per SM and per block). H200 is the same
 * GH100 chip with all six HBM stacks, hence all twelve memory controllers and their L2 slices: 96 slices of
 * 640 KiB, 60 MiB (the H100 SXM has ten controllers, 80 slices, 50 MiB); the lent H200s report 60 MB of L2. */
static const l2_config presets[] = {
    {"A100", (uint64_t)40 << 20, L2_WAYS, L2_PARTITIONS, L2_DIRTY_FRACTION, true, 108, 164 << 10, 1 << 10, 2048, 32,
     163 << 10, 1},
    {"H100", (uint64_t)50 << 20, L2_WAYS, L2_PARTITIONS, L2_DIRTY_FRACTION, true, 132, 228 << 10, 1 << 10, 2048, 32,
     227 << 10, 1},
    {"H200", (uint64_t)60 << 20, L2_WAYS, L2_PARTITIONS, L2_DIRTY_FRACTION, true, 132, 228 << 10, 1 << 10, 2048, 32,
     227 << 10, 1},
};

static bool same_name(const char *a, const char *b)   /* ASCII, case-insensitive */
{
    for (; *a && tolower((unsigned char)*a) == tolower((unsigned char)*b); a++, b++)
        ;
    return tolower((unsigned char)*a) == tolower((unsigned char)*b);
}

int l2_config_parse(const char *s, l2_config *out, char *err, size_t errlen)
{
    char esc[64];
    for (size_t i = 0; s && i < sizeof presets / sizeof presets[0]; i++)
        if (same_name(s, presets[i].name)) {
            *out = presets[i];
            return 0;
        }
    static const struct { const char *suffix; unsigned shift; } units[] = {
        {"", 0}, {"B", 0}, {"K", 10}, {"KB", 10}, {"KiB", 10}, {"M", 20}, {"MB", 20}, {"MiB", 20}, {"G", 30},
        {"GB", 30}, {"GiB", 30}};
    if (s && isdigit((unsigned char)*s)) {
        errno = 0;
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        uint64_t least = (uint64_t)L2_LINE_BYTES * L2_WAYS * L2_PARTITIONS;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            if (strcmp(end, units[i].suffix))
                continue;
            if (errno == ERANGE || v > ((uint64_t)1 << 40) >> units[i].shift || (v << units[i].shift) < least) {
                snprintf(err, errlen, "--l2 %s: the size must lie between %llu bytes (one set of %d lines in each "
                         "of %d partitions) and 1 TiB", fl_escape(s, esc, sizeof esc), (unsigned long long)least,
                         L2_WAYS, L2_PARTITIONS);
                return -1;
            }
            *out = presets[1];
            snprintf(out->name, sizeof out->name, "custom");
            out->bytes = (uint64_t)v << units[i].shift;
            return 0;
        }
    }
    snprintf(err, errlen, "--l2 takes A100, H100, H200 or a size like 50MiB, got '%s'",
             fl_escape(s ? s : "", esc, sizeof esc));
    return -1;
}

/* ---- the teaching kernels' grids (cuda/attn_v01_naive.cu, attn_v02_flash1.cu, attn_v03_flash2.cu) ------------- */

static l2_kernel kernel(const char *name, const char *phase, uint64_t per_head, const attn_params *p,
                        size_t rows_per_block, size_t smem, const char *key0, const char *key1)
{
    l2_kernel k = {.blocks = (uint64_t)p->B * p->H * per_head, .threads = 256, .smem = smem, .per_head = per_head,
                   .heads = p->H, .rows_per_block = rows_per_block, .keyed = {key0, key1}};
    snprintf(k.name, sizeof k.name, "%s", name);
    snprintf(k.phase, sizeof k.phase, "%s", phase);
    return k;
}

int l2_attn_kernels(const attn_params *p, l2_kernel *out)
{
    sram_plan pl;
    uint64_t Tr = ceil_div(p->N, p->Br);
    switch (p->algo) {
    case ATTN_STANDARD:
        /* one block per (batch, head, query block); one per row of S (and 8 floats of reduction scratch); one per
         * (batch, head, query block) */
        attn_standard_plan(0, p->Br, p->Bc, p->d, DTYPE_FP32, &pl);
        out[0] = kernel("v01_scores", attn_standard_phase[0], Tr, p, p->Br, pl.bytes, "K", NULL);
        attn_standard_plan(1, p->Br, p->Bc, p->d, DTYPE_FP32, &pl);
        out[1] = kernel("v01_softmax", attn_standard_phase[1], p->N, p, 1, pl.bytes + 8 * sizeof(float), NULL, NULL);
        attn_standard_plan(2, p->Br, p->Bc, p->d, DTYPE_FP32, &pl);
        out[2] = kernel("v01_pv", attn_standard_phase[2], Tr, p, p->Br, pl.bytes, "V", NULL);
        return 3;
    case ATTN_FLASH1:   /* one block per (batch, head): it walks every tile of its head */
        attn_sram_plan(ATTN_FLASH1, false, p->Br, p->Bc, p->d, DTYPE_FP32, &pl);
        out[0] = kernel("v02_flash1", "forward", 1, p, 0, pl.bytes, NULL, NULL);
        return 1;
    case ATTN_FLASH2:   /* one block per (batch, head, query block) */
        attn_sram_plan(ATTN_FLASH2, false, p->Br, p->Bc, p->d, DTYPE_FP32, &pl);
        out[0] = kernel("v03_flash2", "forward", Tr, p, p->Br, pl.bytes, "K", "V");
        return 1;
    default:
        fl_internal("no teaching kernel for attention algorithm %d", (int)p->algo);
    }
}

uint64_t l2_resident(const l2_config *c, const l2_kernel *k)
{
    if (k->threads == 0 || k->threads > c->threads_per_sm || k->smem > c->smem_optin)
        return 0;
    uint64_t per_sm = min_size(c->blocks_per_sm, c->threads_per_sm / k->threads);
    per_sm = min_size(per_sm, c->smem_per_sm / (k->smem + c->smem_reserved));
    uint64_t r = per_sm * c->sms;
    return r < k->blocks ? r : k->blocks;
}

/* ---- state ---------------------------------------------------------------------------------------------------- */

/* A line's state beside its tag and LRU stamp (kept in arrays of their own: a lookup scans only those). */
typedef struct {
    uint32_t part[4];    /* bytes written of each sector that is not valid: a store that covered only part of it */
    uint32_t dpos;       /* where the line is in the dirty list */
    uint8_t valid, dirty;/* sector masks: data present (fetched, or wholly written); to be written back */
    uint8_t tensor;      /* whose dirty bytes these are */
} way_t;

/* One request, as a kernel's block issued it: nrows rows of rowbytes bytes, ld bytes apart. */
typedef struct {
    uint64_t addr, ld, rowbytes, nrows;
    uint8_t tensor, write;
} req_t;

/* Blocks in the order their requests arrived, and where their requests are in the queue. */
typedef struct {
    uint64_t block;
    size_t start, end;   /* absolute request numbers; end = SIZE_MAX while the block is still issuing */
} blk_t;

typedef struct {
    size_t b;            /* index into blks of the resident block; SIZE_MAX: free */
    size_t cur;          /* its next request (absolute number) */
    bool fresh;          /* dispatched this round: issues from the next one */
} slot_t;

typedef struct {
    char name[24];
    uint64_t resident;
    l2_count io[MEM_MAX_TENSORS];
} run_t;

struct l2 {
    l2_config c;
    /* the cache: parts x rows sets of c.ways lines (only the sets the sample keeps) */
    uint64_t *tag;               /* line number + 1; 0: an empty way */
    uint64_t *stamp;             /* last use, for LRU (empty ways have 0 and are taken first) */
    way_t *way;
    uint64_t rows, nways, clock;
    uint32_t *dirty;             /* the dirty lines, by way index */
    uint64_t ndirty, dirty_max;
    unsigned sm_part;            /* the partition of the SM issuing now */
    /* tensors: names and addresses */
    char tname[MEM_MAX_TENSORS][MEM_NAME_LEN];
    uint64_t tbase[MEM_MAX_TENSORS];
    bool tplaced[MEM_MAX_TENSORS];
    int ntensors;
    uint64_t next_addr;
    /* kernels */
    mem_t *m;
    l2_kernel spec[L2_MAX_KERNELS];
    int nspec;
    run_t run[MAX_RUNS];
    size_t nruns, cur_run;
    /* the kernel being run */
    bool active;
    l2_kernel k;
    long step_i;
    req_t *q;
    size_t qoff, qlen, qcap;     /* requests qoff .. qoff+qlen-1 are held (absolute numbers) */
    blk_t *blks;
    size_t nblks, bcap, next_blk;
    slot_t *slot;
    uint64_t nslots, rr;
    bool busy;                   /* a turn was taken in the round under way */
};

static void observe(const mem_event *ev, void *ctx);

static uint64_t mix(uint64_t x)   /* splitmix64's finalizer: neighbouring lines land in unrelated sets */
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

l2_t *l2_create(const l2_config *c)
{
    uint64_t sets = c->ways && c->parts ? c->bytes / L2_LINE_BYTES / c->ways / c->parts : 0;
    if (sets == 0 || sets >= ((uint64_t)1 << 32) || c->sample == 0 || (c->sample & (c->sample - 1)) || !c->sms ||
        c->ways > 64 || !(c->dirty_fraction > 0 && c->dirty_fraction <= 1))
        fl_internal("L2 of %llu bytes, %u ways, %u partitions, dirty fraction %g, sampling 1 in %u",
                    (unsigned long long)c->bytes, c->ways, c->parts, c->dirty_fraction, c->sample);
    l2_t *l2 = xcalloc(1, sizeof *l2);
    l2->c = *c;
    while (l2->c.sample > sets)   /* a cache too small to sample: fewer chunks left out */
        l2->c.sample /= 2;
    l2->rows = sets / l2->c.sample;   /* the sample's share of the sets */
    l2->nways = l2->rows * c->ways * c->parts;
    if (l2->nways >= ((uint64_t)1 << 32))
        fl_internal("L2 of %llu lines: too many to simulate", (unsigned long long)l2->nways);
    l2->tag = xcalloc(l2->nways, sizeof *l2->tag);
    l2->stamp = xcalloc(l2->nways, sizeof *l2->stamp);
    l2->way = xcalloc(l2->nways, sizeof *l2->way);
    l2->dirty = xcalloc(l2->nways, sizeof *l2->dirty);
    l2->dirty_max = (uint64_t)(c->dirty_fraction * (double)l2->nways);
    l2->next_addr = TENSOR_ALIGN;
    l2->step_i = -1;
    return l2;
}

void l2_destroy(l2_t *l2)
{
    if (!l2)
        return;
    if (l2->m)
        mem_unobserve(l2->m, observe, l2);
    free(l2->tag);
    free(l2->stamp);
    free(l2->way);
    free(l2->dirty);
    free(l2->q);
    free(l2->blks);
    free(l2->slot);
    free(l2);
}

static int tensor_id(l2_t *l2, const char *name)
{
    for (int i = 0; i < l2->ntensors; i++)
        if (!strcmp(l2->tname[i], name))
            return i;
    if (l2->ntensors == MEM_MAX_TENSORS)
        fl_internal("more than %d tensors seen by the L2 model", MEM_MAX_TENSORS);
    snprintf(l2->tname[l2->ntensors], MEM_NAME_LEN, "%s", name);
    return l2->ntensors++;
}

void l2_begin_kernel(l2_t *l2, const char *name)
{
    size_t i = 0;
    while (i < l2->nruns && strcmp(l2->run[i].name, name))
        i++;
    if (i == l2->nruns) {
        if (l2->nruns == MAX_RUNS)
            fl_internal("more than %d kernels seen by the L2 model", MAX_RUNS);
        snprintf(l2->run[l2->nruns++].name, sizeof l2->run[0].name, "%s", name);
    }
    l2->cur_run = i;
    l2->run[i].resident = 1;
    memset(l2->tag, 0, l2->nways * sizeof *l2->tag);   /* ncu empties the caches before each kernel */
    memset(l2->stamp, 0, l2->nways * sizeof *l2->stamp);
    memset(l2->way, 0, l2->nways * sizeof *l2->way);
    l2->ndirty = 0;
}

/* ---- the cache ------------------------------------------------------------------------------------------------ */

/* Write back way w's dirty sectors (it stays, clean). A sector written only in part is read first: DRAM keeps its
 * ECC per sector, so the L2 must merge the unwritten bytes before it writes. */
static void write_back(l2_t *l2, uint64_t w)
{
    way_t *x = &l2->way[w];
    l2_count *io = &l2->run[l2->cur_run].io[x->tensor];
    io->dram_wr += (uint64_t)__builtin_popcount(x->dirty) * L2_SECTOR_BYTES;
    if (l2->c.rmw)
        io->dram_rd += (uint64_t)__builtin_popcount(x->dirty & ~x->valid) * L2_SECTOR_BYTES;
    x->valid |= x->dirty;
    memset(x->part, 0, sizeof x->part);
    x->dirty = 0;
    uint32_t last = l2->dirty[--l2->ndirty];   /* out of the dirty list */
    l2->dirty[x->dpos] = last;
    l2->way[last].dpos = x->dpos;
}

/* The way holding tag in the set starting at way s, or (alloc) its least recently used way, emptied for the
 * tag; NONE otherwise. The way returned is touched (most recently used). */
#define NONE UINT64_MAX
static uint64_t lookup(l2_t *l2, uint64_t s, uint64_t tag, bool alloc)
{
    const uint64_t *t = l2->tag + s, *st = l2->stamp + s;
    uint64_t hit = NONE;
    for (unsigned x = 0; x < l2->c.ways; x++)
        if (t[x] == tag) {
            hit = s + x;
            break;
        }
    if (hit == NONE) {
        if (!alloc)
            return NONE;
        unsigned v = 0;
        for (unsigned x = 1; x < l2->c.ways; x++)
            if (st[x] < st[v])
                v = x;
        hit = s + v;
        if (l2->way[hit].dirty)
            write_back(l2, hit);
        l2->tag[hit] = tag;
        l2->way[hit] = (way_t){.valid = 0};
    }
    l2->stamp[hit] = ++l2->clock;
    return hit;
}

unsigned l2_home(const l2_t *l2, uint64_t addr)
{
    return l2->c.parts > 1 ? (unsigned)(mix(addr / L2_LINE_BYTES ^ SALT_HOME) % l2->c.parts) : 0;
}

/* Bytes b0 .. b1-1 of one line, read or written by an SM of partition l2->sm_part. */
static void line_access(l2_t *l2, uint64_t line, unsigned b0, unsigned b1, bool write, int tensor)
{
    uint64_t tag = line + 1, set = (mix(line) >> 32) * l2->rows >> 32;
    unsigned home = l2_home(l2, line * L2_LINE_BYTES), near = l2->sm_part;
    uint64_t hs = (home * l2->rows + set) * l2->c.ways, ns = (near * l2->rows + set) * l2->c.ways;
    unsigned s0 = b0 / L2_SECTOR_BYTES, s1 = (b1 - 1) / L2_SECTOR_BYTES;
    unsigned mask = ((2u << s1) - 1) & ~((1u << s0) - 1);

    if (!write && near != home) {   /* the SM's own partition may hold a copy */
        uint64_t n = lookup(l2, ns, tag, false);
        if (n != NONE && (l2->way[n].valid & mask) == mask)
            return;
    }
    uint64_t vi = lookup(l2, hs, tag, true);
    way_t *v = &l2->way[vi];
    if (write) {
        for (unsigned s = s0; s <= s1; s++) {   /* bytes of a sector not present: merge, whole at 32 */
            if (v->valid & (1u << s))
                continue;
            unsigned lo = b0 > 32 * s ? b0 - 32 * s : 0, hi = b1 < 32 * s + 32 ? b1 - 32 * s : 32;
            v->part[s] |= (uint32_t)(((hi == 32 ? 0 : 1ull << hi) - 1) & ~((1ull << lo) - 1));
            if (v->part[s] == UINT32_MAX) {
                v->valid |= 1u << s;
                v->part[s] = 0;
            }
        }
        if (!v->dirty) {
            v->dpos = (uint32_t)l2->ndirty;
            l2->dirty[l2->ndirty++] = (uint32_t)vi;
        }
        v->dirty |= (uint8_t)mask;
        v->tensor = (uint8_t)tensor;
        if (near != home) {   /* a copy in the SM's partition is updated */
            uint64_t n = lookup(l2, ns, tag, false);
            if (n != NONE)
                l2->way[n].valid |= (uint8_t)(mask & v->valid);
        }
        /* Past the high-water mark a random dirty line is cleaned: the L2 drains writes as it can, not in order. */
        while (l2->ndirty > l2->dirty_max)
            write_back(l2, l2->dirty[mix(l2->clock ^ l2->ndirty) % l2->ndirty]);
        return;
    }
    unsigned miss = mask & ~v->valid;
    l2->run[l2->cur_run].io[tensor].dram_rd += (uint64_t)__builtin_popcount(miss) * L2_SECTOR_BYTES;
    v->valid |= (uint8_t)mask;
    for (unsigned s = s0; s <= s1; s++)
        v->part[s] = 0;
    if (near != home)   /* and a copy for the SM's partition */
        l2->way[lookup(l2, ns, tag, true)].valid |= (uint8_t)mask;
}

/* bytes at addr: line by line, skipping the chunks the sample leaves out. */
static void range_access(l2_t *l2, uint64_t addr, uint64_t bytes, bool write, int tensor)
{
    uint64_t end = addr + bytes;
    while (addr < end) {
        uint64_t chunk_end = (addr / L2_SAMPLE_CHUNK + 1) * L2_SAMPLE_CHUNK, stop = end < chunk_end ? end : chunk_end;
        if (l2->c.sample > 1 && mix(addr / L2_SAMPLE_CHUNK ^ SALT_CHUNK) % l2->c.sample) {
            addr = stop;
            continue;
        }
        while (addr < stop) {
            uint64_t line = addr / L2_LINE_BYTES, lend = (line + 1) * L2_LINE_BYTES, e = stop < lend ? stop : lend;
            line_access(l2, line, (unsigned)(addr - line * L2_LINE_BYTES), (unsigned)(e - line * L2_LINE_BYTES), write,
                        tensor);
            addr = e;
        }
    }
}

static void count_request(l2_t *l2, int tensor, uint64_t bytes, bool write)
{
    l2_count *io = &l2->run[l2->cur_run].io[tensor];
    if (write)
        io->req_wr += bytes;
    else
        io->req_rd += bytes;
}

void l2_access(l2_t *l2, unsigned sm, uint64_t addr, uint64_t bytes, bool write, const char *tensor)
{
    int t = tensor_id(l2, tensor);
    if (!l2->nruns)
        l2_begin_kernel(l2, "main");
    count_request(l2, t, bytes, write);
    l2->sm_part = sm % l2->c.sms % l2->c.parts;
    range_access(l2, addr, bytes, write, t);
}

/* ---- the schedule ---------------------------------------------------------------------------------------------- */

/* Drop the requests no block will issue again, and the blocks that are done. */
static void compact(l2_t *l2)
{
    size_t keep = l2->next_blk < l2->nblks ? l2->blks[l2->next_blk].start : l2->qoff + l2->qlen, first = l2->next_blk;
    for (uint64_t s = 0; s < l2->nslots; s++)
        if (l2->slot[s].b != SIZE_MAX) {
            keep = l2->slot[s].cur < keep ? l2->slot[s].cur : keep;
            first = l2->slot[s].b < first ? l2->slot[s].b : first;
        }
    size_t drop = keep - l2->qoff;
    if (drop < l2->qlen / 2 + 1024)
        return;
    memmove(l2->q, l2->q + drop, (l2->qlen - drop) * sizeof *l2->q);
    l2->qoff += drop;
    l2->qlen -= drop;
    memmove(l2->blks, l2->blks + first, (l2->nblks - first) * sizeof *l2->blks);
    l2->nblks -= first;
    l2->next_blk -= first;
    for (uint64_t s = 0; s < l2->nslots; s++)
        if (l2->slot[s].b != SIZE_MAX)
            l2->slot[s].b -= first;
}

/* Resident blocks take turns round robin, one request each. A block that is done frees its slot for the next
 * block in launch order, which starts on the next round; slot s runs on SM s mod SMs. The order of turns never
 * depends on how far the producer has come: where the next turn needs a request or a block not known yet, advance
 * stops and later resumes there (final: nothing more will come). */
static void advance(l2_t *l2, bool final)
{
    for (;;) {
        for (; l2->rr < l2->nslots; l2->rr++) {
            slot_t *s = &l2->slot[l2->rr];
            if (s->b != SIZE_MAX) {
                const blk_t *b = &l2->blks[s->b];
                size_t avail = b->end != SIZE_MAX ? b->end : l2->qoff + l2->qlen;
                if (s->fresh) {
                    s->fresh = false;
                    l2->busy = true;
                    continue;
                }
                if (s->cur < avail) {
                    const req_t *r = &l2->q[s->cur++ - l2->qoff];
                    l2->sm_part = (unsigned)(l2->rr % l2->c.sms % l2->c.parts);
                    for (uint64_t x = 0; x < r->nrows; x++)
                        range_access(l2, r->addr + x * r->ld, r->rowbytes, r->write, r->tensor);
                    l2->busy = true;
                    continue;
                }
                if (b->end == SIZE_MAX && !final)
                    return;   /* the block's next request is not issued yet */
                s->b = SIZE_MAX;
            }
            if (l2->next_blk < l2->nblks) {
                *s = (slot_t){.b = l2->next_blk, .cur = l2->blks[l2->next_blk].start, .fresh = true};
                l2->next_blk++;
                l2->busy = true;
            } else if (!final) {
                return;       /* whether another block comes is not known yet */
            }
        }
        l2->rr = 0;
        if (!l2->busy)
            return;           /* a round in which nobody took a turn: every block is done */
        l2->busy = false;
        compact(l2);
    }
}

static void end_kernel(l2_t *l2)
{
    if (!l2->active)
        return;
    if (l2->nblks)
        l2->blks[l2->nblks - 1].end = l2->qoff + l2->qlen;
    advance(l2, true);
    l2->active = false;
    l2->qoff += l2->qlen;
    l2->qlen = 0;
    l2->nblks = l2->next_blk = 0;
}

static void start_kernel(l2_t *l2, const char *phase)
{
    end_kernel(l2);
    l2_kernel k = {.blocks = 1, .threads = 1, .per_head = 1, .heads = 1};
    snprintf(k.name, sizeof k.name, "%s", phase);
    snprintf(k.phase, sizeof k.phase, "%s", phase);
    for (int i = 0; i < l2->nspec; i++)
        if (!strcmp(l2->spec[i].phase, phase))
            k = l2->spec[i];
    uint64_t r = k.blocks == 1 ? 1 : l2_resident(&l2->c, &k);
    if (r == 0)
        fl_fatal("kernel %s: one block (%u threads, %zu bytes of shared memory) does not fit an SM of the %s", k.name,
                 k.threads, k.smem, l2->c.name);
    l2->k = k;
    l2->active = true;
    l2->step_i = -1;
    free(l2->slot);
    l2->slot = xmalloc(r * sizeof *l2->slot);
    for (uint64_t s = 0; s < r; s++)
        l2->slot[s] = (slot_t){.b = SIZE_MAX};
    l2->nslots = r;
    l2->rr = 0;
    l2->busy = false;
    l2_begin_kernel(l2, k.name);
    l2->run[l2->cur_run].resident = r;
}

static uint64_t block_of(const l2_t *l2, const mem_event *ev)
{
    const l2_kernel *k = &l2->k;
    if (k->blocks == 1)
        return 0;
    uint64_t unit = 0;
    if (k->rows_per_block) {
        bool keyed = false;
        for (int i = 0; i < L2_MAX_KEYED; i++)
            keyed |= k->keyed[i] && !strcmp(k->keyed[i], ev->tensor);
        unit = keyed ? (uint64_t)(l2->step_i < 0 ? 0 : l2->step_i) : ev->r0 / k->rows_per_block;
    }
    uint64_t blk = ((uint64_t)ev->b * k->heads + ev->h) * k->per_head + unit;
    if (blk >= k->blocks)
        fl_internal("kernel %s: a request of %s maps to block %llu of %llu", k->name, ev->tensor,
                    (unsigned long long)blk, (unsigned long long)k->blocks);
    return blk;
}

static void *grow(void *p, size_t *cap, size_t size)
{
    *cap = *cap ? 2 * *cap : 1024;
    p = realloc(p, *cap * size);
    if (!p)
        fl_fatal("out of host memory for the L2 model's schedule");
    return p;
}

static void enqueue(l2_t *l2, const mem_event *ev)
{
    int t = tensor_id(l2, ev->tensor);
    if (!l2->tplaced[t])
        fl_internal("tensor %s was allocated before the L2 model was attached: it has no address", ev->tensor);
    if (!l2->active)
        start_kernel(l2, "main");
    count_request(l2, t, ev->bytes, ev->kind == MEM_EV_STORE);
    if (!ev->elems)
        return;
    uint64_t es = ev->bytes / ev->elems, blk = block_of(l2, ev);
    if (!l2->nblks || l2->blks[l2->nblks - 1].block != blk) {
        if (l2->nblks && blk < l2->blks[l2->nblks - 1].block)
            fl_internal("kernel %s: block %llu issued after block %llu; the L2 schedule needs blocks in launch order",
                        l2->k.name, (unsigned long long)blk, (unsigned long long)l2->blks[l2->nblks - 1].block);
        if (l2->nblks)
            l2->blks[l2->nblks - 1].end = l2->qoff + l2->qlen;
        if (l2->nblks == l2->bcap)
            l2->blks = grow(l2->blks, &l2->bcap, sizeof *l2->blks);
        l2->blks[l2->nblks++] = (blk_t){.block = blk, .start = l2->qoff + l2->qlen, .end = SIZE_MAX};
        advance(l2, false);
    }
    if (l2->qlen == l2->qcap)
        l2->q = grow(l2->q, &l2->qcap, sizeof *l2->q);
    l2->q[l2->qlen++] = (req_t){.addr = l2->tbase[t] + ev->off * es, .ld = ev->ld * es, .rowbytes = ev->ncols * es,
                                .nrows = ev->nrows, .tensor = (uint8_t)t, .write = ev->kind == MEM_EV_STORE};
}

static void observe(const mem_event *ev, void *ctx)
{
    l2_t *l2 = ctx;
    switch (ev->kind) {
    case MEM_EV_HBM_ALLOC: {
        int t = tensor_id(l2, ev->tensor);
        l2->tbase[t] = l2->next_addr;
        l2->tplaced[t] = true;
        l2->next_addr += ceil_div(ev->bytes, TENSOR_ALIGN) * TENSOR_ALIGN;
        break;
    }
    case MEM_EV_PHASE:
        start_kernel(l2, ev->name);
        break;
    case MEM_EV_STEP:
        l2->step_i = ev->i;
        break;
    case MEM_EV_LOAD:
    case MEM_EV_STORE:
        enqueue(l2, ev);
        break;
    default:
        break;
    }
}

void l2_attach(l2_t *l2, mem_t *m, const l2_kernel *k, int nkernels)
{
    if (nkernels < 0 || nkernels > L2_MAX_KERNELS || l2->m)
        fl_internal("l2_attach with %d kernels (at most %d), or attached twice", nkernels, L2_MAX_KERNELS);
    if (nkernels)
        memcpy(l2->spec, k, (size_t)nkernels * sizeof *k);
    l2->nspec = nkernels;
    l2->m = m;
    mem_observe(m, observe, l2);
}

void l2_finish(l2_t *l2) { end_kernel(l2); }

/* ---- what it predicts ---------------------------------------------------------------------------------------- */

l2_count l2_io(l2_t *l2, const char *tensor, const char *kernel)
{
    l2_finish(l2);
    l2_count sum = {0, 0, 0, 0};
    for (size_t r = 0; r < l2->nruns; r++) {
        if (kernel && strcmp(kernel, l2->run[r].name))
            continue;
        for (int t = 0; t < l2->ntensors; t++) {
            if (tensor && strcmp(tensor, l2->tname[t]))
                continue;
            const l2_count *c = &l2->run[r].io[t];
            sum.req_rd += c->req_rd;
            sum.req_wr += c->req_wr;
            sum.dram_rd += c->dram_rd * l2->c.sample;   /* the sample's share, scaled back */
            sum.dram_wr += c->dram_wr * l2->c.sample;
        }
    }
    return sum;
}

size_t l2_nkernels(const l2_t *l2) { return l2->nruns; }
const char *l2_kernel_name(const l2_t *l2, size_t i) { return i < l2->nruns ? l2->run[i].name : NULL; }
uint64_t l2_kernel_resident(const l2_t *l2, size_t i) { return i < l2->nruns ? l2->run[i].resident : 0; }
const l2_config *l2_config_of(const l2_t *l2) { return &l2->c; }
