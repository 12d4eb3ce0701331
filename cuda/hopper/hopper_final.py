#!/usr/bin/env python3
"""hopper_final.py — `final`'s dispatch rule from measured tables: writes cuda/hopper/hopper_final.def.

  python3 cuda/hopper/hopper_final.py --json docs/gpu-runs/tc_bench_<device>_<date>.json [--json ...]
          [--out cuda/hopper/hopper_final.def]

For every (d, causal, N) of the tables (make bench-gpu's records, tc_bench.py), the Hopper version (hopper.def; not
final itself) that ran fastest. With one table: the highest TFLOP/s among the versions whose checks passed in that
case. With several (runs differ in level by a few %, ours and SDPA's alike): each version's TFLOP/s over cuDNN's
in the same table (flash's where cuDNN was not measured), its median over the tables, among the versions timed in as
many of the tables as any version of the case and never failing a check there. So give it runs that timed the same
versions: a version one run left out loses to those that run timed (the three settled runs of 2026-12-07 timed
different sets, and together would drop v14_tma at d = 64, the fastest there in the one run that timed it).
final's blocks follow the case (its counters are held to the ledger of the blocks of the version that runs it), so
no case gives up its fastest version.
Consecutive N with the same pick become one row; the last row of a (d, causal) covers any larger N. Rows of a d
the table did not time are kept.
Exit status: 0; 2 for a table that cannot be read; 3 when the rule or the report cannot be written (the .def is
written whole through a temporary file, or left as it was).
"""
import json
import os
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from report_out import EXIT_LOST, Parser, run_main, write_whole  # noqa: E402  (a lost output: exit 3, one line)


def main():
    ap = Parser()
    ap.add_argument("--json", required=True, action="append",
                    help="make bench-gpu's record (tc_bench_<device>_<date>.json); repeat for several runs")
    ap.add_argument("--out", default=os.path.join(HERE, "hopper_final.def"))
    a = ap.parse_args()
    recs = []
    for path in a.json:
        try:
            with open(path) as f:
                rec = json.load(f)
            if not all(isinstance(r["d"], int) and isinstance(r["N"], int) and isinstance(r["checks"], dict)
                       for r in rec["rows"]):
                raise ValueError("a row without integer d and N or without its checks")
            recs.append(rec)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            print(f"hopper_final: {ascii(path)} is not a readable make bench-gpu record: {ascii(str(e))}",
                  file=sys.stderr)
            return 2
    prefix = dict(re.findall(r"^HP_VERSION\((\w+), (\w+),", open(os.path.join(HERE, "hopper.def")).read(), re.M))
    prefix.pop("final", None)
    cases = {}   # (d, causal, N) -> that case's row in each table that timed it
    for rec in recs:
        for r in rec["rows"]:
            cases.setdefault((r["d"], r["causal"], r["N"]), []).append(r)

    def fastest(rows, names):
        """The highest median over the tables of TFLOP/s over cuDNN's (flash's) there, among the versions timed in
        the most tables, checks passed in all. With one table the order is its TFLOP/s', so it needs no reference."""
        score = {}
        for n in names:
            timed = [r for r in rows if r.get(n)]
            if not timed or not all(r["checks"].get(n, {}).get("ok") for r in timed):
                continue
            ref = [r.get("cudnn") or r.get("flash") or (1.0 if len(rows) == 1 else None) for r in timed]
            if all(ref):
                score[n] = (len(timed), statistics.median(r[n] / x for r, x in zip(timed, ref)))
        if not score:
            return None
        most = max(c for c, _ in score.values())
        return max((n for n in score if score[n][0] == most), key=lambda n: score[n][1])

    lines = []
    for d in sorted({k[0] for k in cases}):
        for causal in (False, True):
            picks = []
            for key in sorted(k for k in cases if k[0] == d and k[1] == causal):
                p = fastest(cases[key], prefix)
                if not p:
                    continue
                if picks and picks[-1][1] == p:
                    picks[-1][0] = key[2]
                else:
                    picks.append([key[2], p])
            for i, (n, p) in enumerate(picks):
                last = i == len(picks) - 1
                lines.append(f"HP_FINAL({d}, {int(causal)}, {0 if last else n}, {prefix[p]})   /* {p}"
                             f"{'' if last else f', N <= {n}'} */")
    # head dimensions the tables did not time keep their rows
    timed = {k[0] for k in cases}
    if os.path.exists(a.out):
        for m in re.finditer(r"^HP_FINAL\((\d+),.*$", open(a.out).read(), re.M):
            if int(m.group(1)) not in timed:
                lines.append(m.group(0) + ("" if "/*" in m.group(0) else "   /* kept: d not in the table */"))
    # the file's own header, kept, then the source of these rows
    keep = open(a.out).read().split(" * Source:")[0] if os.path.exists(a.out) else "/* hopper_final.def\n"
    src = [f"{os.path.basename(p)} ({m.get('command', '?')}, {m.get('device', '?')}, {m.get('date', '?')})"
           for p, m in ((p, rec.get("meta", {})) for p, rec in zip(a.json, recs))]
    how = ("per case the fastest checked version." if len(recs) == 1 else
           "per case the checked version with the highest median, over the tables, of its TFLOP/s over cuDNN's.")
    head = keep + " * Source: " + ";\n *   ".join(src) + f":\n * {how} */\n"
    if write_whole(a.out, head + "\n".join(lines) + "\n", "hopper_final"):
        return EXIT_LOST
    print(f"hopper_final: {len(lines)} rows to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, "hopper_final"))
