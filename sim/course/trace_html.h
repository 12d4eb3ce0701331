/* trace_html.h — the HTML replay writer (trace_html.c), called by trace.c: the page's head at open, every event, a
 * new run at follow, the tail at close. It writes through the record stream (trace_stream.h) like the other formats. */
#ifndef FLASHLAB_TRACE_HTML_H
#define FLASHLAB_TRACE_HTML_H

#include <stdint.h>

#include "trace_stream.h"

void html_open(trace_t *t);
void html_event(trace_t *t, const mem_event *ev);
void html_follow(trace_t *t, mem_t *next);
void html_close(trace_t *t);
uint64_t html_tail_bytes(void);   /* the bytes html_close writes after the last event, about */

#endif
