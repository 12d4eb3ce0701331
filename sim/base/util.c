/* util.c — fatal errors, checked allocation and size arithmetic (see include/base/util.h). */
#define _POSIX_C_SOURCE 200809L
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *progname = "flashlab";

void fl_set_progname(const char *name) { progname = name; }
const char *fl_progname(void) { return progname; }

static void say(const char *what, const char *fmt, va_list ap)
{
    fflush(stdout);
    fprintf(stderr, "%s: %s: ", progname, what);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void fl_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("error", fmt, ap);
    va_end(ap);
    exit(FL_EXIT_USAGE);
}

void fl_internal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("internal error", fmt, ap);
    va_end(ap);
    exit(FL_EXIT_INTERNAL);
}

void *fl_xmalloc(size_t n, const char *file, int line)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        fl_fatal("out of host memory allocating %zu bytes (%s:%d)", n, file, line);
    return p;
}

void *fl_xcalloc(size_t n, size_t size, const char *file, int line)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        fl_fatal("out of host memory allocating %zu x %zu bytes (%s:%d)", n, size, file, line);
    return p;
}

bool size_mul_ok(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return false;
    *out = a * b;
    return true;
}

bool size_add_ok(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a)
        return false;
    *out = a + b;
    return true;
}

bool size_mul4_ok(size_t a, size_t b, size_t c, size_t d, size_t *out)
{
    size_t ab, abc, abcd;
    if (!size_mul_ok(a, b, &ab) || !size_mul_ok(ab, c, &abc) || !size_mul_ok(abc, d, &abcd))
        return false;
    *out = abcd;
    return true;
}

const char *fmt_bytes(uint64_t bytes, char *buf, size_t buflen)
{
    static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, buflen, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    double v = (double)bytes / 1024.0;
    int u = 0;
    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, buflen, v < 10 ? "%.2f %s" : "%.1f %s", v, unit[u]);
    return buf;
}

void fl_print_wrapped(FILE *out, const char *indent, const char *text, size_t width)
{
    size_t room = width > strlen(indent) + 20 ? width - strlen(indent) : 20;
    while (*text) {
        size_t n = strlen(text);
        if (n > room) {   /* break at the last space that fits, or after a word longer than the line */
            n = room;
            while (n && text[n] != ' ')
                n--;
            if (!n)
                n = strcspn(text, " ");
        }
        fprintf(out, "%s%.*s\n", indent, (int)n, text);
        text += n;
        while (*text == ' ')
            text++;
    }
}

uint64_t host_ram_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return 0;
    return (uint64_t)pages * (uint64_t)page;
}
