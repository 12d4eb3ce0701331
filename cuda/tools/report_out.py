"""report_out.py — how the GPU track's Python tools keep an output from being lost silently (no torch needed).

The house exit status for it is 3 (the C side's FL_EXIT_IO): a report on stdout that could not be written (a full
disk, a closed pipe), or a file that could not be written whole, gets one line on stderr and that status, never a
traceback and never the status of a failed check.

    from report_out import EXIT_LOST, run_main, write_whole
    sys.exit(run_main(lambda: main(argv), "hopper_sass"))      # main's status, or 3 if stdout failed
    if write_whole(path, text, "hopper_clocks"): return EXIT_LOST
"""
import os
import sys

EXIT_LOST = 3


def _reason(e):
    return ascii(e.strerror or str(e))[1:-1]


def run_main(main, prog):
    """main() and a flush of stdout; an OSError from either (what main prints is the report) ends in one line on
    stderr and EXIT_LOST."""
    try:
        code = main()
        sys.stdout.flush()
    except OSError as e:
        try:
            sys.stdout = open(os.devnull, "w")   # what was left unwritten is not flushed again at exit
        except OSError:
            pass
        print(f"{prog}: the report could not be written: {_reason(e)}", file=sys.stderr)
        return EXIT_LOST
    return code


def write_whole(path, text, prog):
    """text to path whole or not at all: a regular file (or a new one) through a temporary file beside it and a
    rename, anything else (a pipe, /dev/stdout) directly. On failure one line on stderr, the temporary removed (never
    the target: it may be a device), and 1; else 0."""
    regular = not os.path.exists(path) or os.path.isfile(path)
    tmp = f"{path}.tmp{os.getpid()}" if regular else path
    try:
        with open(tmp, "w") as f:
            f.write(text)
        if regular:
            os.replace(tmp, path)
        return 0
    except OSError as e:
        if regular and os.path.isfile(tmp):
            os.remove(tmp)
        print(f"{prog}: cannot write {path!r}: {_reason(e)}", file=sys.stderr)
        return 1
