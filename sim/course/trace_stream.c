/* trace_stream.c — the record stream every trace format writes through: a record formatted into the trace's buffer,
 * then written with one fwrite under the size guard, or sampled by a census (trace_stream.h). */
#include "trace_stream.h"

#include <errno.h>
#include <stdarg.h>

#include "util.h"

/* Append to the record being formatted (cut at TRACE_RECORD_MAX, which no record reaches). */
void trace_put(trace_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    t->len = fl_vappendf(t->rec, sizeof t->rec, t->len, fmt, ap);
    va_end(ap);
}

void trace_put_char(trace_t *t, char c)
{
    if (t->len + 1 < sizeof t->rec) {
        t->rec[t->len++] = c;
        t->rec[t->len] = 0;
    }
}

/* Quote s for CSV (RFC 4180) or JSON. */
void trace_put_quoted(trace_t *t, const char *s, bool json)
{
    trace_put_char(t, '"');
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"')
            trace_put(t, "%s", json ? "\\\"" : "\"\"");
        else if (json && c == '\\')
            trace_put(t, "\\\\");
        else if (c < 0x20)
            json ? trace_put(t, "\\u%04x", c) : trace_put_char(t, ' ');
        else
            trace_put_char(t, (char)c);
    }
    trace_put_char(t, '"');
}

/* Write the formatted record, keeping the guard's promises: never past the limit, a failed write reported once and
 * nothing written after it. A census writes nothing: what it flushes (headers) it counts as fixed bytes. */
void trace_flush(trace_t *t)
{
    size_t len = t->len;
    t->len = 0;
    if (!len || t->err)
        return;
    if (!t->out) {
        t->fixed_bytes += len;
        return;
    }
    if (t->limit && t->bytes + len > t->limit && t->guard) {
        t->guard(t, 0, t->guard_ctx);
        t->guard = NULL;   /* it returned: keep going without it */
    }
    errno = 0;
    if (fwrite(t->rec, 1, len, t->out) != len) {
        t->err = errno ? errno : EIO;
        if (t->guard)
            t->guard(t, t->err, t->guard_ctx);
        return;
    }
    t->bytes += len;
}

bool trace_record_wanted(trace_t *t, int kind) { return t->out || t->n[kind]++ % TRACE_CENSUS_SAMPLE == 0; }

void trace_record_done(trace_t *t, int kind)
{
    if (t->out) {
        trace_flush(t);
        return;
    }
    t->sampled_n[kind]++;
    t->sampled_bytes[kind] += t->len;
    t->len = 0;
}
