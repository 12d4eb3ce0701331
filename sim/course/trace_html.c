/* trace_html.c — the HTML replay (--trace html): one self-contained page, sim/course/viewer.html with the run's events
 * embedded as JSON records where its data marker stands (see include/course/trace.h).
 *
 * The records, one JSON array each, in the order the events happened (the page's script documents how it reads them):
 *   ["$", id, text]                 a string, later referred to by its id (strings past HTML_STRINGS are inline)
 *   ["meta", key, value]            a line for the page's header          ["code", [cite keys], title, require, [lines]]
 *   ["run", k, [tensors], sram_used, M, count_only]   a memory model followed from here (trace_open, trace_follow)
 *   ["L"|"S", tensor, tile, b, h, r0, rows, c0, cols, elems, bytes]   a load (HBM -> SRAM) or a store
 *   ["A"|"F", buffer, elems, bytes] SRAM alloc, free                   ["H"|"G", tensor, name, elems, bytes] HBM
 *   ["C", what, flops, exps]        compute       ["N", text] note       ["P", phase]       ["T", i, j, label] step
 *   ["R", b, h, r0, rows, [m] or null, [l]]      the (m, l) of the first TRACE_HTML_ROWS rows after an update
 *   ["K", stride, rd_el, wr_el, rd_b, wr_b, flops, exps, sram_used, [[tensor, rd_el, wr_el, rd_b, wr_b]],
 *         [[buffer, what it holds]]]  a key frame: the ledger before the next record, after events were left out
 *   ["end", rd_el, wr_el, rd_b, wr_b, flops, exps, sram_peak, [[name, rd_el, wr_el, rd_b, wr_b]]]  the model's ledger
 *   ["sample", tiles, tiles kept whole, events left out, detail tiles]                               at the very end
 * Tensors are indices into the model's tensor list (mem_tensor_name); non-finite m, l are "-inf", "inf" or "nan".
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"   // defines: attn_algo_pseudocode, ATTN_NALGOS
#include "trace_html.h"
#include "trace_stream.h"   // defines: struct trace, trace_put, trace_flush, trace_record_wanted, ...
#include "util.h"

/* The page: sim/course/viewer.html as C strings, one per line (generated at build time by sim/course/viewer.mk). */
static const char *const PAGE[] = {
#include "viewer_page.inc"
    NULL};
#define PAGE_DATA_MARK "<!--FLASHLAB-DATA-->"

#define HTML_STRINGS 16384   /* distinct strings given ids; later ones are written inline */
#define HTML_SLOTS (2 * HTML_STRINGS)
#define HTML_BUFS MEM_MAX_TILES

struct html_state {
    char *str[HTML_STRINGS];
    uint32_t slot[HTML_SLOTS];          /* id + 1 of the string hashed there, 0: empty */
    size_t nstr;
    uint64_t tiles, kept, kept_level, stride, dropped;
    bool in_tile, keep, gap;
    int run;
    struct {
        char name[MEM_NAME_LEN];
        char holds[96];                /* the window its last load brought: "K[3:6, 0:4]" */
    } buf[HTML_BUFS];                  /* live SRAM buffers, for key frames */
    size_t nbuf;
};

/* ---- writing ----------------------------------------------------------------------------------------------------- */

/* Append s (any length), writing the record buffer out whenever it fills. */
static void raw(trace_t *t, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        size_t room = sizeof t->rec - 1 - t->len;
        if (!room) {
            trace_flush(t);
            continue;
        }
        size_t k = n < room ? n : room;
        memcpy(t->rec + t->len, s, k);
        t->len += k;
        t->rec[t->len] = 0;
        s += k;
        n -= k;
    }
}

/* A JSON string; '<' as \u003c so that no text can close the <script> element that holds the data. */
static void str_lit(trace_t *t, const char *s)
{
    if (t->len + 6 * strlen(s) + 8 >= sizeof t->rec)
        trace_flush(t);   /* a record may span writes: only the whole page has to be valid JSON */
    trace_put_char(t, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            trace_put(t, "\\%c", c);
        else if (c < 0x20 || c == '<' || c == 0x7f)
            trace_put(t, "\\u%04x", c);
        else
            trace_put_char(t, (char)c);
    }
    trace_put_char(t, '"');
}

static void begin(trace_t *t, const char *tag)
{
    trace_put(t, "%s[\"%s\"", t->first ? "\n" : ",\n", tag);
    t->first = false;
}

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The id of s, defining it (a "$" record) the first time; -1 when the table is full (write s inline). Call before
 * formatting the record that uses it. */
static long str_id(trace_t *t, const char *s)
{
    html_state *h = t->html;
    s = s ? s : "";
    uint32_t k = hash(s) & (HTML_SLOTS - 1);
    while (h->slot[k]) {
        if (!strcmp(h->str[h->slot[k] - 1], s))
            return (long)h->slot[k] - 1;
        k = (k + 1) & (HTML_SLOTS - 1);
    }
    if (h->nstr == HTML_STRINGS)
        return -1;
    size_t n = strlen(s);
    h->str[h->nstr] = memcpy(xmalloc(n + 1), s, n + 1);
    h->slot[k] = (uint32_t)++h->nstr;
    if (trace_record_wanted(t, CENSUS_HTML_STR)) {
        begin(t, "$");
        trace_put(t, ",%zu,", h->nstr - 1);
        str_lit(t, s);
        trace_put(t, "]");
        trace_record_done(t, CENSUS_HTML_STR);
    }
    return (long)h->nstr - 1;
}

static void put_str(trace_t *t, long id, const char *s)
{
    if (id >= 0)
        trace_put(t, ",%ld", id);
    else {
        trace_put_char(t, ',');
        str_lit(t, s ? s : "");
    }
}

static long tensor_index(const mem_t *m, const char *name)
{
    for (size_t i = 0; name && i < mem_ntensors(m); i++)
        if (!strcmp(mem_tensor_name(m, i), name))
            return (long)i;
    return -1;
}

static void put_u64(trace_t *t, uint64_t v) { trace_put(t, ",%llu", (unsigned long long)v); }

static void put_float(trace_t *t, float v)
{
    if (isnan(v))
        trace_put(t, "\"nan\"");
    else if (isinf(v))
        trace_put(t, v > 0 ? "\"inf\"" : "\"-inf\"");
    else
        trace_put(t, "%.9g", (double)v);   /* 9 digits: a float read back is the same float */
}

/* ---- key frames and the ledger ----------------------------------------------------------------------------------- */

/* The ledger of m before ev (whose counts m already holds), with what every SRAM buffer holds. */
static void key_frame(trace_t *t, const mem_t *m, const mem_event *ev)
{
    html_state *h = t->html;
    io_count tot = mem_io(m, NULL, NULL);
    uint64_t flops = mem_flops(m, NULL), exps = mem_exps(m, NULL), used = sram_used(m);
    long undo = -1;   /* the tensor whose counts ev added */
    if (ev && (ev->kind == MEM_EV_LOAD || ev->kind == MEM_EV_STORE)) {
        undo = tensor_index(m, ev->tensor);
        if (ev->kind == MEM_EV_LOAD)
            tot.rd_elems -= ev->elems, tot.rd_bytes -= ev->bytes;
        else
            tot.wr_elems -= ev->elems, tot.wr_bytes -= ev->bytes;
    } else if (ev && ev->kind == MEM_EV_COMPUTE) {
        flops -= ev->flops;
        exps -= ev->exps;
    } else if (ev && ev->kind == MEM_EV_ALLOC) {
        used -= ev->bytes;
    } else if (ev && ev->kind == MEM_EV_FREE) {
        used += ev->bytes;
    }
    if (!trace_record_wanted(t, CENSUS_HTML_KEY))
        return;
    begin(t, "K");
    put_u64(t, h->stride);
    put_u64(t, tot.rd_elems), put_u64(t, tot.wr_elems), put_u64(t, tot.rd_bytes), put_u64(t, tot.wr_bytes);
    put_u64(t, flops), put_u64(t, exps), put_u64(t, used);
    trace_put(t, ",[");
    bool first = true;
    for (size_t i = 0; i < mem_ntensors(m); i++) {
        io_count c = mem_io(m, mem_tensor_name(m, i), NULL);
        if ((long)i == undo && ev->kind == MEM_EV_LOAD)
            c.rd_elems -= ev->elems, c.rd_bytes -= ev->bytes;
        else if ((long)i == undo)
            c.wr_elems -= ev->elems, c.wr_bytes -= ev->bytes;
        if (!c.rd_elems && !c.wr_elems)
            continue;
        trace_put(t, "%s[%zu", first ? "" : ",", i);
        put_u64(t, c.rd_elems), put_u64(t, c.wr_elems), put_u64(t, c.rd_bytes), put_u64(t, c.wr_bytes);
        trace_put(t, "]");
        first = false;
    }
    trace_put(t, "],[");
    for (size_t b = 0; b < h->nbuf; b++) {
        trace_put(t, "%s[", b ? "," : "");
        str_lit(t, h->buf[b].name);
        trace_put_char(t, ',');
        str_lit(t, h->buf[b].holds);
        trace_put(t, "]");
    }
    trace_put(t, "]]");
    trace_record_done(t, CENSUS_HTML_KEY);
}

/* The model's ledger as it ends a run: the page checks its replayed totals against it. */
static void end_run(trace_t *t, const mem_t *m)
{
    io_count tot = mem_io(m, NULL, NULL);
    begin(t, "end");
    put_u64(t, tot.rd_elems), put_u64(t, tot.wr_elems), put_u64(t, tot.rd_bytes), put_u64(t, tot.wr_bytes);
    put_u64(t, mem_flops(m, NULL)), put_u64(t, mem_exps(m, NULL)), put_u64(t, sram_peak(m));
    trace_put(t, ",[");
    for (size_t i = 0; i < mem_ntensors(m); i++) {
        io_count c = mem_io(m, mem_tensor_name(m, i), NULL);
        trace_put(t, "%s[", i ? "," : "");
        str_lit(t, mem_tensor_name(m, i));
        put_u64(t, c.rd_elems), put_u64(t, c.wr_elems), put_u64(t, c.rd_bytes), put_u64(t, c.wr_bytes);
        trace_put(t, "]");
        if (t->len > sizeof t->rec / 2)
            trace_flush(t);
    }
    trace_put(t, "]]");
    trace_flush(t);
}

static void start_run(trace_t *t, mem_t *m)
{
    html_state *h = t->html;
    begin(t, "run");
    trace_put(t, ",%d,[", h->run++);
    for (size_t i = 0; i < mem_ntensors(m); i++) {
        if (i)
            trace_put_char(t, ',');
        str_lit(t, mem_tensor_name(m, i));
    }
    trace_put(t, "],%zu,%zu,%d]", sram_used(m), mem_sram_capacity(m), mem_count_only(m) ? 1 : 0);
    trace_flush(t);
    h->in_tile = h->gap = false;
    h->nbuf = 0;
    if (t->out)   /* the ledger so far: a model followed after some work (a backward pass after its forward) */
        key_frame(t, m, NULL);
}

/* ---- the page ----------------------------------------------------------------------------------------------------- */

static size_t data_mark(void)
{
    size_t k = 0;
    while (PAGE[k] && strncmp(PAGE[k], PAGE_DATA_MARK, strlen(PAGE_DATA_MARK)))
        k++;
    if (!PAGE[k])
        fl_internal("the viewer page has no data mark %s", PAGE_DATA_MARK);
    return k;
}

/* The paper's pseudocode of every pass, each with the prefixes the simulator's notes cite it by: "Alg.N" for
 * FlashAttention's paper (Algorithm 0 standard, 1 forward, 3 standard backward, 4 backward), "FA2 Alg.N" and, for
 * its forward pass, plain "FA2" for FlashAttention-2's ("FA2 line 7: load K3, V3"). */
static void listings(trace_t *t)
{
    for (int a = 0; a < ATTN_NALGOS; a++)
        for (int bw = 0; bw < 2; bw++) {
            const attn_pseudocode *pc = attn_algo_pseudocode((attn_algo)a, bw);
            const char *num = strstr(pc->title, "Algorithm ");
            bool fa2 = strstr(pc->title, "FlashAttention-2") != NULL;
            char key[32] = "";
            if (num)
                snprintf(key, sizeof key, "%sAlg.%d", fa2 ? "FA2 " : "", atoi(num + strlen("Algorithm ")));
            begin(t, "code");
            trace_put(t, ",[");
            str_lit(t, key);
            if (fa2 && num && atoi(num + strlen("Algorithm ")) == 1)
                trace_put(t, ",\"FA2\"");
            trace_put(t, "],");
            str_lit(t, pc->title);
            trace_put_char(t, ',');
            str_lit(t, pc->require);
            trace_put(t, ",[");
            for (size_t k = 0; k < pc->n; k++) {
                if (k)
                    trace_put_char(t, ',');
                str_lit(t, pc->line[k]);
            }
            trace_put(t, "]]");
            trace_flush(t);
        }
}

void html_open(trace_t *t)
{
    t->html = xcalloc(1, sizeof *t->html);
    t->html->stride = 1;
    size_t mark = data_mark();
    for (size_t k = 0; k < mark; k++) {
        raw(t, PAGE[k]);
        raw(t, "\n");
    }
    raw(t, "<script id=\"flashlab-data\" type=\"application/json\">[");
    trace_flush(t);
    listings(t);
    start_run(t, t->m);
}

void trace_meta(trace_t *t, const char *key, const char *value)
{
    if (!t || t->fmt != TRACE_HTML)
        return;
    begin(t, "meta");
    trace_put_char(t, ',');
    str_lit(t, key);
    trace_put_char(t, ',');
    str_lit(t, value ? value : "");
    trace_put(t, "]");
    trace_flush(t);
}

void html_follow(trace_t *t, mem_t *next)
{
    if (t->html->gap && t->out)
        key_frame(t, t->m, NULL);
    end_run(t, t->m);
    start_run(t, next);
}

uint64_t html_tail_bytes(void)
{
    uint64_t n = 256;   /* the last run's end and the sampling record, about */
    for (size_t k = data_mark() + 1; PAGE[k]; k++)
        n += strlen(PAGE[k]) + 1;
    return n;
}

void html_close(trace_t *t)
{
    html_state *h = t->html;
    if (t->out) {
        if (h->gap)
            key_frame(t, t->m, NULL);
        end_run(t, t->m);
        begin(t, "sample");
        put_u64(t, h->tiles), put_u64(t, h->kept), put_u64(t, h->dropped), put_u64(t, TRACE_HTML_DETAIL_TILES);
        trace_put(t, "]\n]</script>\n");
        trace_flush(t);
        for (size_t k = data_mark() + 1; PAGE[k]; k++) {
            raw(t, PAGE[k]);
            raw(t, "\n");
        }
        trace_flush(t);
    }
    for (size_t k = 0; k < h->nstr; k++)
        free(h->str[k]);
    free(h);
    t->html = NULL;
}

/* ---- events --------------------------------------------------------------------------------------------------- */

/* Keep SRAM's contents up to date for key frames, whether or not the event is written. */
static void track_buffers(html_state *h, const mem_event *ev)
{
    size_t b = 0;
    const char *name = ev->name ? ev->name : "";
    while (b < h->nbuf && strcmp(h->buf[b].name, name))
        b++;
    if (ev->kind == MEM_EV_ALLOC && b == h->nbuf && h->nbuf < HTML_BUFS) {
        snprintf(h->buf[h->nbuf].name, sizeof h->buf[0].name, "%s", name);
        h->buf[h->nbuf++].holds[0] = 0;
    } else if (ev->kind == MEM_EV_FREE && b < h->nbuf) {
        memmove(&h->buf[b], &h->buf[b + 1], (h->nbuf - b - 1) * sizeof h->buf[0]);
        h->nbuf--;
    } else if (ev->kind == MEM_EV_LOAD && b < h->nbuf) {
        if (ev->b || ev->h)
            snprintf(h->buf[b].holds, sizeof h->buf[b].holds, "%s(b%zu,h%zu)[%zu:%zu, %zu:%zu]", ev->tensor, ev->b,
                     ev->h, ev->r0, ev->r0 + ev->nrows, ev->c0, ev->c0 + ev->ncols);
        else
            snprintf(h->buf[b].holds, sizeof h->buf[b].holds, "%s[%zu:%zu, %zu:%zu]", ev->tensor, ev->r0,
                     ev->r0 + ev->nrows, ev->c0, ev->c0 + ev->ncols);
    }
}

/* Whether ev's record is written: every step, allocation and phase; the other events of the first
 * TRACE_HTML_DETAIL_TILES tiles, then of one tile in 2 (for DETAIL/2 kept tiles), then 1 in 4, and so on. */
static bool keep(html_state *h, const mem_event *ev)
{
    switch (ev->kind) {
    case MEM_EV_STEP:
        if (ev->name && !strcmp(ev->name, MEM_STEP_SKIP))
            return true;
        if (h->tiles == TRACE_HTML_DETAIL_TILES || (h->tiles > TRACE_HTML_DETAIL_TILES &&
                                                     h->kept_level == TRACE_HTML_DETAIL_TILES / 2)) {
            h->stride *= 2;
            h->kept_level = 0;
        }
        h->in_tile = true;
        h->keep = h->tiles % h->stride == 0;   /* stride 1 for the first TRACE_HTML_DETAIL_TILES tiles */
        h->kept_level += h->keep;
        h->tiles++;
        h->kept += h->keep;
        return true;
    case MEM_EV_PHASE:
        h->in_tile = false;
        return true;
    case MEM_EV_ALLOC:
    case MEM_EV_FREE:
    case MEM_EV_HBM_ALLOC:
    case MEM_EV_HBM_FREE:
        return true;
    default:
        return !h->in_tile || h->keep;
    }
}

void html_event(trace_t *t, const mem_event *ev)
{
    html_state *h = t->html;
    track_buffers(h, ev);
    if (!keep(h, ev)) {
        h->dropped++;
        h->gap = true;
        return;
    }
    /* a key frame only where the totals move again: steps, allocations and phases leave them as they are */
    bool moves = ev->kind == MEM_EV_LOAD || ev->kind == MEM_EV_STORE || ev->kind == MEM_EV_COMPUTE ||
                 ev->kind == MEM_EV_NOTE || ev->kind == MEM_EV_ROWS;
    if (h->gap && moves) {
        key_frame(t, ev->mem, ev);
        h->gap = false;
    }
    /* strings first: their definitions are records of their own */
    long tile = -1;
    switch (ev->kind) {
    case MEM_EV_LOAD:
    case MEM_EV_STORE:
    case MEM_EV_ALLOC:
    case MEM_EV_FREE:
    case MEM_EV_COMPUTE:
    case MEM_EV_NOTE:
    case MEM_EV_PHASE:
    case MEM_EV_STEP:
        tile = str_id(t, ev->name);
        break;
    default:
        break;
    }
    if (!trace_record_wanted(t, (int)ev->kind))
        return;
    const mem_t *m = ev->mem;
    switch (ev->kind) {
    case MEM_EV_LOAD:
    case MEM_EV_STORE:
        begin(t, ev->kind == MEM_EV_LOAD ? "L" : "S");
        trace_put(t, ",%ld", tensor_index(m, ev->tensor));
        put_str(t, tile, ev->name);
        trace_put(t, ",%zu,%zu,%zu,%zu,%zu,%zu", ev->b, ev->h, ev->r0, ev->nrows, ev->c0, ev->ncols);
        put_u64(t, ev->elems), put_u64(t, ev->bytes);
        break;
    case MEM_EV_ALLOC:
    case MEM_EV_FREE:
        begin(t, ev->kind == MEM_EV_ALLOC ? "A" : "F");
        put_str(t, tile, ev->name);
        put_u64(t, ev->elems), put_u64(t, ev->bytes);
        break;
    case MEM_EV_HBM_ALLOC:
    case MEM_EV_HBM_FREE:
        begin(t, ev->kind == MEM_EV_HBM_ALLOC ? "H" : "G");
        trace_put(t, ",%ld,", tensor_index(m, ev->tensor));
        str_lit(t, ev->tensor ? ev->tensor : "");
        put_u64(t, ev->elems), put_u64(t, ev->bytes);
        break;
    case MEM_EV_COMPUTE:
        begin(t, "C");
        put_str(t, tile, ev->name);
        put_u64(t, ev->flops), put_u64(t, ev->exps);
        break;
    case MEM_EV_NOTE:
    case MEM_EV_PHASE:
        begin(t, ev->kind == MEM_EV_NOTE ? "N" : "P");
        put_str(t, tile, ev->name);
        break;
    case MEM_EV_STEP:
        begin(t, "T");
        trace_put(t, ",%ld,%ld", ev->i, ev->j);
        put_str(t, tile, ev->name);
        break;
    case MEM_EV_ROWS: {
        size_t n = min_size(ev->nrows, TRACE_HTML_ROWS);
        begin(t, "R");
        trace_put(t, ",%zu,%zu,%zu,%zu,", ev->b, ev->h, ev->r0, ev->nrows);
        for (int v = 0; v < 2; v++) {
            const float *x = v ? ev->lv : ev->mv;
            if (!x) {
                trace_put(t, "null,");
                continue;
            }
            trace_put_char(t, '[');
            for (size_t r = 0; r < n; r++) {
                if (r)
                    trace_put_char(t, ',');
                put_float(t, x[r]);
            }
            trace_put(t, v ? "]" : "],");
        }
        break;
    }
    }
    trace_put(t, "]");
    trace_record_done(t, (int)ev->kind);
}
