/* report.c — padded UTF-8 text and the closed-form check line (see include/course/report.h). */
#include "report.h"

#include <stdio.h>

const char *report_mark(bool ok) { return ok ? "✓" : "✗"; }

void report_padded(const char *s, int width)
{
    int chars = 0;
    for (const char *c = s; *c; c++)
        chars += ((unsigned char)*c & 0xC0) != 0x80;   /* count UTF-8 lead bytes, not continuation bytes */
    fputs(s, stdout);
    for (; chars < width; chars++)
        putchar(' ');
}

bool report_check(bool say, int what_width, const char *what, const char *formula, uint64_t want, uint64_t got)
{
    if (say) {
        printf("    ");
        report_padded(what, what_width);
        report_padded(formula, 28);
        printf(" = %10llu   counted %10llu  %s\n", (unsigned long long)want, (unsigned long long)got,
               report_mark(want == got));
    }
    return want == got;
}
