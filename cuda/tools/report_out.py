"""report_out.py — how the GPU track's Python tools keep an output from being lost silently (no torch needed).

The house exit status for it is 3 (the C side's FL_EXIT_IO): a report on stdout that could not be written (a full
disk, a closed pipe), or a file that could not be written whole, gets one line on stderr and that status, never a
traceback and never the status of a failed check. Any other OSError out of main (a library that does not load, an
input file that cannot be read) is what the tool was given: one line and status 2 (FL_EXIT_USAGE).

    from report_out import EXIT_LOST, Parser, make_dirs, run_main, write_whole
    ap = Parser(...)      # argparse's, but --help into a full disk raises (run_main: exit 3) instead of exit 0
    sys.exit(run_main(lambda: main(argv), "hopper_sass"))      # main's status, or 3 if stdout failed
    if make_dirs(outdir, "tc_bench") or write_whole(path, text, "hopper_clocks"): return EXIT_LOST
"""
import argparse
import errno
import os
import sys

EXIT_INPUT, EXIT_LOST = 2, 3
# the errors of a write that did not reach its file or stream (the rest, out of main, are the tool's inputs)
_LOST = {errno.EPIPE, errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EBADF}


class Parser(argparse.ArgumentParser):
    """argparse.ArgumentParser whose help and usage reach stdout or raise: argparse's own writer swallows OSError, so
    `--help > /dev/full` would print nothing and exit 0. Here the write is flushed at once and its error goes on to
    run_main (exit 3)."""

    def print_help(self, file=None):
        self._write(self.format_help(), file or sys.stdout)

    def print_usage(self, file=None):
        self._write(self.format_usage(), file or sys.stdout)

    @staticmethod
    def _write(text, stream):
        stream.write(text)
        stream.flush()


def _reason(e):
    return ascii(e.strerror or str(e))[1:-1]


def _lost(e, prog):
    try:
        sys.stdout = open(os.devnull, "w")   # what was left unwritten is not flushed again at exit
    except OSError:
        pass
    print(f"{prog}: the report could not be written: {_reason(e)}", file=sys.stderr)
    return EXIT_LOST


def run_main(main, prog):
    """main() and a flush of stdout. A failed write out of either (what main prints is the report) ends in one line
    on stderr and EXIT_LOST; another OSError out of main (an input it could not use) in one line and EXIT_INPUT."""
    try:
        code = main()
    except SystemExit:   # argparse's --help and usage errors: what they printed must reach stdout too
        try:
            sys.stdout.flush()
        except OSError as e:
            return _lost(e, prog)
        raise
    except OSError as e:
        if e.errno in _LOST:
            return _lost(e, prog)
        print(f"{prog}: {ascii(str(e))[1:-1]}", file=sys.stderr)
        return EXIT_INPUT
    try:
        sys.stdout.flush()
    except OSError as e:
        return _lost(e, prog)
    return code


def make_dirs(path, prog):
    """The folder an output goes to, made if missing: 0, or 1 after one line on stderr."""
    try:
        os.makedirs(path, exist_ok=True)
        return 0
    except OSError as e:
        print(f"{prog}: cannot make {ascii(path)}: {_reason(e)}", file=sys.stderr)
        return 1


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
