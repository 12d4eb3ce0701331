/* exitcode.h — what a flashlab program's exit status means, defined once for every lesson, tool and test.
 *
 *   0  ok: the run finished and every check it makes passed
 *   1  a check failed: an accuracy check, a ledger that differs from its closed form, a counter mismatch
 *   2  bad input: an option, a size, an SRAM too small for one tile, no GPU where one is needed
 *   3  output lost: a write to stdout, a trace file or a data file failed (the partial file is removed)
 *   4  internal error: an invariant of flashlab itself broke (a bug: please report it)
 */
#ifndef FLASHLAB_EXITCODE_H
#define FLASHLAB_EXITCODE_H

#define FL_EXIT_OK 0
#define FL_EXIT_CHECK 1
#define FL_EXIT_USAGE 2
#define FL_EXIT_IO 3
#define FL_EXIT_INTERNAL 4

#endif
