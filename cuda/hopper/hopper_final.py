#!/usr/bin/env python3
"""hopper_final.py — `final`'s dispatch rule from a measured table: writes cuda/hopper/hopper_final.def.

  python3 cuda/hopper/hopper_final.py --json docs/gpu-runs/tc_bench_<device>_<date>.json
          [--out cuda/hopper/hopper_final.def]

For every (d, causal, N) of the table (make bench-gpu's record, tc_bench.py), the Hopper version (hopper.def; not
final itself) with the highest TFLOP/s among those whose checks passed in that case. final's blocks follow the case
(its counters are held to the ledger of the blocks of the version that runs it), so no case gives up its fastest
version.
Consecutive N with the same pick become one row; the last row of a (d, causal) covers any larger N. Rows of a d
the table did not time are kept.
Exit status: 0; 2 for a table that cannot be read; 3 when the rule or the report cannot be written (the .def is
written whole through a temporary file, or left as it was).
"""
import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from report_out import EXIT_LOST, run_main, write_whole  # noqa: E402  (a lost output: exit 3, one line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", required=True, help="make bench-gpu's record (tc_bench_<device>_<date>.json)")
    ap.add_argument("--out", default=os.path.join(HERE, "hopper_final.def"))
    a = ap.parse_args()
    try:
        with open(a.json) as f:
            rec = json.load(f)
        rows = sorted(rec["rows"], key=lambda r: (r["d"], r["causal"], r["N"]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"hopper_final: {ascii(a.json)} is not a readable make bench-gpu record: {ascii(str(e))}",
              file=sys.stderr)
        return 2
    prefix = dict(re.findall(r"^HP_VERSION\((\w+), (\w+),", open(os.path.join(HERE, "hopper.def")).read(), re.M))
    prefix.pop("final", None)

    def fastest(row, names):
        ok = [n for n in names if row.get(n) and row["checks"].get(n, {}).get("ok")]
        return max(ok, key=lambda n: row[n]) if ok else None

    lines = []
    for d in sorted({r["d"] for r in rows}):
        for causal in (False, True):
            picks = []
            for r in [r for r in rows if r["d"] == d and r["causal"] == causal]:
                p = fastest(r, prefix)
                if not p:
                    continue
                if picks and picks[-1][1] == p:
                    picks[-1][0] = r["N"]
                else:
                    picks.append([r["N"], p])
            for i, (n, p) in enumerate(picks):
                last = i == len(picks) - 1
                lines.append(f"HP_FINAL({d}, {int(causal)}, {0 if last else n}, {prefix[p]})   /* {p}"
                             f"{'' if last else f', N <= {n}'} */")
    # head dimensions the table did not time keep their rows
    timed = {r["d"] for r in rows}
    if os.path.exists(a.out):
        for m in re.finditer(r"^HP_FINAL\((\d+),.*$", open(a.out).read(), re.M):
            if int(m.group(1)) not in timed:
                lines.append(m.group(0) + ("" if "/*" in m.group(0) else "   /* kept: d not in the table */"))
    meta = rec.get("meta", {})
    # the file's own header, kept, then the source of these rows
    keep = open(a.out).read().split(" * Source:")[0] if os.path.exists(a.out) else "/* hopper_final.def\n"
    src = f"{os.path.basename(a.json)} ({meta.get('command', '?')}, {meta.get('device', '?')}, {meta.get('date', '?')})"
    head = keep + f" * Source: {src}:\n * per case the fastest checked version. */\n"
    if write_whole(a.out, head + "\n".join(lines) + "\n", "hopper_final"):
        return EXIT_LOST
    print(f"hopper_final: {len(lines)} rows to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, "hopper_final"))
