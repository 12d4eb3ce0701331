#!/usr/bin/env python3
"""hopper_final.py — `final`'s dispatch rule from a measured table: writes cuda/hopper/hopper_final.def.

  python3 cuda/hopper/hopper_final.py --json docs/gpu-runs/tc_bench_<device>_<date>.json
          --lib build/rel/libflashlab_hopper.so [--out cuda/hopper/hopper_final.def]

For every (d, causal, N) of the table (make bench-gpu's record, tc_bench.py), the Hopper version (hopper.def; not
final itself) with the highest TFLOP/s among those whose checks passed in that case. final's counters are held to
the simulator's ledger for one pair of blocks per d, so per d the rule keeps to the blocks whose fastest version loses
least to the fastest of all (geometric mean over the cases), and takes the fastest version with those blocks; the
cases where that costs are printed.
Consecutive N with the same pick become one row; the last row of a (d, causal) covers any larger N. Rows of a d
the table did not time are kept.
No GPU needed: the blocks come from the library's host functions (attn_vNN_blocks).
"""
import argparse
import ctypes
import json
import math
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", required=True, help="make bench-gpu's record (tc_bench_<device>_<date>.json)")
    ap.add_argument("--lib", required=True, help="libflashlab_hopper.so (for the versions' blocks)")
    ap.add_argument("--out", default=os.path.join(HERE, "hopper_final.def"))
    a = ap.parse_args()
    rec = json.load(open(a.json))
    prefix = dict(re.findall(r"^HP_VERSION\((\w+), (\w+),", open(os.path.join(HERE, "hopper.def")).read(), re.M))
    prefix.pop("final", None)
    lib = ctypes.CDLL(a.lib)

    def blocks(name, d):
        br, bc = ctypes.c_int(), ctypes.c_int()
        getattr(lib, prefix[name] + "_blocks")(d, ctypes.byref(br), ctypes.byref(bc))
        return br.value, bc.value

    def fastest(row, names):
        ok = [n for n in names if row.get(n) and row["checks"].get(n, {}).get("ok")]
        return max(ok, key=lambda n: row[n]) if ok else None

    rows = sorted(rec["rows"], key=lambda r: (r["d"], r["causal"], r["N"]))
    lines, cost = [], []
    for d in sorted({r["d"] for r in rows}):
        here = [r for r in rows if r["d"] == d]
        # the blocks whose fastest version loses least to the fastest of all, over the cases (geometric mean)
        score = {}
        for bl in {blocks(n, d) for n in prefix if blocks(n, d)[0] > 0}:
            same = [n for n in prefix if blocks(n, d) == bl]
            loss = [math.log(r[fastest(r, same)] / r[fastest(r, prefix)]) if fastest(r, same) else -9 for r in here
                    if fastest(r, prefix)]
            if loss:
                score[bl] = sum(loss) / len(loss)
        if not score:
            continue
        bl = max(score, key=score.get)
        same = [n for n in prefix if blocks(n, d) == bl]
        for causal in (False, True):
            picks = []
            for r in [r for r in here if r["causal"] == causal]:
                p, w = fastest(r, same), fastest(r, prefix)
                if not p:
                    continue
                if w != p:
                    cost.append(f"d={d} N={r['N']} causal={int(causal)}: {w} {r[w]:.0f} has other blocks; final takes "
                                f"{p} {r[p]:.0f} ({r[p] / r[w]:.3f}x)")
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
    head = keep + f" * Source: {src}:\n * per case the fastest checked version with d's blocks. */\n"
    with open(a.out, "w") as f:
        f.write(head + "\n".join(lines) + "\n")
    print(f"hopper_final: {len(lines)} rows to {a.out}")
    for c in cost:
        print("  " + c)
    return 0


if __name__ == "__main__":
    sys.exit(main())
