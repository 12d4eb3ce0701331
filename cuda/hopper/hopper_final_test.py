#!/usr/bin/env python3
"""hopper_final_test.py — hopper_final.py's rule on a made-up table (no GPU): the rows it writes, checked line by line.

The table has d = 64 and 256, both causalities, four N; one version fails its check where it is fastest, one case has
no passing version, and the existing file has rows for d = 96 (not in the table) and for d = 64 (to be replaced).
Expected: per case the fastest checked version of any blocks (v18_wide at d = 256 non-causal beside v19_sched causal),
consecutive N with one pick merged, the last row of each (d, causal) open-ended (n_max 0), the case without a passing
version skipped, d = 96's rows kept, the file's header kept and its source line naming the table.
Then two made-up tables at d = 128, run at different levels: per case the median of each version's TFLOP/s over
cuDNN's (flash's where cuDNN is missing), among the versions timed in as many tables as any (a faster version timed
in one table only loses) and never failing a check (one failure in either table excludes it).
Exit 0 when every line matches, 1 (with the difference) otherwise.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def row(d, n, causal, speeds, failed=(), cudnn=None, flash=None):
    r = {"d": d, "N": n, "causal": causal, "checks": {}, "cudnn": cudnn, "flash": flash}
    for name, tflops in speeds.items():
        r[name] = tflops
        r["checks"][name] = {"ok": name not in failed}
    return r


def run(tables, seed, want):
    """hopper_final.py over the tables (name -> rows) onto a .def seeded with `seed`: the differing lines, or None."""
    with tempfile.TemporaryDirectory() as tmp:
        out, args = os.path.join(tmp, "final.def"), []
        for name, rows in tables.items():
            path = os.path.join(tmp, name)
            with open(path, "w") as f:
                json.dump({"meta": {"command": "made up", "device": "none", "date": "2026-12-07"}, "rows": rows}, f)
            args += ["--json", path]
        with open(out, "w") as f:
            f.write(seed)
        p = subprocess.run([sys.executable, os.path.join(HERE, "hopper_final.py"), *args, "--out", out],
                           capture_output=True, text=True)
        if p.returncode != 0:
            print(f"hopper_final_test: hopper_final.py exited {p.returncode}: {p.stderr.strip()}")
            return [(0, "exit 0", f"exit {p.returncode}")]
        with open(out) as f:
            got = f.read().splitlines()
    bad = [(i, w, g) for i, (w, g) in enumerate(zip(want, got)) if w != g]
    if len(got) != len(want):
        bad.append((min(len(got), len(want)), f"{len(want)} lines", f"{len(got)} lines"))
    return bad


def main():
    rows = [
        row(64, 512, False, {"v14_tma": 300, "v18_persist": 290}),
        row(64, 1024, False, {"v14_tma": 400, "v18_persist": 390}),
        row(64, 2048, False, {"v14_tma": 410, "v18_persist": 450}, failed=("v18_persist",)),   # fastest, failed
        row(64, 4096, False, {"v14_tma": 420, "v18_persist": 430}),
        row(64, 512, True, {"v14_tma": 200}, failed=("v14_tma",)),                             # nothing passes
        row(64, 1024, True, {"v14_tma": 300, "v19_s3": 310}),
        row(256, 1024, False, {"v18_persist": 500, "v18_wide": 540, "v19_sched": 510}),
        row(256, 4096, False, {"v18_persist": 600, "v18_wide": 650, "v19_sched": 610}),
        row(256, 1024, True, {"v18_persist": 300, "v18_wide": 310, "v19_sched": 330}),
        row(256, 4096, True, {"v18_persist": 400, "v18_wide": 380, "v19_sched": 450, "final": 999}),   # final: never
    ]
    rec = {"meta": {"command": "made up", "device": "none", "date": "2026-12-07"}, "rows": rows}
    seed = ("/* hopper_final.def — a header to keep\n * Source: an older table:\n * old rule. */\n"
            "HP_FINAL(64, 0, 0, attn_v13)   /* v13_wgmma */\n"
            "HP_FINAL(96, 0, 0, attn_v18)   /* v18_persist */\n"
            "HP_FINAL(96, 1, 0, attn_v18)\n")
    want = ["/* hopper_final.def — a header to keep",
            " * Source: table.json (made up, none, 2026-12-07):",
            " * per case the fastest checked version. */",
            "HP_FINAL(64, 0, 2048, attn_v14)   /* v14_tma, N <= 2048 */",
            "HP_FINAL(64, 0, 0, attn_v18)   /* v18_persist */",
            "HP_FINAL(64, 1, 0, attn_v19_s3)   /* v19_s3 */",
            "HP_FINAL(256, 0, 0, attn_v18_wide)   /* v18_wide */",
            "HP_FINAL(256, 1, 0, attn_v19)   /* v19_sched */",
            "HP_FINAL(96, 0, 0, attn_v18)   /* v18_persist */",
            "HP_FINAL(96, 1, 0, attn_v18)   /* kept: d not in the table */"]
    bad = run({"table.json": rows}, seed, want)
    two = {
        "t1.json": [row(128, 4096, False, {"v19_wide": 700, "v21_pin": 690, "v18_wide": 900}, cudnn=700),
                    row(128, 8192, False, {"v19_wide": 600, "v21_pin": 610}, cudnn=600),
                    row(128, 4096, True, {"v19_wide": 400, "v21_pin": 420}, flash=200)],
        "t2.json": [row(128, 4096, False, {"v19_wide": 500, "v21_pin": 520}, cudnn=500),
                    row(128, 8192, False, {"v19_wide": 600, "v21_pin": 650}, failed=("v21_pin",), cudnn=600)],
    }
    want2 = ["/* a header */",
             " * Source: t1.json (made up, none, 2026-12-07);",
             " *   t2.json (made up, none, 2026-12-07):",
             " * per case the checked version with the highest median, over the tables, of its TFLOP/s over "
             "cuDNN's. */",
             "HP_FINAL(128, 0, 4096, attn_v21_pin)   /* v21_pin, N <= 4096 */",
             "HP_FINAL(128, 0, 0, attn_v19_wide)   /* v19_wide */",
             "HP_FINAL(128, 1, 0, attn_v21_pin)   /* v21_pin */"]
    bad += run(two, "/* a header */\n", want2)
    want += want2
    if bad:
        print(f"hopper_final_test: {len(bad)} lines differ")
        for i, w, g in bad:
            print(f"  line {i + 1}: want {w!r}\n          got  {g!r}")
        return 1
    print(f"hopper_final_test: hopper_final.py's rule on made-up tables (one, then two runs): {len(want)} of "
          f"{len(want)} lines as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
