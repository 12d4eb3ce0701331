#!/usr/bin/env python3
"""record_test.py — how the GPU benchmarks write their records, checked without a GPU or torch.

The benchmarks (tc_bench.py, hopper_bench.py, tc_bwd_bench.py, decode_bench.py) need torch and a GPU to run; what
they leave behind must not depend on either. This test imports gpu_bench and tc_bench over a stand-in for torch
(only the names their modules touch when imported) and checks, on files in a temporary directory:
  1. write_record writes the record whole: valid JSON, NaN as null, no temporary file left;
  2. write_record that cannot write (its directory is a regular file; the target is a directory) returns None after
     one line on stderr, and leaves nothing behind;
  3. tc_bench's tables say how many of the planned cases they hold: a run cut short says so in the .txt and the .dat,
     a whole run does not; what was not measured is `na`;
  4. --help into a full stream exits 3, not 0 (report_out.Parser: argparse itself swallows the failed write), in
     process over the stand-in and, where /dev/full exists, as a command for the tools that import without torch;
     no GPU tool builds its parser from argparse directly.
Exit status: 0 when all hold, 1 otherwise (each failure one line).
"""
import contextlib
import errno
import glob
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))


def stub_torch():
    """A stand-in for torch with the names gpu_bench and tc_bench use at import time; any call into it fails."""
    torch = types.ModuleType("torch")
    nn = types.ModuleType("torch.nn")
    functional = types.ModuleType("torch.nn.functional")
    attention = types.ModuleType("torch.nn.attention")

    class Backends:
        def __getattr__(self, name):
            return name
    attention.SDPBackend = Backends()

    def refuse(*_a, **_k):
        raise RuntimeError("record_test: the torch stand-in does not compute")
    attention.sdpa_kernel = refuse
    torch.nn, nn.functional, nn.attention = nn, functional, attention
    sys.modules.update({"torch": torch, "torch.nn": nn, "torch.nn.functional": functional,
                        "torch.nn.attention": attention})


def main():
    stub_torch()
    sys.path.insert(0, HERE)
    import gpu_bench
    import tc_bench
    bad = []

    def expect(ok, what):
        if not ok:
            bad.append(what)
            print(f"record_test: FAIL {what}")

    with tempfile.TemporaryDirectory() as tmp:
        # 1. a record written whole
        rec = {"meta": {"device": "stub"}, "rows": [{"d": 64, "x": math.nan}]}
        path = gpu_bench.write_record(os.path.join(tmp, "runs"), "rec", rec, "record_test")
        expect(path == os.path.join(tmp, "runs", "rec.json"), "write_record returns the record's path")
        if path:
            back = json.load(open(path))
            expect(back["rows"][0]["x"] is None, "NaN in a record is written as null")
        expect(sorted(os.listdir(os.path.join(tmp, "runs"))) == ["rec.json"], "no temporary file beside the record")

        # 2. a record that cannot be written
        blocker = os.path.join(tmp, "not_a_dir")
        open(blocker, "w").close()
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            got = gpu_bench.write_record(blocker, "rec", rec, "record_test")
        lines = err.getvalue().splitlines()
        expect(got is None, "write_record into a regular file's path returns None")
        expect(len(lines) == 1 and lines[0].startswith("record_test: "), "one line on stderr for an unmade directory")
        os.makedirs(os.path.join(tmp, "d2", "rec.json"))
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            got = gpu_bench.write_record(os.path.join(tmp, "d2"), "rec", rec, "record_test")
        expect(got is None and len(err.getvalue().splitlines()) == 1,
               "write_record onto a directory returns None after one line")
        expect(os.listdir(os.path.join(tmp, "d2")) == ["rec.json"] and
               os.path.isdir(os.path.join(tmp, "d2", "rec.json")), "the failed write leaves nothing behind")

    # 3. tc_bench's tables, whole and cut short
    head = {"device": "stub", "date": "2026-12-07 10:00 UTC", "torch": "0", "command": "record_test",
            "cases_planned": 4}

    def row(N, causal, ours, flash):
        return {"d": 128, "N": N, "B": 16384 // N, "H": 16, "causal": causal, "naive": None, "teaching": None,
                "v": ours, "flash": flash, "cudnn": None, "efficient": math.nan, "best": "v",
                "checks": {"v": {"ok": True}}}
    rows = [row(4096, False, 600.0, 300.0), row(4096, True, 500.0, 250.0)]
    txt, dat = tc_bench.tables(head, rows, ["v"], "v", [], 770.0, 3.0, 20, 0.5)
    expect("# cases: 2 of 4 measured: cut short, the other 2 not measured" in txt.splitlines(),
           "a cut table says how many cases it holds and that it was cut")
    expect("cases 2 of 4: cut short" in dat.splitlines()[0], "the cut figure data says so in its header")
    data = [l for l in txt.splitlines() if not l.startswith("#")][1:]
    expect(len(data) == 2 and data[0].split()[-4:] == ["v", "2.000", "na", "OK"],
           "a row's best, its ratio to flash, na for an unmeasured cuDNN")
    expect(not any(tok.lower() == "nan" for tok in (txt + dat).split()) and " na " in txt, "na, never nan")
    head["hopper_not_checked"] = ["v99_x"]
    txt, _ = tc_bench.tables(head, rows, ["v"], "v", [], 770.0, 3.0, 20, 0.5)
    expect("# not timed, hopper_check did not pass: v99_x" in txt.splitlines(),
           "a Hopper version asked for but not passed by the gate is named as not timed")
    del head["hopper_not_checked"]
    rows += [row(8192, False, 610.0, 305.0), row(8192, True, 520.0, 260.0)]
    txt, dat = tc_bench.tables(head, rows, ["v"], "v", [], 770.0, 3.0, 20, 0.5)
    expect("# cases: 4 of 4 measured" in txt.splitlines() and "cut short" not in txt + dat,
           "a whole table says it holds every case and nothing about a cut")

    # 4. help that cannot be written
    import report_out

    class Full(io.StringIO):
        def flush(self):
            raise OSError(errno.ENOSPC, "No space left on device")
    out, err = Full(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = report_out.run_main(lambda: report_out.Parser(prog="t").parse_args(["--help"]), "t")
    expect(code == report_out.EXIT_LOST and err.getvalue().startswith("t: the report could not be written"),
           "--help into a full stream: exit 3 and one line")
    if os.path.exists("/dev/full"):
        for tool in ("hopper/hopper_sass.py", "hopper/hopper_final.py", "decode/decode_bench.py"):
            path = os.path.join(HERE, "..", tool)
            with open("/dev/full", "w") as full:
                r = subprocess.run([sys.executable, path, "--help"], stdout=full, stderr=subprocess.PIPE, text=True)
            got = (r.returncode, len(r.stderr.splitlines()))
            expect(got == (report_out.EXIT_LOST, 1), f"{tool} --help > /dev/full: exit 3 and one line (got {got})")
    needle = "argparse." + "ArgumentParser("   # written in two so that this file does not hold it
    direct = [p for p in glob.glob(os.path.join(HERE, "..", "*", "*.py")) if needle in open(p).read()]
    expect(not direct, f"every GPU tool parses with report_out.Parser ({', '.join(map(os.path.basename, direct))})")

    print(f"record_test: {'all' if not bad else len(bad)} of the checks "
          f"{'hold' if not bad else 'failed'} (write_record whole or not at all; tc_bench's tables say when cut; "
          "help never lost)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
