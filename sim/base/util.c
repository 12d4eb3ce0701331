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

/* Bytes of the well-formed UTF-8 sequence at s (Unicode's table 3-7), 0 when s does not start one. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80, hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    if (n > 1 && (s[1] < lo || s[1] > hi))
        return 0;
    for (size_t k = 2; k < n; k++)
        if (s[k] < 0x80 || s[k] > 0xBF)
            return 0;
    return n;
}

const char *fl_escape(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    if (!len)
        return buf;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p;) {
        char e[20];
        size_t n = utf8_len(p), elen;
        bool c1 = n == 2 && p[0] == 0xC2 && p[1] < 0xA0;   /* U+0080..U+009F: control characters too */
        if (n == 1 && *p >= 0x20 && *p != 0x7F && *p != '\\') {
            e[0] = (char)*p, elen = 1;
        } else if (n > 1 && !c1) {
            memcpy(e, p, n), elen = n;
        } else if (*p == '\n' || *p == '\t' || *p == '\r' || *p == '\\') {
            e[0] = '\\', e[1] = *p == '\n' ? 'n' : *p == '\t' ? 't' : *p == '\r' ? 'r' : '\\', elen = 2;
        } else {
            n = c1 ? 2 : 1;
            elen = 0;
            for (size_t k = 0; k < n; k++)
                elen += (size_t)snprintf(e + elen, sizeof e - elen, "\\x%02X", p[k]);
        }
        if (o + elen >= len)
            break;
        memcpy(buf + o, e, elen);
        o += elen;
        p += n ? n : 1;
    }
    buf[o] = 0;
    return buf;
}

static void say(const char *what, const char *fmt, va_list ap)
{
    char msg[2048], safe[4 * sizeof msg];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n >= (int)sizeof msg)   /* a huge echoed value: keep the start, say it was cut */
        memcpy(msg + sizeof msg - 4, "...", 4);
    fflush(stdout);
    fprintf(stderr, "%s: %s: %s\n", progname, what, fl_escape(msg, safe, sizeof safe));
}

void fl_vreport(const char *fmt, va_list ap) { say("error", fmt, ap); }

int fl_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

size_t fl_vappendf(char *buf, size_t cap, size_t len, const char *fmt, va_list ap)
{
    int n = vsnprintf(buf + len, cap - len, fmt, ap);
    return n > 0 ? (len + (size_t)n < cap ? len + (size_t)n : cap - 1) : len;
}

void fl_fatal_status(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("error", fmt, ap);
    va_end(ap);
    exit(status);
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
