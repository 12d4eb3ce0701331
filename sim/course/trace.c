/* trace.c — a trace of memory-model events: opening, following and closing it, the census that sizes it, and the
 * text, CSV and Chrome-trace JSON writers (the HTML replay's records are trace_html.c's; the record stream every
 * format writes through is trace_stream.c's); see include/course/trace.h. */
#include "trace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trace_html.h"     // defines: html_open, html_event, html_follow, html_close
#include "trace_stream.h"   // defines: struct trace, trace_put, trace_flush, trace_record_wanted, ...
#include "util.h"

#define put trace_put
#define put_char trace_put_char

int trace_fmt_parse(const char *s, trace_fmt *out)
{
    static const char *const names[] = {"none", "text", "csv", "json", "html"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, names[i])) {
            *out = (trace_fmt)i;
            return 0;
        }
    return -1;
}

const char *trace_fmt_name(trace_fmt f)
{
    static const char *const names[] = {"none", "text", "csv", "json", "html"};
    return names[f];
}

/* "K[8:12, 0:4]" or, for a tensor with heads, "K(b0,h1)[8:12, 0:4]". */
static const char *window(const mem_event *ev, char *buf, size_t len)
{
    if (ev->b || ev->h)
        snprintf(buf, len, "%s(b%zu,h%zu)[%zu:%zu, %zu:%zu]", ev->tensor, ev->b, ev->h, ev->r0, ev->r0 + ev->nrows,
                 ev->c0, ev->c0 + ev->ncols);
    else
        snprintf(buf, len, "%s[%zu:%zu, %zu:%zu]", ev->tensor, ev->r0, ev->r0 + ev->nrows, ev->c0,
                 ev->c0 + ev->ncols);
    return buf;
}

static void text_event(trace_t *t, const mem_event *ev)
{
    char w[96], b1[32], b2[32];
    io_count tot = mem_io(ev->mem, NULL, NULL);
    switch (ev->kind) {
    case MEM_EV_LOAD:
    case MEM_EV_STORE:
        window(ev, w, sizeof w);
        put(t, "%6llu  %-5s %-26s %s %-6s %6llu el %9s | HBM rd %8llu wr %8llu el | SRAM %s\n",
            (unsigned long long)ev->seq, ev->kind == MEM_EV_LOAD ? "load" : "store", w,
            ev->kind == MEM_EV_LOAD ? "->" : "<-", ev->name ? ev->name : "", (unsigned long long)ev->elems,
            fmt_bytes(ev->bytes, b1, sizeof b1), (unsigned long long)tot.rd_elems, (unsigned long long)tot.wr_elems,
            fmt_bytes(sram_used(ev->mem), b2, sizeof b2));
        break;
    case MEM_EV_ALLOC:
    case MEM_EV_FREE:
        put(t, "%6llu  %-5s %-26s    %-6s %6llu el %9s | SRAM %s of %s\n", (unsigned long long)ev->seq,
            ev->kind == MEM_EV_ALLOC ? "sram+" : "sram-", "", ev->name, (unsigned long long)ev->elems,
            fmt_bytes(ev->bytes, b1, sizeof b1), fmt_bytes(sram_used(ev->mem), b2, sizeof b2),
            fmt_bytes(mem_sram_capacity(ev->mem), w, sizeof w));
        break;
    case MEM_EV_COMPUTE:
        put(t, "%6llu  %-5s %-36s %10llu FLOP %6llu exp\n", (unsigned long long)ev->seq, "calc", ev->name,
            (unsigned long long)ev->flops, (unsigned long long)ev->exps);
        break;
    case MEM_EV_NOTE:
        put(t, "        -- %s\n", ev->name);
        break;
    case MEM_EV_PHASE:
        put(t, "        == phase %s\n", ev->name);
        break;
    case MEM_EV_STEP:
        put(t, "        >> tile (i=%ld, j=%ld)%s%s\n", ev->i, ev->j, ev->name ? ": " : "", ev->name ? ev->name : "");
        break;
    case MEM_EV_ROWS:   /* values for the HTML replay only */
        break;
    case MEM_EV_HBM_ALLOC:
    case MEM_EV_HBM_FREE:
        put(t, "%6llu  %-5s %-26s    %-6s %6llu el %9s\n", (unsigned long long)ev->seq,
            ev->kind == MEM_EV_HBM_ALLOC ? "hbm+" : "hbm-", ev->tensor, "", (unsigned long long)ev->elems,
            fmt_bytes(ev->bytes, b1, sizeof b1));
        break;
    }
}

static const char *const kind_name[] = {"load", "store", "sram_alloc", "sram_free", "compute", "note", "phase",
                                        "step", "hbm_alloc", "hbm_free", "rows"};

static void csv_event(trace_t *t, const mem_event *ev)
{
    io_count tot = mem_io(ev->mem, NULL, NULL);
    put(t, "%llu,%s,", (unsigned long long)ev->seq, kind_name[ev->kind]);
    trace_put_quoted(t, ev->tensor ? ev->tensor : "", false);
    put_char(t, ',');
    trace_put_quoted(t, ev->name ? ev->name : "", false);
    bool xfer = ev->kind == MEM_EV_LOAD || ev->kind == MEM_EV_STORE;
    if (xfer)
        put(t, ",%zu,%zu,%zu,%zu,%zu,%zu", ev->b, ev->h, ev->r0, ev->r0 + ev->nrows, ev->c0, ev->c0 + ev->ncols);
    else if (ev->kind == MEM_EV_STEP)
        put(t, ",,,%ld,,%ld,", ev->i, ev->j);
    else
        put(t, ",,,,,,");
    put(t, ",%llu,%llu,%llu,%llu,%llu,%llu,%zu\n", (unsigned long long)ev->elems, (unsigned long long)ev->bytes,
        (unsigned long long)ev->flops, (unsigned long long)ev->exps, (unsigned long long)tot.rd_elems,
        (unsigned long long)tot.wr_elems, sram_used(ev->mem));
}

static void json_begin_event(trace_t *t)
{
    put(t, "%s", t->first ? "\n" : ",\n");
    t->first = false;
}

/* The modelled duration of an event on the JSON clock, and its track (0: an instant or not drawn). */
static double json_duration(const mem_event *ev, int *tid)
{
    switch (ev->kind) {
    case MEM_EV_LOAD:
    case MEM_EV_STORE:
        *tid = ev->kind == MEM_EV_LOAD ? 1 : 2;
        return (double)ev->bytes / TRACE_MODEL_HBM_BYTES_PER_NS;
    case MEM_EV_COMPUTE:
        *tid = 3;
        return (double)ev->flops / TRACE_MODEL_FLOPS_PER_NS + (double)ev->exps / TRACE_MODEL_EXPS_PER_NS;
    default:
        *tid = 0;
        return 0;
    }
}

static void json_event(trace_t *t, const mem_event *ev)
{
    char w[96];
    int tid;
    double dur = json_duration(ev, &tid);
    const char *label = ev->kind == MEM_EV_LOAD || ev->kind == MEM_EV_STORE ? window(ev, w, sizeof w) : ev->name;
    if (!tid && ev->kind != MEM_EV_NOTE && ev->kind != MEM_EV_PHASE && ev->kind != MEM_EV_STEP)
        return;   /* allocations show up in the SRAM counter below */
    json_begin_event(t);
    if (tid) {
        put(t, "{\"name\":");
        trace_put_quoted(t, label, true);
        put(t, ",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":%.6f,\"dur\":%.6f,\"args\":{\"seq\":%llu",
            kind_name[ev->kind], tid, t->clock_ns / 1000.0, dur / 1000.0, (unsigned long long)ev->seq);
        if (tid != 3) {
            put(t, ",\"tile\":");
            trace_put_quoted(t, ev->name ? ev->name : "", true);
            put(t, ",\"elems\":%llu,\"bytes\":%llu", (unsigned long long)ev->elems, (unsigned long long)ev->bytes);
        } else {
            put(t, ",\"flops\":%llu,\"exps\":%llu", (unsigned long long)ev->flops, (unsigned long long)ev->exps);
        }
        put(t, "}}");
        t->clock_ns += dur;
    } else {
        char text[300];
        if (ev->kind == MEM_EV_STEP)
            snprintf(text, sizeof text, "tile (%ld, %ld)%s%s", ev->i, ev->j, ev->name ? " " : "",
                     ev->name ? ev->name : "");
        else
            snprintf(text, sizeof text, "%s%s", ev->kind == MEM_EV_PHASE ? "phase " : "", ev->name);
        put(t, "{\"name\":");
        trace_put_quoted(t, text, true);
        put(t, ",\"cat\":\"%s\",\"ph\":\"i\",\"s\":\"g\",\"pid\":1,\"tid\":3,\"ts\":%.6f}", kind_name[ev->kind],
            t->clock_ns / 1000.0);
    }
    io_count tot = mem_io(ev->mem, NULL, NULL);
    json_begin_event(t);
    put(t, "{\"name\":\"memory\",\"ph\":\"C\",\"pid\":1,\"ts\":%.6f,\"args\":{\"sram_bytes\":%zu,"
           "\"hbm_read_bytes\":%llu,\"hbm_write_bytes\":%llu}}",
        t->clock_ns / 1000.0, sram_used(ev->mem), (unsigned long long)tot.rd_bytes, (unsigned long long)tot.wr_bytes);
}

static void format_event(trace_t *t, const mem_event *ev)
{
    if (ev->kind == MEM_EV_ROWS)   /* row statistics: only the HTML replay shows them */
        return;
    switch (t->fmt) {
    case TRACE_TEXT: text_event(t, ev); break;
    case TRACE_CSV: csv_event(t, ev); break;
    case TRACE_JSON: json_event(t, ev); break;
    case TRACE_HTML:
    case TRACE_NONE: break;
    }
}

/* The bytes a census has seen so far: every event counted, each kind at the mean size of its sampled events. */
static uint64_t census_bytes(const trace_t *t)
{
    double b = (double)t->fixed_bytes;
    for (int k = 0; k < CENSUS_KINDS; k++)
        if (t->sampled_n[k])
            b += (double)t->n[k] * ((double)t->sampled_bytes[k] / (double)t->sampled_n[k]);
    return (uint64_t)b;
}

static void observe(const mem_event *ev, void *ctx)
{
    trace_t *t = ctx;
    t->events++;
    if (t->fmt == TRACE_HTML) {
        html_event(t, ev);
    } else if (t->out) {
        format_event(t, ev);
        trace_flush(t);
        return;
    } else if (ev->kind != MEM_EV_ROWS) {
        /* A census: format one event in TRACE_CENSUS_SAMPLE of each kind (the first always) to learn its size. */
        if (trace_record_wanted(t, (int)ev->kind)) {
            double clock = t->clock_ns;
            format_event(t, ev);
            t->clock_ns = clock;
            trace_record_done(t, (int)ev->kind);
        }
        if (t->fmt == TRACE_JSON) {
            int tid;
            t->clock_ns += json_duration(ev, &tid);
        }
    }
    if (!t->out && t->limit && t->guard && t->events % 4096 == 0 && census_bytes(t) > t->limit)
        t->guard(t, 0, t->guard_ctx);
}

trace_t *trace_open(mem_t *m, trace_fmt fmt, FILE *out)
{
    if (fmt == TRACE_NONE)
        return NULL;
    trace_t *t = xcalloc(1, sizeof *t);
    t->m = m;
    t->fmt = fmt;
    t->out = out;
    t->first = true;
    if (fmt == TRACE_TEXT)
        put(t, "%6s  %-5s %-26s    %-6s %9s %9s | running HBM totals (elements)   | SRAM in use\n", "seq", "event",
            "tensor[rows, cols]", "tile", "elements", "bytes");
    else if (fmt == TRACE_CSV)
        put(t, "seq,event,tensor,name,b,h,r0,r1,c0,c1,elems,bytes,flops,exps,hbm_read_elems,hbm_write_elems,"
               "sram_used_bytes\n");
    else if (fmt == TRACE_JSON) {
        put(t, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"clock\":\"modelled: bytes/1.5TB/s, FLOPs/312TFLOP/s\"},"
               "\"traceEvents\":[");
        static const char *const track[] = {"", "HBM -> SRAM (load)", "SRAM -> HBM (store)", "compute"};
        for (int tid = 1; tid <= 3; tid++) {
            json_begin_event(t);
            put(t, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"args\":{\"name\":\"%s\"}}", tid,
                track[tid]);
        }
    }
    if (!out)
        t->fixed_bytes = fmt == TRACE_JSON ? 4 : 0;   /* JSON's footer "\n]}\n"; the header is flushed below */
    trace_flush(t);
    if (fmt == TRACE_HTML) {
        html_open(t);
        if (!out)
            t->fixed_bytes += html_tail_bytes();
    }
    mem_observe(m, observe, t);
    return t;
}

void trace_follow(trace_t *t, mem_t *m)
{
    if (!t)
        return;
    mem_unobserve(t->m, observe, t);
    if (t->fmt == TRACE_HTML)
        html_follow(t, m);
    t->m = m;
    mem_observe(m, observe, t);
}

void trace_span(trace_t *t, const char *track, const char *what, double start_ns, double dur_ns, uint64_t bytes,
                uint64_t flops)
{
    if (!t)
        return;
    int k = 0;
    while (k < t->ntracks && strcmp(t->track[k], track))
        k++;
    if (k == t->ntracks) {
        if (k == TRACE_MAX_TRACKS)
            fl_internal("more than %d span tracks in one trace", TRACE_MAX_TRACKS);
        snprintf(t->track[k], sizeof t->track[k], "%s", track);
        t->ntracks++;
        if (t->fmt == TRACE_JSON) {
            if (!k) {
                json_begin_event(t);
                put(t, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":2,\"args\":{\"name\":\"spans (the caller's "
                       "modelled clock)\"}}");
            }
            json_begin_event(t);
            put(t, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":2,\"tid\":%d,\"args\":{\"name\":", k + 1);
            trace_put_quoted(t, t->track[k], true);
            put(t, "}}");
        }
    }
    t->spans++;
    t->events++;
    switch (t->fmt) {
    case TRACE_TEXT: {
        char b[32];
        put(t, "%6llu  span  %-12s %-52s t %11.3f us +%10.3f us %9s %12llu FLOP\n", (unsigned long long)t->spans,
            t->track[k], what, start_ns / 1000.0, dur_ns / 1000.0, fmt_bytes(bytes, b, sizeof b),
            (unsigned long long)flops);
        break;
    }
    case TRACE_CSV:
        put(t, "%llu,span,", (unsigned long long)t->spans);
        trace_put_quoted(t, t->track[k], false);
        put_char(t, ',');
        trace_put_quoted(t, what, false);
        put(t, ",,,%.0f,%.0f,,,0,%llu,%llu,0,,,\n", start_ns, start_ns + dur_ns, (unsigned long long)bytes,
            (unsigned long long)flops);
        break;
    case TRACE_JSON:
        json_begin_event(t);
        put(t, "{\"name\":");
        trace_put_quoted(t, what, true);
        put(t, ",\"cat\":\"span\",\"ph\":\"X\",\"pid\":2,\"tid\":%d,\"ts\":%.6f,\"dur\":%.6f,\"args\":{\"bytes\":%llu,"
               "\"flops\":%llu}}", k + 1, start_ns / 1000.0, dur_ns / 1000.0, (unsigned long long)bytes,
            (unsigned long long)flops);
        break;
    case TRACE_HTML:   /* the replay shows the memory models' events, not the caller's clock */
    case TRACE_NONE:
        break;
    }
    trace_flush(t);   /* a census: spans are few, measured exactly (trace_flush counts them as fixed bytes) */
}

void trace_guard(trace_t *t, uint64_t limit, trace_guard_fn fn, void *ctx)
{
    if (!t)
        return;
    t->limit = limit;
    t->guard = fn;
    t->guard_ctx = ctx;
}

uint64_t trace_bytes(const trace_t *t) { return !t ? 0 : t->out ? t->bytes : census_bytes(t); }
uint64_t trace_events(const trace_t *t) { return t ? t->events : 0; }

int trace_close(trace_t *t)
{
    if (!t)
        return 0;
    mem_unobserve(t->m, observe, t);
    if (t->fmt == TRACE_JSON && t->out) {
        put(t, "\n]}\n");
        trace_flush(t);
    }
    if (t->fmt == TRACE_HTML)
        html_close(t);
    errno = 0;
    if (t->out && !t->err && fflush(t->out) != 0)
        t->err = errno ? errno : EIO;
    int err = t->err;
    free(t);
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}
