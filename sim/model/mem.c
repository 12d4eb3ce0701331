/* mem.c — the counting memory model (see include/model/mem.h). */
#define _DEFAULT_SOURCE   /* MAP_ANONYMOUS, MAP_NORESERVE: count-only SRAM buffers are address space, not memory */
#include "mem.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"

struct hbm_tensor {
    char name[MEM_NAME_LEN];
    int id;                      /* index in the ledger's per-tensor arrays */
    dtype_t dt;
    hbm_layout layout;
    size_t dim[4];               /* MAT: rows, cols; BNHD: B, N, H, d; BHN: B, H, N; BHNN: B, H, N, N */
    size_t numel, bytes;
    void *data;                  /* NULL in count-only mode */
    bool live;
};

/* What a model and its forked workers share: the tensors, the phase names, HBM allocation. */
typedef struct {
    hbm_tensor *tensor[MEM_MAX_TENSORS];
    size_t ntensors;
    char phase[MEM_MAX_PHASES][MEM_NAME_LEN];
    size_t nphases;
    uint64_t hbm_bytes, hbm_peak;
    uint64_t hbm_limit;          /* bytes of real storage the fake HBM may take from the host */
    size_t sram_capacity;
    bool count_only;
} hbm_state;

typedef struct {
    float *p;
    size_t mapped;               /* count-only: the bytes of p's inaccessible mapping (0: p is malloc'd) */
    size_t bytes, elems;
    dtype_t dt;
    char name[MEM_NAME_LEN];
} sram_buf;

struct mem {
    hbm_state *hbm;
    bool is_worker;
    sram_buf sram[MEM_MAX_TILES];
    size_t nsram, sram_used, sram_peak;
    size_t phase;                                   /* current phase index */
    io_count io[MEM_MAX_PHASES][MEM_MAX_TENSORS];
    uint64_t flops[MEM_MAX_PHASES], exps[MEM_MAX_PHASES];
    uint64_t seq;
    mem_observer obs[4];
    void *obs_ctx[4];
    size_t nobs;
};

/* ---- model --------------------------------------------------------------------------------------------------- */

mem_t *mem_create(size_t sram_capacity_bytes, bool count_only)
{
    mem_t *m = xcalloc(1, sizeof *m);
    m->hbm = xcalloc(1, sizeof *m->hbm);
    m->hbm->sram_capacity = sram_capacity_bytes;
    m->hbm->count_only = count_only;
    m->hbm->hbm_limit = host_ram_bytes() / 2;
    if (m->hbm->hbm_limit == 0)
        m->hbm->hbm_limit = (uint64_t)8 << 30;
    strcpy(m->hbm->phase[0], "main");
    m->hbm->nphases = 1;
    return m;
}

static void sram_release(sram_buf *b)
{
    if (b->mapped)
        munmap(b->p, b->mapped);
    else
        free(b->p);
}

static void sram_release_all(mem_t *m)
{
    for (size_t i = 0; i < m->nsram; i++)
        sram_release(&m->sram[i]);
    m->nsram = 0;
    m->sram_used = 0;
}

void mem_destroy(mem_t *m)
{
    if (!m)
        return;
    sram_release_all(m);
    if (!m->is_worker) {
        for (size_t i = 0; i < m->hbm->ntensors; i++) {
            free(m->hbm->tensor[i]->data);
            free(m->hbm->tensor[i]);
        }
        free(m->hbm);
    }
    free(m);
}

bool mem_count_only(const mem_t *m) { return m->hbm->count_only; }
size_t mem_sram_capacity(const mem_t *m) { return m->hbm->sram_capacity; }

/* ---- events -------------------------------------------------------------------------------------------------- */

void mem_observe(mem_t *m, mem_observer fn, void *ctx)
{
    if (m->nobs == 4)
        fl_internal("more than 4 observers on one memory model");
    m->obs[m->nobs] = fn;
    m->obs_ctx[m->nobs] = ctx;
    m->nobs++;
}

void mem_unobserve(mem_t *m, mem_observer fn, void *ctx)
{
    for (size_t i = 0; i < m->nobs; i++)
        if (m->obs[i] == fn && m->obs_ctx[i] == ctx) {
            memmove(&m->obs[i], &m->obs[i + 1], (m->nobs - i - 1) * sizeof m->obs[0]);
            memmove(&m->obs_ctx[i], &m->obs_ctx[i + 1], (m->nobs - i - 1) * sizeof m->obs_ctx[0]);
            m->nobs--;
            return;
        }
}

bool mem_observed(const mem_t *m) { return m->nobs > 0; }

static void emit(mem_t *m, mem_event *ev)
{
    ev->seq = ++m->seq;
    ev->mem = m;
    for (size_t i = 0; i < m->nobs; i++)
        m->obs[i](ev, m->obs_ctx[i]);
}

/* ---- HBM tensors --------------------------------------------------------------------------------------------- */

static hbm_tensor *find_tensor(const hbm_state *s, const char *name)
{
    for (size_t i = 0; i < s->ntensors; i++)
        if (!strcmp(s->tensor[i]->name, name))
            return s->tensor[i];
    return NULL;
}

static hbm_tensor *tensor_new(mem_t *m, const char *name, dtype_t dt, hbm_layout layout, const size_t dim[4])
{
    hbm_state *s = m->hbm;
    char buf[32], left[32];
    if (m->is_worker)
        fl_internal("tensor '%s' allocated inside a parallel worker; allocate before mem_fork", name);
    if (strlen(name) >= MEM_NAME_LEN)
        fl_internal("tensor name '%s' is longer than %d characters", name, MEM_NAME_LEN - 1);

    size_t numel, bytes;
    if (!size_mul4_ok(dim[0], dim[1], dim[2], dim[3], &numel) || !size_mul_ok(numel, dtype_size(dt), &bytes))
        fl_fatal("tensor '%s' of %zu x %zu x %zu x %zu elements overflows a 64-bit size", name, dim[0], dim[1],
                 dim[2], dim[3]);
    if (numel == 0)
        fl_fatal("tensor '%s' would have no elements (a size is 0)", name);

    hbm_tensor *t = find_tensor(s, name);
    if (t && t->live)
        fl_internal("tensor '%s' allocated twice", name);
    if (!t) {
        if (s->ntensors == MEM_MAX_TENSORS)
            fl_internal("more than %d tensors in one memory model", MEM_MAX_TENSORS);
        t = xcalloc(1, sizeof *t);
        t->id = (int)s->ntensors;
        strcpy(t->name, name);
        s->tensor[s->ntensors++] = t;
    }
    t->dt = dt;
    t->layout = layout;
    memcpy(t->dim, dim, sizeof t->dim);
    t->numel = numel;
    t->bytes = bytes;
    t->live = true;
    t->data = NULL;
    if (!s->count_only) {
        if (s->hbm_bytes + bytes > s->hbm_limit)
            fl_fatal("tensor '%s' needs %s of fake HBM but only %s of host memory is allowed (half the RAM); "
                     "use smaller sizes or --count-only",
                     name, fmt_bytes(bytes, buf, sizeof buf), fmt_bytes(s->hbm_limit - s->hbm_bytes, left, sizeof left));
        t->data = calloc(numel, dtype_size(dt));
        if (!t->data)
            fl_fatal("tensor '%s' needs %s of fake HBM and the host could not provide it; use --count-only", name,
                     fmt_bytes(bytes, buf, sizeof buf));
    }
    s->hbm_bytes += bytes;
    if (s->hbm_bytes > s->hbm_peak)
        s->hbm_peak = s->hbm_bytes;
    mem_event ev = {.kind = MEM_EV_HBM_ALLOC, .tensor = t->name, .elems = numel, .bytes = bytes};
    emit(m, &ev);
    return t;
}

hbm_tensor *hbm_alloc_mat(mem_t *m, const char *name, dtype_t dt, size_t rows, size_t cols)
{
    return tensor_new(m, name, dt, LAYOUT_MAT, (size_t[4]){rows, cols, 1, 1});
}

hbm_tensor *hbm_alloc_bnhd(mem_t *m, const char *name, dtype_t dt, size_t B, size_t N, size_t H, size_t d)
{
    return tensor_new(m, name, dt, LAYOUT_BNHD, (size_t[4]){B, N, H, d});
}

hbm_tensor *hbm_alloc_bhn(mem_t *m, const char *name, dtype_t dt, size_t B, size_t H, size_t N)
{
    return tensor_new(m, name, dt, LAYOUT_BHN, (size_t[4]){B, H, N, 1});
}

hbm_tensor *hbm_alloc_bhnn(mem_t *m, const char *name, dtype_t dt, size_t B, size_t H, size_t N)
{
    return tensor_new(m, name, dt, LAYOUT_BHNN, (size_t[4]){B, H, N, N});
}

void hbm_free(mem_t *m, hbm_tensor *t)
{
    if (!t || !t->live)
        return;
    if (m->is_worker)
        fl_internal("tensor '%s' freed inside a parallel worker", t->name);
    free(t->data);
    t->data = NULL;
    t->live = false;
    m->hbm->hbm_bytes -= t->bytes;
    mem_event ev = {.kind = MEM_EV_HBM_FREE, .tensor = t->name, .elems = t->numel, .bytes = t->bytes};
    emit(m, &ev);
}

dtype_t hbm_dtype(const hbm_tensor *t) { return t->dt; }
size_t hbm_numel(const hbm_tensor *t) { return t->numel; }

hbm_layout hbm_shape(const hbm_tensor *t, size_t dim[4])
{
    memcpy(dim, t->dim, sizeof t->dim);
    return t->layout;
}

hbm_mat hbm_whole(hbm_tensor *t)
{
    if (t->layout != LAYOUT_MAT)
        fl_internal("hbm_whole on tensor '%s', which has heads; use hbm_head", t->name);
    return (hbm_mat){.t = t, .off = 0, .rows = t->dim[0], .cols = t->dim[1], .ld = t->dim[1]};
}

hbm_mat hbm_head(hbm_tensor *t, size_t b, size_t h)
{
    const size_t *D = t->dim;
    switch (t->layout) {
    case LAYOUT_BNHD:
        if (b >= D[0] || h >= D[2])
            break;
        return (hbm_mat){t, (b * D[1] * D[2] + h) * D[3], D[1], D[3], D[2] * D[3], b, h};
    case LAYOUT_BHN:
        if (b >= D[0] || h >= D[1])
            break;
        return (hbm_mat){t, (b * D[1] + h) * D[2], D[2], 1, 1, b, h};
    case LAYOUT_BHNN:
        if (b >= D[0] || h >= D[1])
            break;
        return (hbm_mat){t, (b * D[1] + h) * D[2] * D[3], D[2], D[3], D[3], b, h};
    case LAYOUT_MAT:
        if (b || h)
            break;
        return hbm_whole(t);
    }
    fl_internal("head (b=%zu, h=%zu) is outside tensor '%s'", b, h, t->name);
}

void hbm_upload(hbm_tensor *t, const float *src)
{
    if (!t->data)
        return;
    for (size_t i = 0; i < t->numel; i++)
        dtype_set(t->dt, t->data, i, src[i]);
}

void hbm_download(const hbm_tensor *t, float *dst)
{
    if (!t->data)
        return;
    for (size_t i = 0; i < t->numel; i++)
        dst[i] = dtype_get(t->dt, t->data, i);
}

/* ---- counted transfers --------------------------------------------------------------------------------------- */

static void check_window(const char *op, hbm_mat a, size_t r0, size_t nrows, size_t c0, size_t ncols)
{
    if (!a.t || !a.t->live)
        fl_internal("%s on a tensor that is not allocated", op);
    if (r0 > a.rows || nrows > a.rows - r0 || c0 > a.cols || ncols > a.cols - c0)
        fl_internal("%s of %s[%zu:%zu, %zu:%zu] is outside its %zu x %zu head", op, a.t->name, r0,
                    r0 + nrows, c0, c0 + ncols, a.rows, a.cols);
}

static void count(mem_t *m, hbm_mat a, bool write, size_t nrows, size_t ncols)
{
    uint64_t elems = (uint64_t)nrows * ncols, bytes = elems * dtype_size(a.t->dt);
    io_count *c = &m->io[m->phase][a.t->id];
    if (write) {
        c->wr_elems += elems;
        c->wr_bytes += bytes;
    } else {
        c->rd_elems += elems;
        c->rd_bytes += bytes;
    }
}

static void emit_transfer(mem_t *m, mem_ev_kind kind, hbm_mat a, size_t r0, size_t nrows, size_t c0, size_t ncols,
                          const char *tile)
{
    if (!m->nobs)
        return;
    uint64_t elems = (uint64_t)nrows * ncols;
    mem_event ev = {.kind = kind, .tensor = a.t->name, .name = tile, .b = a.b, .h = a.h, .r0 = r0, .nrows = nrows,
                    .c0 = c0, .ncols = ncols, .off = a.off + r0 * a.ld + c0, .ld = a.ld, .elems = elems,
                    .bytes = elems * dtype_size(a.t->dt)};
    emit(m, &ev);
}

void hbm_load_tile(mem_t *m, float *dst, hbm_mat src, size_t r0, size_t nrows, size_t c0, size_t ncols,
                   const char *tile)
{
    check_window("load", src, r0, nrows, c0, ncols);
    const hbm_tensor *t = src.t;
    if (t->data && dst)
        for (size_t r = 0; r < nrows; r++) {
            size_t base = src.off + (r0 + r) * src.ld + c0;
            if (t->dt == DTYPE_FP32)
                memcpy(dst + r * ncols, (const float *)t->data + base, ncols * sizeof *dst);
            else
                for (size_t c = 0; c < ncols; c++)
                    dst[r * ncols + c] = dtype_get(t->dt, t->data, base + c);
        }
    count(m, src, false, nrows, ncols);
    emit_transfer(m, MEM_EV_LOAD, src, r0, nrows, c0, ncols, tile);
}

void hbm_store_tile(mem_t *m, hbm_mat dst, size_t r0, size_t nrows, size_t c0, size_t ncols, const float *src,
                    const char *tile)
{
    check_window("store", dst, r0, nrows, c0, ncols);
    hbm_tensor *t = dst.t;
    if (t->data && src)
        for (size_t r = 0; r < nrows; r++) {
            size_t base = dst.off + (r0 + r) * dst.ld + c0;
            if (t->dt == DTYPE_FP32)
                memcpy((float *)t->data + base, src + r * ncols, ncols * sizeof *src);
            else
                for (size_t c = 0; c < ncols; c++)
                    dtype_set(t->dt, t->data, base + c, src[r * ncols + c]);
        }
    count(m, dst, true, nrows, ncols);
    emit_transfer(m, MEM_EV_STORE, dst, r0, nrows, c0, ncols, tile);
}

void hbm_load_rows(mem_t *m, float *dst, hbm_mat src, size_t r0, size_t nrows, const char *tile)
{
    hbm_load_tile(m, dst, src, r0, nrows, 0, src.cols, tile);
}

void hbm_store_rows(mem_t *m, hbm_mat dst, size_t r0, size_t nrows, const float *src, const char *tile)
{
    hbm_store_tile(m, dst, r0, nrows, 0, dst.cols, src, tile);
}

void hbm_fill_rows(mem_t *m, hbm_mat dst, size_t r0, size_t nrows, float value, const char *what)
{
    check_window("fill", dst, r0, nrows, 0, dst.cols);
    hbm_tensor *t = dst.t;
    if (t->data)
        for (size_t r = 0; r < nrows; r++)
            for (size_t c = 0; c < dst.cols; c++)
                dtype_set(t->dt, t->data, dst.off + (r0 + r) * dst.ld + c, value);
    count(m, dst, true, nrows, dst.cols);
    emit_transfer(m, MEM_EV_STORE, dst, r0, nrows, 0, dst.cols, what);
}

/* ---- SRAM ---------------------------------------------------------------------------------------------------- */

float *sram_alloc(mem_t *m, size_t elems, dtype_t dt, const char *name)
{
    size_t bytes;
    char b1[32], b2[32], b3[32];
    if (!size_mul_ok(elems, dtype_size(dt), &bytes))
        fl_fatal("SRAM tile '%s' of %zu elements overflows a 64-bit size", name, elems);
    if (m->nsram == MEM_MAX_TILES)
        fl_fatal("internal: more than %d SRAM buffers resident at once", MEM_MAX_TILES);
    if (bytes > m->hbm->sram_capacity - m->sram_used || m->sram_used > m->hbm->sram_capacity) {
        char resident[512] = "nothing";
        size_t len = 0;
        for (size_t i = 0; i < m->nsram && len < sizeof resident - 48; i++)
            len += (size_t)snprintf(resident + len, sizeof resident - len, "%s'%s' %zu B", i ? " + " : "",
                                    m->sram[i].name, m->sram[i].bytes);
        fl_fatal("SRAM too small: tile '%s' needs %s (%zu %s elements) but %s is resident (%s) and M = %s; all of "
                 "them fit from M = %zu bytes", name, fmt_bytes(bytes, b1, sizeof b1), elems, dtype_name(dt), resident,
                 fmt_bytes(m->sram_used, b2, sizeof b2), fmt_bytes(m->hbm->sram_capacity, b3, sizeof b3),
                 m->sram_used + bytes);
    }
    sram_buf *s = &m->sram[m->nsram++];
    s->mapped = 0;
    if (m->hbm->count_only) {
        /* Count-only: an address, no memory. The buffer is reserved as address space nobody may touch, so the run
         * costs no host RAM whatever M is, sram_free still finds it by address, and any read or write of it (an
         * algorithm that forgot to skip its arithmetic) stops the program at once instead of passing unseen. */
        size_t len = 0;
        long page = sysconf(_SC_PAGESIZE);
        if (!size_mul_ok(elems ? elems : 1, sizeof(float), &len))
            len = (size_t)(page > 0 ? page : 4096);
        void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {   /* not that much address space: one page still gives a unique, faulting address */
            len = (size_t)(page > 0 ? page : 4096);
            p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        }
        if (p == MAP_FAILED)
            fl_fatal("cannot reserve an address for the count-only SRAM tile '%s'", name);
        s->p = p;
        s->mapped = len;
    } else {
        s->p = xcalloc(elems ? elems : 1, sizeof(float));
    }
    s->bytes = bytes;
    s->elems = elems;
    s->dt = dt;
    snprintf(s->name, sizeof s->name, "%s", name);
    m->sram_used += bytes;
    if (m->sram_used > m->sram_peak)
        m->sram_peak = m->sram_used;
    if (m->nobs) {
        mem_event ev = {.kind = MEM_EV_ALLOC, .name = s->name, .elems = elems, .bytes = bytes};
        emit(m, &ev);
    }
    return s->p;
}

void sram_free(mem_t *m, float *buf)
{
    if (!buf)
        return;
    for (size_t i = 0; i < m->nsram; i++) {
        if (m->sram[i].p != buf)
            continue;
        sram_buf gone = m->sram[i];
        m->sram_used -= gone.bytes;
        memmove(&m->sram[i], &m->sram[i + 1], (m->nsram - i - 1) * sizeof m->sram[0]);
        m->nsram--;
        if (m->nobs) {
            mem_event ev = {.kind = MEM_EV_FREE, .name = gone.name, .elems = gone.elems, .bytes = gone.bytes};
            emit(m, &ev);
        }
        sram_release(&gone);
        return;
    }
    fl_fatal("internal: sram_free of a buffer that is not resident");
}

size_t sram_used(const mem_t *m) { return m->sram_used; }
size_t sram_peak(const mem_t *m) { return m->sram_peak; }

/* ---- compute and annotations --------------------------------------------------------------------------------- */

void mem_compute(mem_t *m, const char *what, uint64_t flops, uint64_t exps)
{
    m->flops[m->phase] += flops;
    m->exps[m->phase] += exps;
    if (m->nobs) {
        mem_event ev = {.kind = MEM_EV_COMPUTE, .name = what, .flops = flops, .exps = exps};
        emit(m, &ev);
    }
}

void mem_phase(mem_t *m, const char *name)
{
    hbm_state *s = m->hbm;
    size_t i;
    /* Workers may name a phase first; registration is serialized so every phase gets one index. */
#pragma omp critical(flashlab_mem_phase)
    {
        for (i = 0; i < s->nphases && strcmp(s->phase[i], name); i++)
            ;
        if (i == s->nphases && s->nphases < MEM_MAX_PHASES)
            snprintf(s->phase[s->nphases++], MEM_NAME_LEN, "%s", name);
    }
    if (i == MEM_MAX_PHASES)
        fl_internal("more than %d phases in one memory model", MEM_MAX_PHASES);
    m->phase = i;
    if (m->nobs) {
        mem_event ev = {.kind = MEM_EV_PHASE, .name = s->phase[i]};
        emit(m, &ev);
    }
}

void mem_step(mem_t *m, long i, long j, const char *what)
{
    if (m->nobs) {
        mem_event ev = {.kind = MEM_EV_STEP, .i = i, .j = j, .name = what};
        emit(m, &ev);
    }
}

void mem_note(mem_t *m, const char *fmt, ...)
{
    if (!m->nobs)
        return;
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    mem_event ev = {.kind = MEM_EV_NOTE, .name = text};
    emit(m, &ev);
}

void mem_rows(mem_t *m, size_t b, size_t h, size_t r0, size_t nrows, const float *mi, const float *li)
{
    if (!m->nobs || m->hbm->count_only || !li)
        return;
    mem_event ev = {.kind = MEM_EV_ROWS, .seq = m->seq, .b = b, .h = h, .r0 = r0, .nrows = nrows, .mv = mi,
                    .lv = li, .mem = m};
    for (size_t i = 0; i < m->nobs; i++)
        m->obs[i](&ev, m->obs_ctx[i]);
}

/* ---- ledger -------------------------------------------------------------------------------------------------- */

static long phase_index(const mem_t *m, const char *phase)
{
    if (!phase)
        return -1;
    for (size_t i = 0; i < m->hbm->nphases; i++)
        if (!strcmp(m->hbm->phase[i], phase))
            return (long)i;
    return -2;
}

static void io_add(io_count *a, const io_count *b)
{
    a->rd_elems += b->rd_elems;
    a->wr_elems += b->wr_elems;
    a->rd_bytes += b->rd_bytes;
    a->wr_bytes += b->wr_bytes;
}

io_count mem_io(const mem_t *m, const char *tensor, const char *phase)
{
    io_count sum = {0, 0, 0, 0};
    long p = phase_index(m, phase);
    const hbm_tensor *t = tensor ? find_tensor(m->hbm, tensor) : NULL;
    if (p == -2 || (tensor && !t))
        return sum;
    for (size_t i = 0; i < m->hbm->nphases; i++) {
        if (p >= 0 && (size_t)p != i)
            continue;
        for (size_t k = 0; k < m->hbm->ntensors; k++)
            if (!t || t->id == (int)k)
                io_add(&sum, &m->io[i][k]);
    }
    return sum;
}

static uint64_t sum_phases(const mem_t *m, const uint64_t *v, const char *phase)
{
    long p = phase_index(m, phase);
    uint64_t s = 0;
    if (p >= 0)
        return v[p];
    if (p == -2)
        return 0;
    for (size_t i = 0; i < m->hbm->nphases; i++)
        s += v[i];
    return s;
}

uint64_t mem_flops(const mem_t *m, const char *phase) { return sum_phases(m, m->flops, phase); }
uint64_t mem_exps(const mem_t *m, const char *phase) { return sum_phases(m, m->exps, phase); }
uint64_t mem_hbm_peak(const mem_t *m) { return m->hbm->hbm_peak; }
size_t mem_ntensors(const mem_t *m) { return m->hbm->ntensors; }
const char *mem_tensor_name(const mem_t *m, size_t i) { return i < m->hbm->ntensors ? m->hbm->tensor[i]->name : NULL; }
size_t mem_nphases(const mem_t *m) { return m->hbm->nphases; }
const char *mem_phase_name(const mem_t *m, size_t i) { return i < m->hbm->nphases ? m->hbm->phase[i] : NULL; }

void mem_ledger_reset(mem_t *m)
{
    memset(m->io, 0, sizeof m->io);
    memset(m->flops, 0, sizeof m->flops);
    memset(m->exps, 0, sizeof m->exps);
    m->sram_peak = m->sram_used;
    m->hbm->hbm_peak = m->hbm->hbm_bytes;
}

void mem_ledger_print(const mem_t *m, const char *phase, FILE *out)
{
    char b1[32], b2[32];
    fprintf(out, "  %-8s %6s %14s %14s %12s %12s\n", "tensor", "dtype", "read elems", "write elems", "read bytes",
            "write bytes");
    for (size_t k = 0; k < m->hbm->ntensors; k++) {
        const hbm_tensor *t = m->hbm->tensor[k];
        io_count c = mem_io(m, t->name, phase);
        if (!c.rd_elems && !c.wr_elems)
            continue;
        fprintf(out, "  %-8s %6s %14llu %14llu %12s %12s\n", t->name, dtype_name(t->dt),
                (unsigned long long)c.rd_elems, (unsigned long long)c.wr_elems, fmt_bytes(c.rd_bytes, b1, sizeof b1),
                fmt_bytes(c.wr_bytes, b2, sizeof b2));
    }
    io_count tot = mem_io(m, NULL, phase);
    fprintf(out, "  %-8s %6s %14llu %14llu %12s %12s\n", "total", "", (unsigned long long)tot.rd_elems,
            (unsigned long long)tot.wr_elems, fmt_bytes(tot.rd_bytes, b1, sizeof b1),
            fmt_bytes(tot.wr_bytes, b2, sizeof b2));
    fprintf(out, "  FLOPs %llu, exp() calls %llu, SRAM peak %s of M = %s\n",
            (unsigned long long)mem_flops(m, phase), (unsigned long long)mem_exps(m, phase),
            fmt_bytes(m->sram_peak, b1, sizeof b1), fmt_bytes(m->hbm->sram_capacity, b2, sizeof b2));
}

/* ---- parallel workers ---------------------------------------------------------------------------------------- */

mem_t *mem_fork(mem_t *m)
{
    mem_t *w = xcalloc(1, sizeof *w);
    w->hbm = m->hbm;
    w->is_worker = true;
    w->phase = m->phase;
    return w;
}

void mem_join(mem_t *m, mem_t *w)
{
    for (size_t p = 0; p < MEM_MAX_PHASES; p++) {
        for (size_t k = 0; k < MEM_MAX_TENSORS; k++)
            io_add(&m->io[p][k], &w->io[p][k]);
        m->flops[p] += w->flops[p];
        m->exps[p] += w->exps[p];
    }
    if (w->sram_peak > m->sram_peak)
        m->sram_peak = w->sram_peak;
    mem_destroy(w);
}
