/* trace.h — every memory-model event written out, for people (text) or tools (CSV, Chrome trace JSON).
 *
 * A trace is an observer of a memory model: open it, run the algorithm, close it.
 *
 *   trace_t *tr = trace_open(m, TRACE_TEXT, stdout);
 *   flash1_forward(...);
 *   trace_close(tr);                       // JSON needs this to finish the file
 *
 * Text: one fixed-width line per event with the running HBM totals and SRAM occupancy. CSV: one row per event,
 * header first. JSON: the Chrome trace-event format (open in https://ui.perfetto.dev or chrome://tracing), on three
 * tracks (HBM->SRAM, SRAM->HBM, compute) with counters for SRAM bytes and HBM traffic. Its clock is *modelled*, not
 * measured: a transfer lasts bytes / 1.5 TB/s and a matmul FLOPs / 312 TFLOP/s (an A100's HBM and fp16 tensor
 * cores, the paper's GPU), so the picture shows where an ideal GPU would spend its time.
 *
 * HTML: one self-contained page (no network, no external script) that replays the run in a browser, tile by tile:
 * the Tr x Tc grid, the SRAM buffers against M, every HBM tensor's reads and writes, the running totals, the paper's
 * line being executed and the (m, l) of the rows in flight (mem_rows), with play, step, scrub and keyboard controls.
 * The events are embedded as compact JSON records; a run of many tiles is sampled: every step, allocation and phase
 * is kept, and the other events of the first TRACE_HTML_DETAIL_TILES tiles, then of one tile in 2, 4, ... (a key
 * frame of the ledger before each kept tile keeps the totals exact); the page says so on screen.
 *
 * Every record is formatted whole and written with one fwrite, so the bytes written are known exactly and a failed
 * write is seen at once. A trace opened on a NULL stream writes nothing: it is a census, counting the events and
 * estimating the bytes the format would take (one event in TRACE_CENSUS_SAMPLE of each kind is formatted to learn its
 * size), which is how a lesson learns, in a count-only dry run, how big a trace would be before writing it.
 */
#ifndef FLASHLAB_TRACE_H
#define FLASHLAB_TRACE_H

#include <stdint.h>
#include <stdio.h>

#include "mem.h"

typedef enum { TRACE_NONE, TRACE_TEXT, TRACE_CSV, TRACE_JSON, TRACE_HTML } trace_fmt;

int trace_fmt_parse(const char *s, trace_fmt *out);   /* "none", "text", "csv", "json", "html"; 0 ok, -1 unknown */
const char *trace_fmt_name(trace_fmt f);

typedef struct trace trace_t;
trace_t *trace_open(mem_t *m, trace_fmt fmt, FILE *out);  /* NULL for TRACE_NONE; writes the header; out NULL: census */
/* Detaches, writes the footer, flushes, frees. 0, or -1 with errno when any write failed (the stream stays the
 * caller's to close either way). */
int trace_close(trace_t *t);
/* Follow another memory model from now on, in the same stream: a lesson that runs two algorithms on two models
 * writes one trace (one CSV header, one JSON document whose clock runs on). Running totals are the new model's. */
void trace_follow(trace_t *t, mem_t *m);

/* HTML: a line the page shows in its header (key "lesson", "command", "config", "cuda"...); other formats ignore it.
 * Meta records are written where they are given: give them right after trace_open. */
void trace_meta(trace_t *t, const char *key, const char *value);

/* Bytes written so far (a census: its estimate of the bytes the trace would take) and events seen. */
uint64_t trace_bytes(const trace_t *t);
uint64_t trace_events(const trace_t *t);

/* fn(t, err, ctx) is called when a write fails (err = its errno; nothing more is written) and before a record would
 * take the trace past limit bytes (err = 0; if fn returns, the trace goes on without the limit). A census calls it
 * (err = 0) every 4096 events while its estimate is past the limit. limit 0: no limit. */
typedef void (*trace_guard_fn)(trace_t *t, int err, void *ctx);
void trace_guard(trace_t *t, uint64_t limit, trace_guard_fn fn, void *ctx);
#define TRACE_CENSUS_SAMPLE 64

/* The HTML replay: the largest page written without --trace-limit (a browser parses 64 MiB of JSON in seconds), the
 * tiles shown event by event before sampling begins, and the rows whose (m, l) one update shows. */
#define TRACE_HTML_LIMIT ((uint64_t)64 << 20)
#define TRACE_HTML_DETAIL_TILES 2048
#define TRACE_HTML_ROWS 16

/* A span on a named track, timed by the caller on a clock of its own (ns): ring attention's devices and links
 * (lesson12). JSON: an "X" event under process 2, one thread per track in order of first use; text: one line;
 * CSV: a row of event "span" with the track as tensor, what as name, start and end (ns) as r0 and r1, bytes, flops.
 * A census counts its bytes exactly. */
#define TRACE_MAX_TRACKS 128
void trace_span(trace_t *t, const char *track, const char *what, double start_ns, double dur_ns, uint64_t bytes,
                uint64_t flops);

/* Modelled rates of the JSON clock (bytes per ns, FLOPs per ns, exp() per ns). */
#define TRACE_MODEL_HBM_BYTES_PER_NS 1500.0
#define TRACE_MODEL_FLOPS_PER_NS 312000.0
#define TRACE_MODEL_EXPS_PER_NS 2400.0

#endif
