/* util.h — small helpers every module leans on: fatal errors, checked allocation, checked size arithmetic.
 *
 * Errors in flashlab follow one rule: bad input is the user's mistake and gets one line on stderr and exit
 * status 2 (fl_fatal). Running out of host memory is reported the same way, never as a crash. A broken invariant
 * of flashlab itself (a bug, never the user's input) is fl_internal: one line, exit status 4.
 *
 *   float *x = xmalloc(n * sizeof *x);            // dies with file:line if the host has no memory
 *   size_t nn; if (!size_mul_ok(N, N, &nn)) ...   // N*N would overflow size_t
 */
#ifndef FLASHLAB_UTIL_H
#define FLASHLAB_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "exitcode.h"   // defines: FL_EXIT_OK, FL_EXIT_CHECK, FL_EXIT_USAGE, FL_EXIT_IO, FL_EXIT_INTERNAL

/* Name printed before error messages ("lesson03: error: ..."); set once by the program's main. */
void fl_set_progname(const char *name);
const char *fl_progname(void);

/* Print "prog: error: <message>" as one line on stderr and exit(FL_EXIT_USAGE). The message goes through
 * fl_escape, so a value echoed from the command line can neither break the line nor send raw bytes to a terminal. */
_Noreturn void fl_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "prog: internal error: <message>" as one line on stderr and exit(FL_EXIT_INTERNAL). */
_Noreturn void fl_internal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same line as fl_fatal, with another exit status (FL_EXIT_IO: output was lost). Every message of these
 * three goes through fl_escape. */
_Noreturn void fl_fatal_status(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fl_vreport(const char *fmt, va_list ap);   /* just the escaped line on stderr, for callers that clean up first */

/* For functions that report to their caller (err, errlen) instead of exiting: the message into err, then -1.
 *   if (n == 0) return fl_err(err, errlen, "N = %zu must be at least 1", n); */
int fl_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Append to the text buf[0..len) of a buffer of cap bytes, cut so that it stays 0-terminated; the new length. */
size_t fl_vappendf(char *buf, size_t cap, size_t len, const char *fmt, va_list ap);

/* s made safe to print on one line: control bytes as \n, \t, \r or \xNN, a backslash as \\, and every byte that
 * is not part of well-formed UTF-8 as \xNN (valid UTF-8, such as "·" or "中", stays as it is). Writes at most len
 * bytes with the terminating 0, cutting only between escapes; returns buf. */
const char *fl_escape(const char *s, char *buf, size_t len);

/* malloc/calloc that never return NULL: on failure they call fl_fatal naming the caller's file and line. */
#define xmalloc(n) fl_xmalloc((n), __FILE__, __LINE__)
#define xcalloc(n, size) fl_xcalloc((n), (size), __FILE__, __LINE__)
void *fl_xmalloc(size_t n, const char *file, int line);
void *fl_xcalloc(size_t n, size_t size, const char *file, int line);

/* a*b and a+b into *out; false (and *out untouched) when the result would not fit in size_t. */
bool size_mul_ok(size_t a, size_t b, size_t *out);
bool size_add_ok(size_t a, size_t b, size_t *out);
/* a*b*c*d, false on overflow. */
bool size_mul4_ok(size_t a, size_t b, size_t c, size_t d, size_t *out);

/* ⌈a/b⌉ for b > 0. */
static inline size_t ceil_div(size_t a, size_t b) { return a / b + (a % b != 0); }
static inline size_t min_size(size_t a, size_t b) { return a < b ? a : b; }
static inline size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* Format a byte count for people: "64 B", "48.0 KiB", "1.50 MiB", "2.00 GiB". Returns buf. */
const char *fmt_bytes(uint64_t bytes, char *buf, size_t buflen);

/* Print text in lines of at most width characters, broken at spaces, each line starting with indent. */
void fl_print_wrapped(FILE *out, const char *indent, const char *text, size_t width);

/* Bytes of RAM this host has (0 when unknown). The fake HBM refuses tensors that would not fit in half of it. */
uint64_t host_ram_bytes(void);

#endif
