/* trace_stream.h — what every trace writer (trace.c's text, CSV and JSON; trace_html.c's replay page) shares: the
 * trace's state and the record stream (trace_stream.c). Not part of the course layer's API (include/course/trace.h is).
 *
 *   if (trace_record_wanted(t, kind)) {  trace_put(t, "[%zu", i);  ...  trace_record_done(t, kind);  } */
#ifndef FLASHLAB_TRACE_STREAM_H
#define FLASHLAB_TRACE_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "trace.h"

#define TRACE_RECORD_MAX 4096   /* one event's text: a 255-byte note quoted as JSON (6 bytes a character) fits */
/* Census slots: one per event kind, then the HTML writer's own records (string definitions, key frames). */
enum { CENSUS_HTML_STR = MEM_EV_ROWS + 1, CENSUS_HTML_KEY, CENSUS_KINDS };

typedef struct html_state html_state;

struct trace {
    mem_t *m;
    trace_fmt fmt;
    FILE *out;                  /* NULL: a census, nothing is written */
    double clock_ns;            /* JSON: modelled time */
    bool first;                 /* JSON, HTML: no comma before the first record */
    char rec[TRACE_RECORD_MAX]; /* the record being formatted, written with one fwrite */
    size_t len;
    uint64_t bytes, events;     /* written so far (a census: estimated) */
    int err;                    /* errno of the first failed write; nothing more is written after it */
    uint64_t limit;             /* 0: none */
    trace_guard_fn guard;
    void *guard_ctx;
    /* census: events by kind, and the exact size of one in every TRACE_CENSUS_SAMPLE of them */
    uint64_t n[CENSUS_KINDS], sampled_n[CENSUS_KINDS], sampled_bytes[CENSUS_KINDS], fixed_bytes;
    char track[TRACE_MAX_TRACKS][32];   /* trace_span's tracks, in order of first use */
    int ntracks;
    uint64_t spans;
    html_state *html;           /* TRACE_HTML: the replay page's state */
};

void trace_put(trace_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void trace_put_char(trace_t *t, char c);
void trace_put_quoted(trace_t *t, const char *s, bool json);   /* "..." escaped for CSV (json false) or JSON */
/* Write the formatted record (a census adds its size to the fixed bytes it counts) and start the next one. */
void trace_flush(trace_t *t);
/* A census formats one record of each kind in TRACE_CENSUS_SAMPLE: false when it only counts this one (format
 * nothing). trace_record_done then writes the record, or lets the census measure it. */
bool trace_record_wanted(trace_t *t, int kind);
void trace_record_done(trace_t *t, int kind);

#endif
