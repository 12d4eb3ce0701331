#!/usr/bin/env python3
"""hopper_bench.py — the Hopper kernels (cuda/hopper) against PyTorch's SDPA backends, one process, one timer.

Run after hopper_check has passed. The kernels come in through ctypes (libflashlab_hopper.so); optionally lesson09's
mma.sync `final` (v09; v09 and v11 come from a small library of those two files, --tclib) as the previous ceiling.
Every kernel gets the same torch tensors, the same CUDA events and the same rotation of input sets as SDPA's flash
and cuDNN backends.

  python3 cuda/hopper/hopper_bench.py --lib build/rel/libflashlab_hopper.so [--tclib build/rel/libtcref.so]
          [--outdir plots/data] [--quick] [--versions a,b] [--dims 64,128,256,96,32] [--efficient]

1. Ceilings measured in the same run: fp16 matmul 8192^3 (cuBLAS) and device copy bandwidth.
2. Error study: on ragged N (1000, 3001), fp16 and bf16, d = 128 (and 64), causal and not, max |O - O64| of every
   kernel, of SDPA flash and cuDNN and of the mma.sync kernels, against an fp64 reference computed on the GPU, as a
   ratio to SDPA flash's error on the same inputs.
3. Speed: for d in 64, 128, 256, 96 and N in 512 .. 16384 (B = 16384 / N, H = 2048 // d), causal and not: TFLOP/s =
   4 B H N^2 d (halved when causal) / time; each call uses the next of ROT input sets. Timing is interleaved: every
   method (ours and SDPA's alike) is timed in R rounds (--rounds, 3), the order rotated by one each round, and its
   figure is the median over rounds of its per-round median of --reps calls, so a clock or thermal drift during a
   case falls on every method alike. The line of a case headlines `final` (what a user gets) beside the best single
   version. Each case also checks every kernel's O on two heads against fp64 (Tri Dao's criterion against the fp16
   materialized path) and reports its error over SDPA flash's; --twins a=b reports whether a's and b's O and L agree
   bit for bit in every case.
Writes hopper_bench_<device>_<date>.{txt,json} with device, date and command, each whole or not at all.
Exit status: 0; 1 when a check failed; 2 for bad arguments; 3 when a table or the report cannot be written.
"""
import ctypes
import datetime
import math
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from bench_table import cell, ratio  # noqa: E402  na, never nan, for what was not measured
from report_out import EXIT_LOST, Parser, run_main, write_whole  # noqa: E402  a lost table or report: exit 3, one line
from gpu_bench import (BACKENDS, ROT, SETTLE_S, bench_case, ceilings, fwd_flops, load_forward_lib,  # noqa: E402
                       run_stem, sdpa, time_ms, version_names, write_record)

DTYPE = {torch.float16: 1, torch.bfloat16: 2}   # dtype.h: DTYPE_FP32, DTYPE_FP16, DTYPE_BF16
ERR_FACTOR = 1.25  # the error allowed over SDPA flash's on the same inputs


class TcArgs(ctypes.Structure):   # attn_tc.h's tc_args
    _fields_ = [("q", ctypes.c_void_p), ("k", ctypes.c_void_p), ("v", ctypes.c_void_p), ("o", ctypes.c_void_p),
                ("lse", ctypes.c_void_p), ("B", ctypes.c_size_t), ("N", ctypes.c_size_t), ("H", ctypes.c_size_t),
                ("d", ctypes.c_size_t), ("scale", ctypes.c_float), ("causal", ctypes.c_int), ("dtype", ctypes.c_int),
                ("count", ctypes.c_void_p)]


def load_tclib(path):
    """lesson09's mma.sync kernels v09 and v11, called through their launchers; `final` is v09, as in attn_tc.c."""
    lib = ctypes.CDLL(path)
    fns = {}
    for name in ("attn_v09_forward", "attn_v11_forward"):
        f = getattr(lib, name)
        f.argtypes = [ctypes.POINTER(TcArgs), ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        f.restype = ctypes.c_int
        fns[name] = f
    return fns


def ref64(q, k, v, causal):
    """fp64 attention of one head (N x d inputs), O (N x d) and L (N), in row chunks."""
    N, d = q.shape
    q, k, v = q.double(), k.double(), v.double()
    o = torch.empty(N, d, device="cuda", dtype=torch.float64)
    lse = torch.empty(N, device="cuda", dtype=torch.float64)
    for r0 in range(0, N, 2048):
        s = (q[r0:r0 + 2048] @ k.T) / math.sqrt(d)
        if causal:
            rows = torch.arange(r0, min(r0 + 2048, N), device="cuda")[:, None]
            s = s.masked_fill(torch.arange(N, device="cuda")[None, :] > rows, float("-inf"))
        lse[r0:r0 + 2048] = torch.logsumexp(s, -1)
        o[r0:r0 + 2048] = torch.softmax(s, -1) @ v
    return o, lse


def lowp_err(q, k, v, causal, ref):
    """Error of the materialized path in the inputs' precision (S, P rounded; PyTorch's math path)."""
    N, d = q.shape
    s = (q @ k.T) * (1.0 / math.sqrt(d))
    if causal:
        s = s.masked_fill(torch.ones(N, N, device="cuda", dtype=torch.bool).tril().logical_not(), float("-inf"))
    o = (torch.softmax(s.float(), -1).to(q.dtype) @ v).double()
    return (o - ref).abs().max().item()


class Runner:
    """Every kernel of the run as fn(q, k, v, out, lse, causal) on (B, N, H, d) tensors."""

    def __init__(self, lib, tclib, names, pick):
        self.lib, self.tclib, self.names, self.pick = lib, tclib, names, pick

    def supports(self, name, d):
        if name in BACKENDS:
            return True
        if name == "mma_final":
            return self.tclib is not None and d in (64, 128)
        return bool(self.lib.hp_version_supports(self.names.index(name), d))

    def call(self, name, q, k, v, out, lse, causal):
        B, N, H, d = q.shape
        if name in BACKENDS:
            return sdpa(name, q, k, v, causal)
        if name == "mma_final":
            a = TcArgs(q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr(), lse.data_ptr(), B, N, H, d, 0.0,
                       int(causal), DTYPE[q.dtype], None)
            f = self.tclib["attn_v09_forward"]   # as attn_tc.c: v09 in every case
            err = ctypes.create_string_buffer(256)
            if f(ctypes.byref(a), None, err, 256):
                raise RuntimeError(err.value.decode())
            return out
        idx = self.names.index(name)
        if self.lib.hp_forward(idx, q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr(), lse.data_ptr(), B, N, H,
                               d, 0.0, int(causal), DTYPE[q.dtype], None, None):
            raise RuntimeError(f"{name} failed")
        return out


def error_study(run, kernels, out_rows):
    print("# error study: max |O - O64| / SDPA flash's, same inputs (B=1, H=4), fp64 reference on the GPU", flush=True)
    for dt in (torch.float16, torch.bfloat16):
        for d in (128, 64):
            for N in (1000, 3001):
                for causal in (False, True):
                    torch.manual_seed(N * 7 + d + int(causal))
                    q, k, v = (torch.randn(1, N, 4, d, device="cuda", dtype=dt) for _ in range(3))
                    out = torch.empty_like(q)
                    lse = torch.empty(1, 4, N, device="cuda", dtype=torch.float32)
                    refs = [ref64(q[0, :, h], k[0, :, h], v[0, :, h], causal) for h in range(4)]
                    lp = max(lowp_err(q[0, :, h], k[0, :, h], v[0, :, h], causal, refs[h][0]) for h in range(4))
                    errs, lerrs = {}, {}
                    for name in ["flash", "cudnn", "mma_final", "mma_v09", "mma_v11"] + kernels:
                        try:
                            if name in ("mma_v09", "mma_v11"):
                                if run.tclib is None or d not in (64, 128):
                                    continue
                                a = TcArgs(q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr(), lse.data_ptr(),
                                           1, N, 4, d, 0.0, int(causal), DTYPE[dt], None)
                                out.fill_(float("nan"))
                                f = run.tclib["attn_v09_forward" if name == "mma_v09" else "attn_v11_forward"]
                                if f(ctypes.byref(a), None, ctypes.create_string_buffer(256), 256):
                                    continue
                                o = out
                            else:
                                if not run.supports(name, d):
                                    continue
                                out.fill_(float("nan"))
                                lse.fill_(float("nan"))
                                o = run.call(name, q, k, v, out, lse, causal)
                            torch.cuda.synchronize()
                        except RuntimeError:
                            continue
                        errs[name] = max((o[0, :, h].double() - refs[h][0]).abs().max().item() for h in range(4))
                        if name not in ("flash", "cudnn"):
                            lerrs[name] = max((lse[0, h].double() - refs[h][1]).abs().max().item() for h in range(4))
                    fl = errs.get("flash")
                    # "!" marks a Hopper version over the error rule (ERR_FACTOR x SDPA flash's error)
                    cells = " ".join(f"{n}={e / fl:.2f}" + ("!" if n in kernels and e > ERR_FACTOR * fl else "")
                                     for n, e in errs.items() if n != "flash")
                    print(f"err {str(dt)[6:]:8s} d={d:3d} N={N:5d} {'causal' if causal else 'full  '} "
                          f"flash={fl:.2e} lp={lp:.2e} | {cells}", flush=True)
                    out_rows.append({"dtype": str(dt)[6:], "d": d, "N": N, "causal": causal, "flash_err": fl,
                                     "lp_err": lp, "err": errs, "lse_err": lerrs})
                    del q, k, v, out, lse, refs
    torch.cuda.empty_cache()


def time_rounds(fns, rounds, warmup, reps, settle_s=0.0):
    """fns: name -> fn(i). Each method is timed (time_ms: median of reps calls) once per round, the order of the
    methods rotated by one each round; returns name -> [ms per round] (empty where a call raised RuntimeError).
    Every method gets the same warm-up, repeats and rounds."""
    names, per, dead = list(fns), {n: [] for n in fns}, {}
    for r in range(rounds):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            if n in dead:
                continue
            try:
                per[n].append(time_ms(fns[n], warmup, reps, settle_s))
            except RuntimeError as e:
                dead[n], per[n] = str(e).splitlines()[0], []
    return per, dead


def main():
    ap = Parser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--tclib", default="")
    ap.add_argument("--outdir", default="plots/data")
    ap.add_argument("--cmd", default="python3 cuda/hopper/hopper_bench.py")
    ap.add_argument("--quick", action="store_true", help="N >= 4096 only, fewer repeats")
    ap.add_argument("--versions", default="", help="comma-separated names (default: all)")
    ap.add_argument("--dims", default="64,128,256,96,32")
    ap.add_argument("--ns", default="512,1024,2048,4096,8192,16384")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--settle", type=float, default=SETTLE_S,
                    help="seconds of a method's own untimed calls before its timed ones (gpu_bench.settle; 0: none)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per case (order rotated each round)")
    ap.add_argument("--efficient", action="store_true", help="time SDPA's efficient backend too (slow)")
    ap.add_argument("--no-errors", action="store_true", help="skip the error study")
    ap.add_argument("--twins", default="", help="a=b,...: versions whose O and L must agree bit for bit (reported)")
    args = ap.parse_args()
    if not 0 <= args.settle <= 60:
        print(f"hopper_bench: --settle takes 0 to 60 seconds, not {args.settle!r}", file=sys.stderr)
        return 2

    lib = load_forward_lib(args.lib, "hp", counters=True)
    tclib = load_tclib(args.tclib) if args.tclib and os.path.exists(args.tclib) else None
    names = version_names(lib, "hp")
    pick = [n for n in names if not args.versions or n in args.versions.split(",")]
    run = Runner(lib, tclib, names, pick)
    prop = torch.cuda.get_device_properties(0)
    now = datetime.datetime.now(datetime.timezone.utc)
    head = {"device": prop.name, "sms": prop.multi_processor_count, "torch": torch.__version__,
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "date": now.strftime("%Y-%m-%d %H:%M UTC"), "command": args.cmd, "rot": ROT, "reps": args.reps,
            "settle_s": args.settle, "rounds": args.rounds}
    mm, bw = ceilings()
    head["matmul_fp16_tflops"], head["copy_tbps"] = round(mm, 1), round(bw, 3)
    print(f"# {prop.name}, {prop.multi_processor_count} SMs, torch {torch.__version__}, cuDNN {head['cudnn']}, "
          f"{head['date']}", flush=True)
    print(f"# ceilings: fp16 matmul 8192^3 {mm:.0f} TFLOP/s; device copy {bw:.2f} TB/s (read + write)", flush=True)

    err_rows = []
    if not args.no_errors:
        error_study(run, pick, err_rows)
        over = sorted({n for r in err_rows for n, e in r["err"].items()
                       if n in pick and r["flash_err"] and e > ERR_FACTOR * r["flash_err"]})
        print(f"# error rule (max |O - O64| <= {ERR_FACTOR} x SDPA flash's, every case above): "
              f"{'OK' if not over else 'over: ' + ','.join(over)}", flush=True)

    Ns = [4096, 8192, 16384] if args.quick else [int(x) for x in args.ns.split(",")]
    reps = max(5, args.reps // 2) if args.quick else args.reps
    backends = ["flash", "cudnn"] + (["efficient"] if args.efficient else [])
    rounds = max(1, args.rounds)
    twins = [tuple(t.split("=", 1)) for t in args.twins.split(",") if "=" in t]
    in_twin = {n for t in twins for n in t}
    timing = (f"{rounds} interleaved rounds per case, the order of the methods rotated each round; a method's "
              f"figure = median over rounds of its per-round median of {reps} calls (CUDA events), ours and SDPA's "
              f"alike")
    print(f"# timing: {timing}", flush=True)
    rows = []
    for d in [int(x) for x in args.dims.split(",")]:
        for N in Ns:
            torch.manual_seed(N + d)
            B, H, sets, out, lse = bench_case(d, N)
            for causal in (False, True):
                flops = fwd_flops(B, H, N, d, causal)
                row = {"d": d, "N": N, "B": B, "H": H, "causal": causal}
                q, k, v = sets[0]
                heads = [(0, 0), (B - 1, H - 1)]
                refs = {x: ref64(q[x[0], :, x[1]], k[x[0], :, x[1]], v[x[0], :, x[1]], causal)[0] for x in heads}
                lp = max(lowp_err(q[b, :, h], k[b, :, h], v[b, :, h], causal, refs[(b, h)]) for (b, h) in heads)
                kern = [n for n in pick if run.supports(n, d)] + (["mma_final"] if run.supports("mma_final", d) else [])
                checks, live, kept = {}, [], {}
                o_flash = run.call("flash", q, k, v, out, lse, causal).clone()
                flash_err = max((o_flash[b, :, h].double() - refs[(b, h)]).abs().max().item() for (b, h) in heads)
                for name in kern + ["cudnn"]:
                    try:
                        out.fill_(float("nan"))
                        o = run.call(name, q, k, v, out, lse, causal)
                        torch.cuda.synchronize()
                    except RuntimeError as e:
                        print(f"# {name} d={d} N={N}: {str(e).splitlines()[0]}", flush=True)
                        continue
                    err = max((o[b, :, h].double() - refs[(b, h)]).abs().max().item() for (b, h) in heads)
                    unwritten = int(torch.isnan(o).sum().item())
                    checks[name] = {"err": err, "ratio_flash": err / flash_err, "unwritten": unwritten,
                                    "ok": unwritten == 0 and err <= 2 * lp}
                    live.append(name)
                    if name in in_twin:
                        kept[name] = (o.clone(), lse.clone())
                row["twins"] = {f"{a}={b}": torch.equal(kept[a][0], kept[b][0]) and torch.equal(kept[a][1], kept[b][1])
                                for a, b in twins if a in kept and b in kept}
                del o_flash, refs, kept
                row["lp_err"], row["flash_err"], row["checks"] = lp, flash_err, checks
                fns = {n: (lambda i, n=n: run.call(n, *sets[i % ROT], out, lse, causal))
                       for n in [n for n in live if n != "cudnn"] + backends}
                per, dead = time_rounds(fns, rounds, 2, reps, args.settle)
                for name, e in dead.items():
                    print(f"# {name} unavailable at d={d} N={N}: {e}", flush=True)
                row["rounds"] = {n: [round(flops / ms / 1e9, 1) for ms in v] for n, v in per.items()}
                for name, v in per.items():
                    row[name] = flops / statistics.median(v) / 1e9 if v else None
                single = [n for n in live if n in names and n != "final" and row.get(n)]
                best = max(single, key=lambda n: row[n]) if single else None
                row["best"] = best   # the best single version (final picks among them per case)
                rows.append(row)
                fl, cu = row.get("flash"), row.get("cudnn")
                cells = " ".join(f"{n}={row[n]:.0f}" for n in kern if row.get(n))
                bad = [n for n, c in checks.items() if not c["ok"]]
                worst = max((c["ratio_flash"] for n, c in checks.items() if n in names), default=None)
                fin = row.get("final")
                fb = (f"final {fin:.0f} = {ratio(fin, cu, '{:.2f}')}x cudnn {ratio(fin, fl, '{:.2f}')}x flash | "
                      if fin else "")
                bb = (f"best version {best} {row[best]:.0f} = {ratio(row[best], cu, '{:.2f}')}x cudnn "
                      f"{ratio(row[best], fl, '{:.2f}')}x flash" if best else "-")
                spread = max(((max(v) - min(v)) / statistics.median(v) for v in row["rounds"].values() if v),
                             default=None)
                print(f"d={d:3d} N={N:5d} B={B:2d} H={H:2d} {'causal' if causal else 'full  '} | {cells} | "
                      f"flash={cell(fl, '{:.0f}')} cudnn={cell(cu, '{:.0f}')} | {fb}{bb} | "
                      f"round spread max {cell(None if spread is None else 100 * spread, '{:.1f}')} % | "
                      f"err/flash max {cell(worst, '{:.2f}')} | "
                      f"checks {'OK' if not bad else 'FAIL ' + ','.join(bad)}", flush=True)
            del sets, out, lse
            torch.cuda.empty_cache()

    stem = run_stem("hopper_bench", prop, now)
    if not write_record(args.outdir, stem, {"meta": head, "versions": pick, "errors": err_rows, "rows": rows},
                        "hopper_bench"):
        return EXIT_LOST
    cols = pick + ["mma_final", "flash", "cudnn"] + (["efficient"] if args.efficient else [])
    t = [f"# {head['device']}, {head['date']}, torch {head['torch']}, cuDNN {head['cudnn']}, "
         f"command: {head['command']}",
         f"# TFLOP/s = 4 B H N^2 d (/2 causal) / time; {timing}; {ROT} input sets rotated; fp16; "
         f"hidden 2048 (H = 2048 // d), B = 16384 / N; best = the best single version (not final); "
         f"na = not measured",
         f"# ceilings: fp16 matmul {mm:.0f} TFLOP/s, copy {bw:.2f} TB/s",
         "d N B H causal " + " ".join(cols) + " best best/flash best/cudnn checks"]
    for r in rows:
        vals = " ".join(cell(r.get(c)) for c in cols)
        ok = all(c["ok"] for c in r["checks"].values())
        b = r["best"]
        rb = r.get(b) if b else None
        t.append(f"{r['d']} {r['N']} {r['B']} {r['H']} {int(r['causal'])} {vals} {b or 'na'} "
                 f"{ratio(rb, r.get('flash'))} {ratio(rb, r.get('cudnn'))} "
                 f"{'OK' if ok else 'FAIL'}")
    if write_whole(os.path.join(args.outdir, f"{stem}.txt"), "\n".join(t) + "\n", "hopper_bench"):
        return EXIT_LOST
    fails = sum(not c["ok"] for r in rows for c in r["checks"].values())
    for a, b in twins:
        seen = [r["twins"][f"{a}={b}"] for r in rows if f"{a}={b}" in r["twins"]]
        print(f"# twins {a}, {b}: O and L bit for bit equal in {sum(seen)} of {len(seen)} cases", flush=True)
    print(f"hopper_bench: {len(rows)} cases, {fails} failed checks; table in {args.outdir}/{stem}.txt")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(run_main(main, "hopper_bench"))
