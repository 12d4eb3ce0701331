/* trace.c — text, CSV and Chrome-trace JSON writers for memory-model events (see include/course/trace.h). */
#include "trace.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct trace {
    mem_t *m;
    trace_fmt fmt;
    FILE *out;
    double clock_ns;   /* JSON: modelled time */
    bool first;        /* JSON: no comma before the first event */
    char track[TRACE_MAX_TRACKS][32];   /* trace_span's tracks, in order of first use */
    int ntracks;
    uint64_t spans;
};

int trace_fmt_parse(const char *s, trace_fmt *out)
{
    static const char *const names[] = {"none", "text", "csv", "json"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) {
            *out = (trace_fmt)i;
            return 0;
        }
    return -1;
}

const char *trace_fmt_name(trace_fmt f)
{
    static const char *const names[] = {"none", "text", "csv", "json"};
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

static void text_event(const mem_event *ev, FILE *f)
{
    char w[96], b1[32], b2[32];
    io_count tot = mem_io(ev->mem, NULL, NULL);
    switch (ev->kind) {
    case MEM_EV_LOAD:
    case MEM_EV_STORE:
        window(ev, w, sizeof w);
        fprintf(f, "%6llu  %-5s %-26s %s %-6s %6llu el %9s | HBM rd %8llu wr %8llu el | SRAM %s\n",
                (unsigned long long)ev->seq, ev->kind == MEM_EV_LOAD ? "load" : "store", w,
                ev->kind == MEM_EV_LOAD ? "->" : "<-", ev->name ? ev->name : "", (unsigned long long)ev->elems,
                fmt_bytes(ev->bytes, b1, sizeof b1), (unsigned long long)tot.rd_elems,
                (unsigned long long)tot.wr_elems, fmt_bytes(sram_used(ev->mem), b2, sizeof b2));
        break;
    case MEM_EV_ALLOC:
    case MEM_EV_FREE:
        fprintf(f, "%6llu  %-5s %-26s    %-6s %6llu el %9s | SRAM %s of %s\n", (unsigned long long)ev->seq,
                ev->kind == MEM_EV_ALLOC ? "sram+" : "sram-", "", ev->name, (unsigned long long)ev->elems,
                fmt_bytes(ev->bytes, b1, sizeof b1), fmt_bytes(sram_used(ev->mem), b2, sizeof b2),
                fmt_bytes(mem_sram_capacity(ev->mem), w, sizeof w));
        break;
    case MEM_EV_COMPUTE:
        fprintf(f, "%6llu  %-5s %-36s %10llu FLOP %6llu exp\n", (unsigned long long)ev->seq, "calc", ev->name,
                (unsigned long long)ev->flops, (unsigned long long)ev->exps);
        break;
    case MEM_EV_NOTE:
        fprintf(f, "        -- %s\n", ev->name);
        break;
    case MEM_EV_PHASE:
        fprintf(f, "        == phase %s\n", ev->name);
        break;
    case MEM_EV_STEP:
        fprintf(f, "        >> tile (i=%ld, j=%ld)%s%s\n", ev->i, ev->j, ev->name ? ": " : "",
                ev->name ? ev->name : "");
        break;
    case MEM_EV_HBM_ALLOC:
    case MEM_EV_HBM_FREE:
        fprintf(f, "%6llu  %-5s %-26s    %-6s %6llu el %9s\n", (unsigned long long)ev->seq,
                ev->kind == MEM_EV_HBM_ALLOC ? "hbm+" : "hbm-", ev->tensor, "", (unsigned long long)ev->elems,
                fmt_bytes(ev->bytes, b1, sizeof b1));
        break;
    }
}

static const char *const kind_name[] = {"load", "store", "sram_alloc", "sram_free", "compute", "note", "phase",
                                        "step", "hbm_alloc", "hbm_free"};

/* Quote s for CSV (RFC 4180) or JSON. */
static void put_quoted(FILE *f, const char *s, bool json)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"')
            fputs(json ? "\\\"" : "\"\"", f);
        else if (json && c == '\\')
            fputs("\\\\", f);
        else if (c < 0x20)
            fprintf(f, json ? "\\u%04x" : " ", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void csv_event(const mem_event *ev, FILE *f)
{
    io_count tot = mem_io(ev->mem, NULL, NULL);
    fprintf(f, "%llu,%s,", (unsigned long long)ev->seq, kind_name[ev->kind]);
    put_quoted(f, ev->tensor ? ev->tensor : "", false);
    fputc(',', f);
    put_quoted(f, ev->name ? ev->name : "", false);
    bool xfer = ev->kind == MEM_EV_LOAD || ev->kind == MEM_EV_STORE;
    if (xfer)
        fprintf(f, ",%zu,%zu,%zu,%zu,%zu,%zu", ev->b, ev->h, ev->r0, ev->r0 + ev->nrows, ev->c0, ev->c0 + ev->ncols);
    else if (ev->kind == MEM_EV_STEP)
        fprintf(f, ",,,%ld,,%ld,", ev->i, ev->j);
    else
        fputs(",,,,,,", f);
    fprintf(f, ",%llu,%llu,%llu,%llu,%llu,%llu,%zu\n", (unsigned long long)ev->elems, (unsigned long long)ev->bytes,
            (unsigned long long)ev->flops, (unsigned long long)ev->exps, (unsigned long long)tot.rd_elems,
            (unsigned long long)tot.wr_elems, sram_used(ev->mem));
}

static void json_begin_event(trace_t *t)
{
    fputs(t->first ? "\n" : ",\n", t->out);
    t->first = false;
}

static void json_event(trace_t *t, const mem_event *ev)
{
    FILE *f = t->out;
    char w[96];
    double dur = 0;
    int tid = 0;
    const char *label = ev->name;
    switch (ev->kind) {
    case MEM_EV_LOAD:
    case MEM_EV_STORE:
        dur = (double)ev->bytes / TRACE_MODEL_HBM_BYTES_PER_NS;
        tid = ev->kind == MEM_EV_LOAD ? 1 : 2;
        label = window(ev, w, sizeof w);
        break;
    case MEM_EV_COMPUTE:
        dur = (double)ev->flops / TRACE_MODEL_FLOPS_PER_NS + (double)ev->exps / TRACE_MODEL_EXPS_PER_NS;
        tid = 3;
        break;
    case MEM_EV_NOTE:
    case MEM_EV_PHASE:
    case MEM_EV_STEP:
        break;
    default:
        return;   /* allocations show up in the SRAM counter below */
    }
    json_begin_event(t);
    if (tid) {
        fprintf(f, "{\"name\":");
        put_quoted(f, label, true);
        fprintf(f, ",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":%.6f,\"dur\":%.6f,\"args\":{\"seq\":%llu",
                kind_name[ev->kind], tid, t->clock_ns / 1000.0, dur / 1000.0, (unsigned long long)ev->seq);
        if (tid != 3) {
            fputs(",\"tile\":", f);
            put_quoted(f, ev->name ? ev->name : "", true);
            fprintf(f, ",\"elems\":%llu,\"bytes\":%llu", (unsigned long long)ev->elems, (unsigned long long)ev->bytes);
        } else {
            fprintf(f, ",\"flops\":%llu,\"exps\":%llu", (unsigned long long)ev->flops, (unsigned long long)ev->exps);
        }
        fputs("}}", f);
        t->clock_ns += dur;
    } else {
        char text[300];
        if (ev->kind == MEM_EV_STEP)
            snprintf(text, sizeof text, "tile (%ld, %ld)%s%s", ev->i, ev->j, ev->name ? " " : "",
                     ev->name ? ev->name : "");
        else
            snprintf(text, sizeof text, "%s%s", ev->kind == MEM_EV_PHASE ? "phase " : "", ev->name);
        fputs("{\"name\":", f);
        put_quoted(f, text, true);
        fprintf(f, ",\"cat\":\"%s\",\"ph\":\"i\",\"s\":\"g\",\"pid\":1,\"tid\":3,\"ts\":%.6f}", kind_name[ev->kind],
                t->clock_ns / 1000.0);
    }
    io_count tot = mem_io(ev->mem, NULL, NULL);
    json_begin_event(t);
    fprintf(f, "{\"name\":\"memory\",\"ph\":\"C\",\"pid\":1,\"ts\":%.6f,\"args\":{\"sram_bytes\":%zu,"
               "\"hbm_read_bytes\":%llu,\"hbm_write_bytes\":%llu}}",
            t->clock_ns / 1000.0, sram_used(ev->mem), (unsigned long long)tot.rd_bytes,
            (unsigned long long)tot.wr_bytes);
}

static void observe(const mem_event *ev, void *ctx)
{
    trace_t *t = ctx;
    switch (t->fmt) {
    case TRACE_TEXT: text_event(ev, t->out); break;
    case TRACE_CSV: csv_event(ev, t->out); break;
    case TRACE_JSON: json_event(t, ev); break;
    case TRACE_NONE: break;
    }
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
        fprintf(out, "%6s  %-5s %-26s    %-6s %9s %9s | running HBM totals (elements)   | SRAM in use\n", "seq",
                "event", "tensor[rows, cols]", "tile", "elements", "bytes");
    else if (fmt == TRACE_CSV)
        fputs("seq,event,tensor,name,b,h,r0,r1,c0,c1,elems,bytes,flops,exps,hbm_read_elems,hbm_write_elems,"
              "sram_used_bytes\n", out);
    else {
        fputs("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"clock\":\"modelled: bytes/1.5TB/s, FLOPs/312TFLOP/s\"},"
              "\"traceEvents\":[", out);
        static const char *const track[] = {"", "HBM -> SRAM (load)", "SRAM -> HBM (store)", "compute"};
        for (int tid = 1; tid <= 3; tid++) {
            json_begin_event(t);
            fprintf(out, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"args\":{\"name\":\"%s\"}}",
                    tid, track[tid]);
        }
    }
    mem_observe(m, observe, t);
    return t;
}

void trace_follow(trace_t *t, mem_t *m)
{
    if (!t)
        return;
    mem_unobserve(t->m, observe, t);
    t->m = m;
    mem_observe(m, observe, t);
}

void trace_span(trace_t *t, const char *track, const char *what, double start_ns, double dur_ns, uint64_t bytes,
                uint64_t flops)
{
    if (!t)
        return;
    FILE *f = t->out;
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
                fputs("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":2,\"args\":{\"name\":\"spans (the caller's "
                      "modelled clock)\"}}", f);
            }
            json_begin_event(t);
            fprintf(f, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":2,\"tid\":%d,\"args\":{\"name\":", k + 1);
            put_quoted(f, t->track[k], true);
            fputs("}}", f);
        }
    }
    t->spans++;
    switch (t->fmt) {
    case TRACE_TEXT: {
        char b[32];
        fprintf(f, "%6llu  span  %-12s %-52s t %11.3f us +%10.3f us %9s %12llu FLOP\n", (unsigned long long)t->spans,
                t->track[k], what, start_ns / 1000.0, dur_ns / 1000.0, fmt_bytes(bytes, b, sizeof b),
                (unsigned long long)flops);
        break;
    }
    case TRACE_CSV:
        fprintf(f, "%llu,span,", (unsigned long long)t->spans);
        put_quoted(f, t->track[k], false);
        fputc(',', f);
        put_quoted(f, what, false);
        fprintf(f, ",,,%.0f,%.0f,,,0,%llu,%llu,0,,,\n", start_ns, start_ns + dur_ns, (unsigned long long)bytes,
                (unsigned long long)flops);
        break;
    case TRACE_JSON:
        json_begin_event(t);
        fputs("{\"name\":", f);
        put_quoted(f, what, true);
        fprintf(f, ",\"cat\":\"span\",\"ph\":\"X\",\"pid\":2,\"tid\":%d,\"ts\":%.6f,\"dur\":%.6f,\"args\":{\"bytes\":%llu,"
                   "\"flops\":%llu}}", k + 1, start_ns / 1000.0, dur_ns / 1000.0, (unsigned long long)bytes,
                (unsigned long long)flops);
        break;
    case TRACE_NONE:
        break;
    }
}

FILE *trace_close(trace_t *t)
{
    if (!t)
        return NULL;
    FILE *out = t->out;
    mem_unobserve(t->m, observe, t);
    if (t->fmt == TRACE_JSON)
        fputs("\n]}\n", t->out);
    fflush(out);
    free(t);
    return out;
}
