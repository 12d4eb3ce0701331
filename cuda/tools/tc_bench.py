#!/usr/bin/env python3
"""tc_bench.py — the tensor-core kernels against PyTorch's SDPA backends, timed in one process with one timer.

Run by `make bench-gpu` after tc_check has passed. The kernels come in through ctypes (libflashlab_tc.so) and get
the same torch tensors, the same CUDA events and the same rotation of input sets as SDPA's flash, cuDNN and
efficient backends, so every number in a row is measured the same way, minutes apart on the same GPU.

  python3 cuda/tools/tc_bench.py --lib build/rel/cuda/libflashlab_tc.so --outdir docs/gpu-runs --datdir plots/data
                                 [--quick] [--versions a,b] [--hplib build/rel/libflashlab_hopper.so
                                 --hp-versions a,b --hp-passed a,b,c --dims 64,128,256] [--ns 512,...]

With --hplib, the Hopper versions (cuda/hopper, hopper.def; their `final` is labelled final_hopper) are timed in the
same loop beside lesson09's, at every d a version supports (the mma.sync ones take d = 64 and 128); with
--hp-passed (make bench-gpu gives hopper_gate.sh's verdict) only those that passed hopper_check, the others asked
for named in the table as not timed.
For d in (64, 128) and N in 512..16384, B = 16384/N and H = 2048/d (hidden 2048, as in ../shared/anchors): TFLOP/s
= 4 B H N^2 d (halved when causal) / median time. Each timed call uses the next of ROT input sets, so inputs are
not in L2 (50-60 MB) from the call before. Per case it also checks every version's O on two heads against an fp32
reference (Tri Dao's criterion against the fp16 materialized math path) and reports the largest |O - O_flash|.
Writes tc_bench_<device>_<date>.txt (the table) and .json (the record) to --outdir, with device, date and command,
and tc_bench_<device>_<date>.dat (the figure's columns, plots/tc_bench.gp) to --datdir. All three are rewritten
whole after every N (a temporary file and a rename), so a run cut short leaves complete tables of what it measured,
never a half-written one; until the last case they say so ("# cases: k of M measured: cut short", meta.cases_done
and cases_planned in the record).
Exit status: 0; 1 when a check failed; 2 for bad arguments; 3 when a table or the report cannot be written.
"""
import ctypes
import datetime
import math
import os
import sys

import torch

from bench_table import cell, ratio  # noqa: E402  na, never nan, for what was not measured
from report_out import EXIT_LOST, Parser, make_dirs, run_main, write_whole  # a lost table or report: exit 3, one line
from gpu_bench import (ROT, SETTLE_S, bench_case, ceilings, fwd_flops, load_forward_lib, run_stem, sdpa, time_ms,
                       version_names, write_record)

DTYPE_FP16 = 1     # dtype.h: DTYPE_FP32, DTYPE_FP16, DTYPE_BF16
TC_DIMS = (64, 128)   # the head dimensions of the mma.sync versions


def tables(head, rows, labels, first, peak, mm, bw, reps, settle):
    """The run's table (.txt) and the figure's columns (.dat, plots/tc_bench.gp) for the rows so far; both say how
    many of the planned cases they hold, and that the run was cut short if it was."""
    done, planned = len(rows), head["cases_planned"]
    cut = "" if done >= planned else f": cut short, the other {planned - done} not measured"
    cols = ["naive", "teaching"] + labels + ["flash", "cudnn", "efficient"]
    t = [f"# {head['device']}, {head['date']}, torch {head['torch']}, command: {head['command']}",
         f"# TFLOP/s = 4 B H N^2 d (/2 causal) / median of {reps} calls (CUDA events), {ROT} input sets "
         f"rotated; fp16; hidden 2048 (H = 2048/d), B = 16384/N"
         f"{f'; each method timed after {settle:g} s of its own calls' if settle else ''}",
         f"# cases: {done} of {planned} measured{cut}",
         f"# ceilings: fp16 matmul {mm:.0f} TFLOP/s, copy {bw:.2f} TB/s"]
    t += [f"# {l}" for l in peak]
    if head.get("hopper_not_checked"):
        t.append(f"# not timed, hopper_check did not pass: {' '.join(head['hopper_not_checked'])}")
    t += ["# naive = v01 standard, teaching = v03 flash2 (fp32 kernels of the GPU track, tc_teach: the "
          "runner's event timer, same make invocation); na = not measured",
          "d N B H causal " + " ".join(cols) + " best ratio_best_flash ratio_best_cudnn checks"]
    for r in rows:
        vals = " ".join(cell(r.get(c)) for c in cols)
        ok = all(c["ok"] for c in r["checks"].values())
        t.append(f"{r['d']} {r['N']} {r['B']} {r['H']} {int(r['causal'])} {vals} {r['best']} "
                 f"{ratio(r[r['best']], r['flash'])} {ratio(r[r['best']], r['cudnn'])} "
                 f"{'OK' if ok else 'FAIL'}")
    g = [f"# {head['device']}, {head['date']}; columns: d N causal naive teaching {first} best (the "
         f"fastest of ours in the case) flash cudnn efficient (TFLOP/s; na = not measured); cases {done} of "
         f"{planned}{cut}"]
    for r in rows:
        vals = [r.get(c) for c in ("naive", "teaching", first, r["best"], "flash", "cudnn", "efficient")]
        g.append(f"{r['d']} {r['N']} {int(r['causal'])} " + " ".join(cell(x) for x in vals))
    return "\n".join(t) + "\n", "\n".join(g) + "\n"


def main():
    ap = Parser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--outdir", default="docs/gpu-runs", help="the run's record: .txt table and .json")
    ap.add_argument("--datdir", default="plots/data", help="the figure's data: .dat")
    ap.add_argument("--cmd", default="python3 cuda/tools/tc_bench.py")
    ap.add_argument("--quick", action="store_true", help="N >= 4096 only, fewer repeats")
    ap.add_argument("--versions", default="", help="comma-separated names (default: all)")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--settle", type=float, default=SETTLE_S,
                    help="seconds of a method's own untimed calls before its timed ones (gpu_bench.settle; 0: none)")
    ap.add_argument("--teach", default="", help="tc_teach's table: naive (v01) and teaching (v03) kernels")
    ap.add_argument("--peak", default="", help="tc_peak's output, copied into the table's header")
    ap.add_argument("--hplib", default="", help="libflashlab_hopper.so: time the Hopper versions too")
    ap.add_argument("--hp-versions", default="", help="comma-separated Hopper names (default: all)")
    ap.add_argument("--hp-passed", default=None, help="the Hopper versions that passed hopper_check (make bench-gpu "
                    "passes hopper_gate.sh's list): only these are timed, whatever --hp-versions asks")
    ap.add_argument("--dims", default="64,128")
    ap.add_argument("--ns", default="512,1024,2048,4096,8192,16384")
    args = ap.parse_args()
    if not 0 <= args.settle <= 60:
        print(f"tc_bench: --settle takes 0 to 60 seconds, not {args.settle!r}", file=sys.stderr)
        return 2

    lib = load_forward_lib(args.lib, "tc")
    names = version_names(lib, "tc")
    pick = [i for i, n in enumerate(names) if not args.versions or n in args.versions.split(",")]
    prop = torch.cuda.get_device_properties(0)
    now = datetime.datetime.now(datetime.timezone.utc)
    head = {"device": prop.name, "sms": prop.multi_processor_count, "torch": torch.__version__,
            "cuda": torch.version.cuda, "date": now.strftime("%Y-%m-%d %H:%M UTC"), "command": args.cmd,
            "rot": ROT, "reps": args.reps, "settle_s": args.settle}
    mm, bw = ceilings()
    head["matmul_fp16_tflops"], head["copy_tbps"] = round(mm, 1), round(bw, 3)
    print(f"# {prop.name}, {prop.multi_processor_count} SMs, torch {torch.__version__}, {head['date']}", flush=True)
    print(f"# ceilings: fp16 matmul 8192^3 {mm:.0f} TFLOP/s; device copy {bw:.2f} TB/s (read + write)", flush=True)

    teach = {}
    if args.teach and os.path.exists(args.teach):
        for line in open(args.teach):
            f = line.split()
            if len(f) == 6 and f[0] in ("standard", "flash2"):
                teach[(f[0], int(f[1]), int(f[2]), bool(int(f[3])))] = float(f[5])
    peak = [l.strip() for l in open(args.peak)] if args.peak and os.path.exists(args.peak) else []

    hp, hp_names, hp_pick = None, [], []
    if args.hplib:
        hp = load_forward_lib(args.hplib, "hp", counters=True)
        hp.hp_version_supports.argtypes = [ctypes.c_int, ctypes.c_int]
        hp_names = version_names(hp, "hp")
        asked = args.hp_versions.split(",") if args.hp_versions else hp_names
        passed = hp_names if args.hp_passed is None else args.hp_passed.split(",")
        hp_pick = [i for i, n in enumerate(hp_names) if n in asked and n in passed]
        head["hopper_versions"] = [hp_names[i] for i in hp_pick]
        head["hopper_not_checked"] = [n for n in hp_names if n in asked and n not in passed]

    def hp_label(v):
        return "final_hopper" if hp_names[v] == "final" else hp_names[v]
    labels = [names[v] for v in pick] + [hp_label(v) for v in hp_pick]

    Ns = [4096, 8192, 16384] if args.quick else [int(x) for x in args.ns.split(",")]
    reps = max(5, args.reps // 2) if args.quick else args.reps
    rows = []
    stem = run_stem("tc_bench", prop, now)
    dims = [int(x) for x in args.dims.split(",")]
    head["cases_planned"] = 2 * len(Ns) * len(dims)   # less the cases of a d no version takes, once seen

    def write_out():
        """The tables so far, each written whole (rewritten after every N: a run cut short keeps what it measured,
        marked as cut); 0, or 1 after one line on stderr."""
        if not rows:
            return 0
        head["cases_done"] = len(rows)
        if not write_record(args.outdir, stem, {"meta": head, "versions": labels, "rows": rows}, "tc_bench"):
            return 1
        txt, dat = tables(head, rows, labels, names[pick[0]] if pick else labels[0], peak, mm, bw, reps,
                          args.settle)
        return (make_dirs(args.datdir, "tc_bench") or
                write_whole(os.path.join(args.outdir, f"{stem}.txt"), txt, "tc_bench") or
                write_whole(os.path.join(args.datdir, f"{stem}.dat"), dat, "tc_bench"))

    for d in dims:
        for N in Ns:
            B, H, sets, out, lse = bench_case(d, N)
            for causal in (False, True):
                flops = fwd_flops(B, H, N, d, causal)
                row = {"d": d, "N": N, "B": B, "H": H, "causal": causal,
                       "naive": teach.get(("standard", d, N, causal)), "teaching": teach.get(("flash2", d, N, causal))}

                def ours(v):
                    def f(i):
                        q, k, v_ = sets[i % ROT]
                        rc = lib.tc_forward(v, q.data_ptr(), k.data_ptr(), v_.data_ptr(), out.data_ptr(),
                                            lse.data_ptr(), B, N, H, d, 0.0, int(causal), DTYPE_FP16, None)
                        if rc:
                            raise RuntimeError(f"{names[v]} failed")
                    return f

                def hopper(v):
                    def f(i):
                        q, k, v_ = sets[i % ROT]
                        if hp.hp_forward(v, q.data_ptr(), k.data_ptr(), v_.data_ptr(), out.data_ptr(), lse.data_ptr(),
                                         B, N, H, d, 0.0, int(causal), DTYPE_FP16, None, None):
                            raise RuntimeError(f"{hp_names[v]} failed")
                    return f
                kern = [(names[v], ours(v)) for v in pick if d in TC_DIMS] + \
                       [(hp_label(v), hopper(v)) for v in hp_pick if hp.hp_version_supports(v, d)]
                if not kern:
                    print(f"# d={d}: no version of ours takes it", flush=True)
                    head["cases_planned"] -= 1
                    continue

                def theirs(backend):
                    return lambda i: sdpa(backend, *sets[i % ROT], causal)

                # correctness on two heads of set 0: fp32 reference, fp16 math path, flash, and each version
                q, k, v_ = sets[0]
                heads = [(0, 0), (B - 1, H - 1)]
                def head_of(t, b, h):
                    return t[b, :, h, :]
                ref, lp = {}, {}
                mask = torch.ones(N, N, device="cuda", dtype=torch.bool).tril() if causal else None
                for (b, h) in heads:
                    qh, kh, vh = (head_of(t, b, h) for t in (q, k, v_))
                    s = (qh.float() @ kh.float().T) / math.sqrt(d)
                    if causal:
                        s = s.masked_fill(~mask, float("-inf"))
                    ref[(b, h)] = torch.softmax(s, -1) @ vh.float()
                    s16 = (qh @ kh.T) * (1.0 / math.sqrt(d))
                    if causal:
                        s16 = s16.masked_fill(~mask, float("-inf"))
                    lp[(b, h)] = (torch.softmax(s16.float(), -1).half() @ vh).float()
                    del s, s16
                lp_err = max((lp[x] - ref[x]).abs().max().item() for x in heads)
                o_flash = sdpa("flash", q, k, v_, causal)
                flash_err = max((o_flash[b, :, h, :].float() - ref[(b, h)]).abs().max().item() for (b, h) in heads)
                row["lp_err"], row["flash_err"] = lp_err, flash_err
                checks = {}
                for name, fn in list(kern):
                    out.fill_(float("nan"))
                    try:
                        fn(0)
                        torch.cuda.synchronize()
                    except RuntimeError as e:   # a version that refuses the case: reported, not timed
                        checks[name] = {"err": None, "ok": False, "why": str(e).splitlines()[0]}
                        kern.remove((name, fn))
                        continue
                    err = max((out[b, :, h, :].float() - ref[(b, h)]).abs().max().item() for (b, h) in heads)
                    unwritten = int(torch.isnan(out).sum().item())
                    ok = unwritten == 0 and err <= 2 * lp_err
                    checks[name] = {"err": err, "vs_flash": (out.float() - o_flash.float()).abs().max().item(),
                                    "ok": ok}
                del o_flash, ref, lp
                row["checks"] = checks

                for name, fn in kern:
                    ms = time_ms(fn, 3, reps, args.settle)
                    row[name] = flops / ms / 1e9
                for label in ("flash", "cudnn", "efficient"):
                    try:
                        ms = time_ms(theirs(label), 3, reps, args.settle)
                        row[label] = flops / ms / 1e9
                    except RuntimeError as e:
                        row[label] = None
                        print(f"# {label} unavailable at d={d} N={N}: {str(e).splitlines()[0]}", flush=True)
                # the spread: our fastest kernel of the case and flash again, alternating
                best = max(range(len(kern)), key=lambda x: row[kern[x][0]])
                again = []
                for _ in range(2):
                    for fn in (kern[best][1], theirs("flash")):
                        ms = time_ms(fn, 1, reps, args.settle)
                        again.append(flops / ms / 1e9)
                row["best"] = kern[best][0]
                row["again_best"], row["again_flash"] = again[0::2], again[1::2]
                rows.append(row)
                cells = " ".join(f"{n}={row[n]:.0f}" for n, _ in kern)
                rb = row[row["best"]]
                bad = [n for n, c in checks.items() if not c["ok"]]
                print(f"d={d:3d} N={N:5d} B={B:2d} H={H:2d} {'causal' if causal else 'full  '} | {cells} | "
                      f"flash={cell(row['flash'], '{:.0f}')} cudnn={cell(row['cudnn'], '{:.0f}')} "
                      f"efficient={cell(row['efficient'], '{:.0f}')} | {row['best']} "
                      f"{ratio(rb, row['flash'])}x flash {ratio(rb, row['cudnn'])}x "
                      f"cudnn (again: {row['again_best'][0]:.0f}/{row['again_best'][1]:.0f} "
                      f"vs {row['again_flash'][0]:.0f}/{row['again_flash'][1]:.0f}) | "
                      f"checks {'OK' if not bad else 'FAIL ' + ','.join(bad)} (lp err {lp_err:.2e})", flush=True)
            del sets, out, lse
            torch.cuda.empty_cache()
            if write_out():
                return EXIT_LOST

    if write_out():
        return EXIT_LOST
    fails = sum(not c["ok"] for r in rows for c in r["checks"].values())
    print(f"tc_bench: {len(rows)} cases, {fails} failed checks; table in {args.outdir}/{stem}.txt")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(run_main(main, "tc_bench"))
