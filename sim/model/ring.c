/* ring.c — ring attention on P simulated devices: the split, the steps, the link ledger, the modelled clock and the
 * closed forms (include/model/ring.h).
 *
 * Every device is a memory model of its own. A step is FlashAttention-2's forward on windows of the device's tensors
 * (attn_flash2_forward_head, the simulator's own Algorithm 1), then, from step 1 on, a merge pass that reads the
 * running O, L and the step's Os, Ls block by block and writes O, L back: the log-sum-exp rule of lesson02, applied
 * to whole rows at once. Then every device passes the chunk it holds to the next one.
 */
#include "ring.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn_common.h"   // defines: attn_check_params, attn_mul, attn_io_add (the algorithms' shared helpers)
#include "util.h"

typedef struct {
    mem_t *m;
    ring_chunk c;
    hbm_tensor *Q, *K, *V, *O, *L;      /* own rows */
    hbm_tensor *Kin, *Vin, *Os, *Ls;    /* P > 1: two receive slots of nmax rows each; the step's partial result */
    uint64_t tiles;                     /* FA2 tiles computed so far (an observer counts them) */
} device;

struct ring {
    ring_params p;
    dtype_t dt;
    bool count_only, ran;
    size_t nmax;
    device *dev;
    ring_slot *slot;      /* [r * P + s] */
    ring_count *link;     /* [r * P + s], s < P - 1 */
};

static const char *const layout_names[] = {"contiguous", "zigzag"};

const char *ring_layout_name(ring_layout l) { return (unsigned)l < 2 ? layout_names[l] : "unknown"; }

int ring_layout_parse(const char *s, ring_layout *out)
{
    for (int i = 0; i < 2; i++)
        if (!strcmp(s, layout_names[i])) {
            *out = (ring_layout)i;
            return 0;
        }
    return -1;
}

int ring_check(const ring_params *rp, char *err, size_t errlen)
{
    if (!rp->P)
        snprintf(err, errlen, "the ring needs at least one device (P = 0)");
    else if (rp->P > rp->a.N)
        snprintf(err, errlen, "%zu devices for N = %zu rows: every device needs a row (P <= N)", rp->P, rp->a.N);
    else if (rp->P > RING_MAX_DEVICES)
        snprintf(err, errlen, "%zu devices: at most %d", rp->P, RING_MAX_DEVICES);
    else if (!(rp->link_bytes_per_s > 0) || isinf(rp->link_bytes_per_s))
        snprintf(err, errlen, "link bandwidth %g B/s must be finite and > 0", rp->link_bytes_per_s);
    else if (!(rp->peak_flops > 0) || isinf(rp->peak_flops))
        snprintf(err, errlen, "peak %g FLOP/s must be finite and > 0", rp->peak_flops);
    else if ((unsigned)rp->layout > RING_ZIGZAG)
        snprintf(err, errlen, "layout %d is neither contiguous nor zigzag", (int)rp->layout);
    else
        return 0;
    return -1;
}

/* ---- the split ------------------------------------------------------------------------------------------------ */

/* Chunk c of C: N = C·q + rem, the first rem chunks one row longer. */
static ring_piece chunk(const ring_params *rp, size_t c)
{
    size_t C = rp->layout == RING_ZIGZAG ? 2 * rp->P : rp->P, q = rp->a.N / C, rem = rp->a.N % C;
    return (ring_piece){c * q + min_size(c, rem), q + (c < rem)};
}

ring_chunk ring_chunk_of(const ring_params *rp, size_t r)
{
    ring_chunk out = {.piece = {chunk(rp, r)}, .npieces = 1};
    if (rp->layout == RING_ZIGZAG)
        out.piece[1] = chunk(rp, 2 * rp->P - 1 - r), out.npieces = 2;
    out.n = out.piece[0].n + out.piece[1].n;
    return out;
}

size_t ring_max_rows(const ring_params *rp)
{
    size_t n = 0;
    for (size_t r = 0; r < rp->P; r++)
        n = max_size(n, ring_chunk_of(rp, r).n);
    return n;
}

ring_work ring_step_work(const ring_params *rp, size_t r, size_t s)
{
    size_t P = rp->P, src = (r + P - s % P) % P;
    ring_chunk me = ring_chunk_of(rp, r), it = ring_chunk_of(rp, src);
    ring_work w = {.src = src, .q0 = 0, .nq = me.n, .k0 = 0, .nk = it.n};
    if (!rp->a.causal)
        return w;
    if (src == r)                       /* the diagonal: the mask on the device's own rows, in storage order */
        w.causal = true;
    else if (rp->layout == RING_CONTIGUOUS) {
        if (src > r)                    /* every key after every query */
            w.nq = 0;
    } else if (src < r)                 /* zigzag: chunk src comes before both pieces, chunk 2P-1-src after both */
        w.nk = it.piece[0].n;
    else                                /* src > r: both of src's chunks lie between piece 0 and piece 1 of r */
        w.q0 = me.piece[0].n, w.nq = me.piece[1].n;
    return w;
}

ring_chunk ring_chunk_rows(const ring_chunk *c, size_t w0, size_t n)
{
    ring_chunk out = {.npieces = 1, .n = n};
    if (w0 < c->piece[0].n) {
        size_t n0 = min_size(n, c->piece[0].n - w0);
        out.piece[0] = (ring_piece){c->piece[0].pos + w0, n0};
        if (n0 < n)
            out.piece[1] = (ring_piece){c->piece[1].pos, n - n0}, out.npieces = 2;
    } else
        out.piece[0] = (ring_piece){c->piece[1].pos + (w0 - c->piece[0].n), n};
    return out;
}

ring_work ring_step_whole(const ring_params *rp, size_t r, size_t s)
{
    size_t src = (r + rp->P - s % rp->P) % rp->P;
    ring_chunk me = ring_chunk_of(rp, r), it = ring_chunk_of(rp, src);
    size_t last = me.piece[1].n ? me.piece[1].pos + me.piece[1].n - 1 : me.piece[0].pos + me.piece[0].n - 1;
    bool hidden = rp->a.causal && it.piece[0].pos > last;   /* the chunk's first key after the last query */
    return (ring_work){.src = src, .nq = hidden ? 0 : me.n, .nk = it.n, .causal = rp->a.causal};
}

int ring_choose_blocks(ring_params *rp, size_t M_bytes, dtype_t dt, size_t Br_req, size_t Bc_req, block_choice *out,
                       char *err, size_t errlen)
{
    attn_params a = rp->a;
    a.algo = ATTN_FLASH2;
    a.N = ring_max_rows(rp);
    if (attn_choose_blocks(&a, false, M_bytes, dt, min_size(Br_req, a.N), min_size(Bc_req, a.N), out, err, errlen))
        return -1;
    rp->a.Br = a.Br, rp->a.Bc = a.Bc;
    return 0;
}

/* ---- the devices ---------------------------------------------------------------------------------------------- */

static void count_tile(const mem_event *ev, void *ctx)
{
    if (ev->kind == MEM_EV_STEP && !(ev->name && !strcmp(ev->name, MEM_STEP_SKIP)))
        ++*(uint64_t *)ctx;
}

ring_t *ring_create(const ring_params *rp, size_t M_bytes, dtype_t dt, bool count_only)
{
    char err[160];
    if (ring_check(rp, err, sizeof err))
        fl_fatal("ring: %s", err);
    attn_params a = rp->a;
    a.algo = ATTN_FLASH2;
    attn_check_params(&a);   /* sizes, blocks (1 .. N), counts within 64 bits */
    size_t P = rp->P;
    ring_t *R = xcalloc(1, sizeof *R);
    R->p = *rp;
    R->p.a.algo = ATTN_FLASH2;
    R->dt = dt;
    R->count_only = count_only;
    R->nmax = ring_max_rows(rp);
    R->dev = xcalloc(P, sizeof *R->dev);
    R->slot = xcalloc(P * P, sizeof *R->slot);
    R->link = xcalloc(P * P, sizeof *R->link);
    size_t B = a.B, H = a.H, d = a.d;
    for (size_t r = 0; r < P; r++) {
        device *D = &R->dev[r];
        D->c = ring_chunk_of(rp, r);
        D->m = mem_create(M_bytes, count_only);
        D->Q = hbm_alloc_bnhd(D->m, "Q", dt, B, D->c.n, H, d);
        D->K = hbm_alloc_bnhd(D->m, "K", dt, B, D->c.n, H, d);
        D->V = hbm_alloc_bnhd(D->m, "V", dt, B, D->c.n, H, d);
        D->O = hbm_alloc_bnhd(D->m, "O", dt, B, D->c.n, H, d);
        D->L = hbm_alloc_bhn(D->m, "L", DTYPE_FP32, B, H, D->c.n);
        if (P > 1) {
            D->Kin = hbm_alloc_bnhd(D->m, "Kin", dt, B, 2 * R->nmax, H, d);
            D->Vin = hbm_alloc_bnhd(D->m, "Vin", dt, B, 2 * R->nmax, H, d);
            D->Os = hbm_alloc_bnhd(D->m, "Os", dt, B, D->c.n, H, d);
            D->Ls = hbm_alloc_bhn(D->m, "Ls", DTYPE_FP32, B, H, D->c.n);
        }
        mem_observe(D->m, count_tile, &D->tiles);
    }
    return R;
}

void ring_destroy(ring_t *R)
{
    if (!R)
        return;
    for (size_t r = 0; r < R->p.P; r++)
        mem_destroy(R->dev[r].m);
    free(R->dev);
    free(R->slot);
    free(R->link);
    free(R);
}

const ring_params *ring_params_of(const ring_t *R) { return &R->p; }
mem_t *ring_mem(ring_t *R, size_t r) { return R->dev[r].m; }

size_t ring_position(const ring_chunk *c, size_t i)
{
    return i < c->piece[0].n ? c->piece[0].pos + i : c->piece[1].pos + (i - c->piece[0].n);
}

/* Rows of x (B, N, H, d; N = ntot) to or from a device's (B, n, H, d): dir 0 deals, 1 collects. */
static void deal_rows(const ring_chunk *c, float *dev, float *x, size_t B, size_t ntot, size_t H, size_t d, int dir)
{
    for (size_t b = 0; b < B; b++)
        for (size_t i = 0; i < c->n; i++) {
            float *mine = dev + (b * c->n + i) * H * d, *all = x + (b * ntot + ring_position(c, i)) * H * d;
            if (dir == 0)
                memcpy(mine, all, H * d * sizeof *mine);
            else
                memcpy(all, mine, H * d * sizeof *mine);
        }
}

void ring_scatter(ring_t *R, const float *q, const float *k, const float *v)
{
    if (R->count_only)
        return;
    const attn_params *a = &R->p.a;
    for (size_t r = 0; r < R->p.P; r++) {
        device *D = &R->dev[r];
        float *buf = xmalloc(hbm_numel(D->Q) * sizeof *buf);
        const float *src[3] = {q, k, v};
        hbm_tensor *dst[3] = {D->Q, D->K, D->V};
        for (int x = 0; x < 3; x++) {
            deal_rows(&D->c, buf, (float *)src[x], a->B, a->N, a->H, a->d, 0);
            hbm_upload(dst[x], buf);
        }
        free(buf);
    }
}

void ring_gather(ring_t *R, float *o, float *lse)
{
    if (R->count_only)
        return;
    const attn_params *a = &R->p.a;
    for (size_t r = 0; r < R->p.P; r++) {
        device *D = &R->dev[r];
        size_t n = D->c.n;
        float *buf = xmalloc(hbm_numel(D->O) * sizeof *buf);
        hbm_download(D->O, buf);
        deal_rows(&D->c, buf, o, a->B, a->N, a->H, a->d, 1);
        hbm_download(D->L, buf);   /* (B, H, n): row i of head (b, h) at (b*H + h)*n + i */
        for (size_t bh = 0; bh < a->B * a->H; bh++)
            for (size_t i = 0; i < n; i++)
                lse[bh * a->N + ring_position(&D->c, i)] = buf[bh * n + i];
        free(buf);
    }
}

/* ---- one step ------------------------------------------------------------------------------------------------- */

/* Rows r0 .. r0+n-1 of a window. */
static hbm_mat rows_of(hbm_mat x, size_t r0, size_t n)
{
    x.off += r0 * x.ld;
    x.rows = n;
    return x;
}

/* lesson02's rule on rows of one head, Br rows at a time: (O, L) <- (O, L) merged with (Os, Ls). A row whose two
 * statistics are both -inf (no key seen yet, not possible in ring_step_work's plans) stays O = 0, L = -inf. */
static void merge_head(mem_t *m, hbm_mat O, hbm_mat L, hbm_mat Os, hbm_mat Ls, size_t Br, size_t d, dtype_t dt)
{
    float *Oa = sram_alloc(m, Br * d, dt, "Oi"), *La = sram_alloc(m, Br, DTYPE_FP32, "Li");
    float *Ob = sram_alloc(m, Br * d, dt, "Osi"), *Lb = sram_alloc(m, Br, DTYPE_FP32, "Lsi");
    for (size_t r0 = 0; r0 < O.rows; r0 += Br) {
        size_t nr = min_size(Br, O.rows - r0);
        hbm_load_rows(m, Oa, O, r0, nr, "Oi");
        hbm_load_rows(m, La, L, r0, nr, "Li");
        hbm_load_rows(m, Ob, Os, r0, nr, "Osi");
        hbm_load_rows(m, Lb, Ls, r0, nr, "Lsi");
        if (!mem_count_only(m))
            for (size_t r = 0; r < nr; r++) {
                float mx = fmaxf(La[r], Lb[r]);
                if (mx == -INFINITY)
                    continue;
                float ea = expf(La[r] - mx), eb = expf(Lb[r] - mx), sum = ea + eb;
                for (size_t x = 0; x < d; x++)
                    Oa[r * d + x] = (ea * Oa[r * d + x] + eb * Ob[r * d + x]) / sum;
                La[r] = mx + logf(sum);
            }
        mem_compute(m, "merge: L = log(e^La + e^Lb), O = e^(La-L) Oa + e^(Lb-L) Ob", 3 * (uint64_t)nr * d,
                    3 * (uint64_t)nr);
        hbm_store_rows(m, O, r0, nr, Oa, "Oi");
        hbm_store_rows(m, L, r0, nr, La, "Li");
    }
    sram_free(m, Lb);
    sram_free(m, Ob);
    sram_free(m, La);
    sram_free(m, Oa);
}

/* Device r, step s: FA2 on what ring_step_work names, into O, L at step 0, else into Os, Ls and merged. The chunk it
 * holds: its own K, V at step 0, else receive slot (s - 1) mod 2. */
static void compute_step(ring_t *R, size_t r, size_t s)
{
    device *D = &R->dev[r];
    mem_t *m = D->m;
    const attn_params *a = &R->p.a;
    ring_work w = ring_step_work(&R->p, r, s);
    uint64_t flops = mem_flops(m, NULL), tiles = D->tiles;
    if (w.nq) {
        hbm_tensor *Kc = s ? D->Kin : D->K, *Vc = s ? D->Vin : D->V;
        hbm_tensor *Ot = s ? D->Os : D->O, *Lt = s ? D->Ls : D->L;
        size_t k0 = (s ? (s - 1) % 2 * R->nmax : 0) + w.k0;
        attn_params f = *a;
        f.N = w.nq;
        f.causal = w.causal;
        mem_phase(m, "flash2");
        mem_note(m, "ring step %zu: device %zu, rows %zu..%zu against device %zu's rows %zu..%zu%s", s, r, w.q0,
                 w.q0 + w.nq - 1, w.src, w.k0, w.k0 + w.nk - 1, w.causal ? ", causal" : "");
        for (size_t b = 0; b < a->B; b++)
            for (size_t h = 0; h < a->H; h++)
                attn_flash2_forward_head(m, &f, rows_of(hbm_head(D->Q, b, h), w.q0, w.nq),
                                         rows_of(hbm_head(Kc, b, h), k0, w.nk), rows_of(hbm_head(Vc, b, h), k0, w.nk),
                                         rows_of(hbm_head(Ot, b, h), w.q0, w.nq),
                                         rows_of(hbm_head(Lt, b, h), w.q0, w.nq));
        if (s) {
            mem_phase(m, "merge");
            mem_note(m, "ring step %zu: merge rows %zu..%zu into O, L (log-sum-exp)", s, w.q0, w.q0 + w.nq - 1);
            for (size_t b = 0; b < a->B; b++)
                for (size_t h = 0; h < a->H; h++)
                    merge_head(m, rows_of(hbm_head(D->O, b, h), w.q0, w.nq), rows_of(hbm_head(D->L, b, h), w.q0, w.nq),
                               rows_of(hbm_head(D->Os, b, h), w.q0, w.nq),
                               rows_of(hbm_head(D->Ls, b, h), w.q0, w.nq), a->Br, a->d, R->dt);
        }
    }
    ring_slot *sl = &R->slot[r * R->p.P + s];
    sl->flops = mem_flops(m, NULL) - flops;
    sl->tiles = D->tiles - tiles;
}

/* Rows 0 .. n-1 of src (rows from s0, Ns rows in all) into dst (rows from d0, Nd in all), every head: the data a link
 * carries. Host copies, not counted in either device's ledger. */
static void copy_rows(const ring_t *R, const hbm_tensor *src, size_t s0, size_t Ns, hbm_tensor *dst, size_t d0,
                      size_t Nd, size_t n)
{
    size_t B = R->p.a.B, Hd = R->p.a.H * R->p.a.d;
    float *a = xmalloc(hbm_numel(src) * sizeof *a), *b = xmalloc(hbm_numel(dst) * sizeof *b);
    hbm_download(src, a);
    hbm_download(dst, b);
    for (size_t x = 0; x < B; x++)
        memcpy(b + (x * Nd + d0) * Hd, a + (x * Ns + s0) * Hd, n * Hd * sizeof *a);
    hbm_upload(dst, b);
    free(a);
    free(b);
}

/* Device r sends the chunk it held at step s (device src's) to r+1, into slot s mod 2: K and V. */
static void send_step(ring_t *R, size_t r, size_t s)
{
    size_t P = R->p.P, r1 = (r + 1) % P, src = (r + P - s) % P, n = R->dev[src].c.n;
    const attn_params *a = &R->p.a;
    uint64_t elems = 2 * (uint64_t)a->B * a->H * n * a->d;
    R->link[r * P + s] = (ring_count){elems, elems * dtype_size(R->dt)};
    if (R->count_only)
        return;
    device *D = &R->dev[r], *E = &R->dev[r1];
    size_t from = s ? (s - 1) % 2 * R->nmax : 0, rows = s ? 2 * R->nmax : D->c.n;
    copy_rows(R, s ? D->Kin : D->K, from, rows, E->Kin, s % 2 * R->nmax, 2 * R->nmax, n);
    copy_rows(R, s ? D->Vin : D->V, from, rows, E->Vin, s % 2 * R->nmax, 2 * R->nmax, n);
}

/* The modelled clock (ring.h): per device, compute of step s starts when the chunk is there and step s-1 is done;
 * a send starts when the sender holds the chunk, its link is free and the receiver's slot is free (the receiver has
 * computed on it and passed it on, two steps back). */
static void clock_run(ring_t *R)
{
    size_t P = R->p.P;
    double *have = xcalloc(P * P, sizeof *have);   /* [r * P + s]: when device r holds step s's chunk */
    for (size_t s = 0; s < P; s++) {
        for (size_t r = 0; r < P; r++) {
            ring_slot *x = &R->slot[r * P + s];
            double prev = s ? R->slot[r * P + s - 1].end : 0;
            x->start = fmax(have[r * P + s], prev);
            x->end = x->start + (double)x->flops / R->p.peak_flops * 1e9;
        }
        if (s + 1 == P)
            break;
        for (size_t r = 0; r < P; r++) {
            size_t r1 = (r + 1) % P;
            ring_slot *x = &R->slot[r * P + s];
            double t = fmax(have[r * P + s], s ? R->slot[r * P + s - 1].send_end : 0);
            if (s >= 2)
                t = fmax(t, fmax(R->slot[r1 * P + s - 1].end, R->slot[r1 * P + s - 1].send_end));
            x->send_start = t;
            x->send_end = t + (double)R->link[r * P + s].bytes / R->p.link_bytes_per_s * 1e9;
            have[r1 * P + s + 1] = x->send_end;
        }
    }
    free(have);
}

void ring_forward(ring_t *R)
{
    if (R->ran)
        fl_internal("ring_forward runs once per ring");
    R->ran = true;
    size_t P = R->p.P;
    for (size_t s = 0; s < P; s++) {
        for (size_t r = 0; r < P; r++)
            compute_step(R, r, s);
        for (size_t r = 0; s + 1 < P && r < P; r++)   /* every device's chunk moves on together */
            send_step(R, r, s);
    }
    clock_run(R);
}

/* ---- what was counted ----------------------------------------------------------------------------------------- */

ring_count ring_link(const ring_t *R, size_t r, size_t s)
{
    if (r >= R->p.P || s + 1 >= R->p.P)
        return (ring_count){0, 0};
    return R->link[r * R->p.P + s];
}

ring_count ring_link_total(const ring_t *R)
{
    ring_count t = {0, 0};
    for (size_t r = 0; r < R->p.P; r++)
        for (size_t s = 0; s + 1 < R->p.P; s++)
            t.elems += R->link[r * R->p.P + s].elems, t.bytes += R->link[r * R->p.P + s].bytes;
    return t;
}

ring_slot ring_slot_at(const ring_t *R, size_t r, size_t s)
{
    if (r >= R->p.P || s >= R->p.P)
        fl_internal("ring slot (device %zu, step %zu) outside %zu devices", r, s, R->p.P);
    return R->slot[r * R->p.P + s];
}

uint64_t ring_tiles(const ring_t *R, size_t r) { return r < R->p.P ? R->dev[r].tiles : 0; }

double ring_time_ns(const ring_t *R)
{
    double t = 0;
    for (size_t r = 0; r < R->p.P; r++)
        t = fmax(t, R->slot[r * R->p.P + R->p.P - 1].end);
    return t;
}

double ring_time_serial_ns(const ring_t *R)
{
    size_t P = R->p.P;
    double t = 0;
    for (size_t s = 0; s < P; s++) {
        double c = 0, x = 0;
        for (size_t r = 0; r < P; r++) {
            c = fmax(c, (double)R->slot[r * P + s].flops / R->p.peak_flops * 1e9);
            if (s + 1 < P)
                x = fmax(x, (double)R->link[r * P + s].bytes / R->p.link_bytes_per_s * 1e9);
        }
        t += c + x;
    }
    return t;
}

/* ---- closed forms --------------------------------------------------------------------------------------------- */

uint64_t ring_link_closed_form(const ring_params *rp, size_t r)
{
    if (rp->P < 2)
        return 0;
    const attn_params *a = &rp->a;
    uint64_t others = a->N - ring_chunk_of(rp, (r + 1) % rp->P).n;
    return attn_mul(attn_mul(2 * (uint64_t)a->B * a->H, a->d), others);
}

/* One window of the steps after the first: nq query rows against nk keys, unmasked (FA2 Alg.1 per head):
 * Q nq·d (line 4), Kin and Vin ⌈nq/Br⌉·nk·d (line 7, once per query block), Os nq·d and Ls nq (lines 14-15);
 * the merge reads O, L, Os, Ls once and writes O, L once; ⌈nq/Br⌉·⌈nk/Bc⌉ tiles. */
static void add_window(attn_io *io, const attn_params *a, uint64_t nq, uint64_t nk)
{
    if (!nq)
        return;
    uint64_t d = a->d, Tr = ceil_div(nq, a->Br);
    attn_io_add(io, "Q", nq * d, 0);
    attn_io_add(io, "Kin", Tr * nk * d, 0);
    attn_io_add(io, "Vin", Tr * nk * d, 0);
    attn_io_add(io, "Os", nq * d, nq * d);
    attn_io_add(io, "Ls", nq, nq);
    attn_io_add(io, "O", nq * d, nq * d);
    attn_io_add(io, "L", nq, nq);
    io->tiles += Tr * ceil_div(nk, a->Bc);
}

void ring_device_closed_form(const ring_params *rp, dtype_t dt, size_t r, ring_device_io *out)
{
    const attn_params *a = &rp->a;
    size_t P = rp->P;
    ring_chunk me = ring_chunk_of(rp, r);
    uint64_t n = me.n, d = a->d, BH = attn_mul(a->B, a->H), e = dtype_size(dt);
    attn_io io = {.n = 0};

    /* Step 0, the device's own chunk: FA2's own closed form on n rows (masked when causal). Blocks past n behave as
     * blocks of n rows: one block, the same loads. */
    attn_params f = *a;
    f.algo = ATTN_FLASH2, f.B = f.H = 1, f.N = n, f.Br = min_size(a->Br, n), f.Bc = min_size(a->Bc, n);
    attn_io diag;
    attn_io_closed_form(&f, false, &diag);
    for (size_t k = 0; k < diag.n; k++)
        attn_io_add(&io, diag.row[k].tensor, diag.row[k].rd, diag.row[k].wr);
    io.tiles = diag.tiles;

    /* Steps 1 .. P-1, one window each (docs/lesson12.md):
     *   not causal          every other device p: n rows against n_p
     *   causal, contiguous  devices p < r: n rows against n_p (p > r: nothing)
     *   causal, zigzag      p < r: n rows against p's first piece; p > r: r's second piece against n_p */
    for (size_t p = 0; p < P; p++) {
        if (p == r)
            continue;
        ring_chunk it = ring_chunk_of(rp, p);
        if (!a->causal)
            add_window(&io, a, n, it.n);
        else if (rp->layout == RING_CONTIGUOUS)
            add_window(&io, a, p < r ? n : 0, it.n);
        else if (p < r)
            add_window(&io, a, n, it.piece[0].n);
        else
            add_window(&io, a, me.piece[1].n, it.n);
    }

    /* every head alike */
    io.rd = io.wr = 0;
    for (size_t k = 0; k < io.n; k++) {
        io.row[k].rd = attn_mul(io.row[k].rd, BH), io.row[k].wr = attn_mul(io.row[k].wr, BH);
        io.rd += io.row[k].rd, io.wr += io.row[k].wr;
    }
    io.tiles = attn_mul(io.tiles, BH);
    io.skipped = 0;
    out->io = io;

    /* HBM: Q, K, V, O (n·d, dtype) and L (n, fp32); with P > 1 Kin, Vin (2·nmax·d each, dtype), Os (n·d), Ls (n). */
    uint64_t head = 4 * n * d * e + 4 * n;
    if (P > 1)
        head += 4 * (uint64_t)ring_max_rows(rp) * d * e + n * d * e + 4 * n;
    out->hbm_peak = attn_mul(head, BH);
}
