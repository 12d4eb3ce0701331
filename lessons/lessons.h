/* lessons.h — every lesson's entry point and command-line spec, from lessons.def, for tests and tools.
 * Each lessons/lessonNN_*.c defines lessonNN_spec and lessonNN_run and ends with LESSON_MAIN. */
#ifndef FLASHLAB_LESSONS_H
#define FLASHLAB_LESSONS_H

#include "cli.h"

#define LESSON(num, stem, kind, title) extern const cli_spec lesson##num##_spec; int lesson##num##_run(const cli_cfg *cfg);
#include "lessons.def"
#undef LESSON

/* A lesson's main() is one line. Test builds define FLASHLAB_NO_MAIN and call lessonNN_run directly. */
#ifdef FLASHLAB_NO_MAIN
#define LESSON_MAIN(spec, run)
#else
#define LESSON_MAIN(spec, run) \
    int main(int argc, char **argv) { return cli_main(&(spec), argc, argv, (run)); }
#endif

#endif
