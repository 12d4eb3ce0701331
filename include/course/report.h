/* report.h — fixed-width lines for people: UTF-8-aware padding and the closed-form check line the lessons print.
 *
 *   ok &= report_check(say, 20, "Q reads", "line 8: Tc·N·d", want, counted);
 *   //     Q reads             line 8: Tc·N·d               =         88   counted         88  ✓
 */
#ifndef FLASHLAB_REPORT_H
#define FLASHLAB_REPORT_H

#include <stdbool.h>
#include <stdint.h>

const char *report_mark(bool ok);                 /* "✓" or "✗" */

/* Print s and pad it to width *characters* (printf's widths count bytes, so · ⌈ ² would shift the columns). */
void report_padded(const char *s, int width);

/* One line "    <what> <formula> = <want>   counted <got>  ✓|✗" (printed only when say); returns want == got. */
bool report_check(bool say, int what_width, const char *what, const char *formula, uint64_t want, uint64_t got);

#endif
