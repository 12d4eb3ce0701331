#!/usr/bin/env python3
"""dec_timeline.py — where one decode call's time goes, block by block (a diagnostic; needs a GPU).

The library given is decode_splitkv.cu built with -DFL_DEC_STAMPS (dec_timeline.sh builds it): thread 0 of every
block writes its SM, %globaltimer at its start, when its first tile landed, at the end of its tile loop, when its o or
partials were written and at its end (after the fused merge), and the SM's clock64 at start and end. For each
configuration: 5 warm-up calls, then one call with the stamps on, and beside it the call's time by CUDA events (the
median of 15, queued back to back, stamps off). Printed per configuration, in microseconds from the first block's
start: when blocks start (the last one's start says whether there was a second wave), the first tile's latency, when
tile loops end (min, median, max: the spread is the imbalance the last block waits for), the epilogue (the 4 warps'
merge and the writes), the fused merge, the span from the first start to the last end; blocks per SM; the bandwidth
of K+V over the span and over the middle (from the median first tile to the median loop end).

  python3 dec_timeline.py --lib build/diag/libdec_stamps.so [--out FILE.json] [--configs B,Hq,Hkv,L,S,variant,merge;...]
  ncu --profile-from-start off ... python3 dec_timeline.py --lib ... --ncu B,Hq,Hkv,L
      (no stamps: SDPA's cuDNN and flash calls and ours (the plan) on that shape, each twice, between
      cudaProfilerStart and Stop, for Nsight Compute to show their grids, occupancy and DRAM throughput)
  python3 dec_timeline.py --lib ... --contest "B,Hq,Hkv,L:S/variant/merge,...;..." [--rounds 7]
      (no stamps: the configurations named and SDPA's flash and cuDNN in one contest per shape, decode_bench's
      procedure, eager; each configuration's o checked first; ratios to the faster SDPA backend, rounds won)
  python3 dec_timeline.py --tail REC.json.gz --out FILE.dat
      (no GPU: figure 11's table from a timeline record, B = 16, L = 32768: per configuration its blocks' ends,
      sorted, and the fraction still running)

Exit status: 0; 1 when a configuration's o fails its check against fp64; 2 for bad arguments or no GPU; 3 when the
record or the table cannot be written (or the report printed); 4 when a CUDA call fails (its line on stderr).
"""
import ctypes
import gzip
import json
import statistics
import sys

import decode_bench as db   # the same shapes, inputs, checks and timer as the benchmark

NST = 8   # FL_DEC_NSTAMPS
EXIT_INTERNAL = 4   # a CUDA call failed (README's exit codes)
CONFIGS = "16,32,8,32768,2,64x2,1;16,32,8,32768,2,t64x3,1;16,32,8,32768,1,64x3,0;16,32,8,32768,1,t64x3,0;" \
          "16,32,8,32768,2,64x2,0;16,32,8,131072,2,64x2,1;64,32,8,32768,1,t64x3,0;64,32,8,32768,1,64x3,0"


def one(lib, vnames, cfg, l2):
    B, Hq, Hkv, L, S, vname, merge = cfg
    v = vnames.index(vname)
    c = db.Case(lib, (B, Hq, Hkv, L), l2)
    fn = c.ours(S, v, merge)
    chk = c.check(fn, (S, v))
    ms = db.time_eager(fn, c.n_sets, 15, warmup=5)
    blocks = S * Hkv * B
    st = db.torch.zeros(blocks * NST, dtype=db.torch.int64, device="cuda")
    for i in range(5):
        fn(i % c.n_sets)
    db.torch.cuda.synchronize()
    if lib.fl_decode_set_stamps(ctypes.c_void_p(st.data_ptr())):
        raise RuntimeError("fl_decode_set_stamps failed")
    fn(1 % c.n_sets)
    db.torch.cuda.synchronize()
    if lib.fl_decode_set_stamps(None):
        raise RuntimeError("fl_decode_set_stamps failed")
    x = st.view(blocks, NST).cpu().tolist()
    c.free()
    t0 = min(r[1] for r in x)
    us = lambda t: (t - t0) / 1e3   # noqa: E731
    start = [us(r[1]) for r in x]
    first = [us(r[2]) - us(r[1]) for r in x]
    loop = [us(r[3]) for r in x]
    epi = [us(r[4]) - us(r[3]) for r in x]
    end = [us(r[5]) for r in x]
    after = [us(r[5]) - us(r[4]) for r in x]   # S > 1: the fence, the completion count, and (the last) the merge
    per_sm = {}
    for r in x:
        per_sm[r[0]] = per_sm.get(r[0], 0) + 1
    hist = {}
    for n in per_sm.values():
        hist[n] = hist.get(n, 0) + 1
    span = max(end)
    kv = c.kv_bytes
    mid = statistics.median(loop) - statistics.median(start[i] + first[i] for i in range(blocks))
    q = lambda a: f"{min(a):.1f} / {statistics.median(a):.1f} / {max(a):.1f}"   # noqa: E731
    lines = [f"B={B} Hq={Hq} Hkv={Hkv} L={L} S={S} {vname} {'fused' if merge else 'kernel'}: {blocks} blocks, "
             f"check {'ok' if chk['ok'] else 'FAILED'}; event time {ms * 1e3:.1f} us = {kv / ms / 1e9:.3f} TB/s",
             f"  start (min/med/max)      {q(start)}",
             f"  first tile after start   {q(first)}",
             f"  loop end                 {q(loop)}",
             f"  epilogue (loop end to written) {q(epi)}",
             f"  written to end           {q(after)} (S > 1: fence, completion count; the last block merges)",
             f"  end                      {q(end)}; span {span:.1f} us = {kv / span / 1e6:.3f} TB/s; "
             f"middle {mid:.1f} us",
             f"  SMs used {len(per_sm)}; blocks per SM: " + ", ".join(f"{n}: {k} SMs" for n, k in sorted(hist.items()))]
    return chk["ok"], lines, {"config": cfg, "event_us": ms * 1e3, "kv_bytes": kv, "stamps": x}


def contest(lib, vnames, items, a, l2):
    """--contest: per shape, the named configurations beside SDPA's flash and cuDNN in decode_bench's contest."""
    ok_all, rec = True, []
    for shape, named_cfgs in items:
        cfgs = [(S, vnames.index(v), m) for S, v, m in named_cfgs]
        c = db.Case(lib, shape, l2)
        named, checks = [("flash", c.sdpa(db.SDPBackend.FLASH_ATTENTION)),
                         ("cudnn", c.sdpa(db.SDPBackend.CUDNN_ATTENTION))], {}
        ok_all &= c.add_ours(cfgs, named, checks)
        t = db.contest(named, c.n_sets, a.reps, a.rounds, graph=False)
        bar = min(t["flash"]["eager_ms"], t["cudnn"]["eager_ms"])
        sd = [t["flash"], t["cudnn"]]
        print(f"B={shape[0]} Hq={shape[1]} Hkv={shape[2]} L={shape[3]}: flash {db.tbs(c, t['flash']['eager_ms']):.3f} "
              f"cuDNN {db.tbs(c, t['cudnn']['eager_ms']):.3f} TB/s ({a.rounds} rounds)", flush=True)
        row = {"shape": shape, "bar_ms": bar, "flash": t["flash"], "cudnn": t["cudnn"], "configs": []}
        for k in cfgs:
            if k not in t:
                print(f"  S={k[0]:<3} {vnames[k[1]]:<7} m={k[2]}: check FAILED", flush=True)
                continue
            won, n = db.rounds_won(t[k], sd, "eager")
            print(f"  S={k[0]:<3} {vnames[k[1]]:<7} m={k[2]}: {db.tbs(c, t[k]['eager_ms']):.3f} TB/s "
                  f"{bar / t[k]['eager_ms']:.4f}x won {won}/{n}", flush=True)
            row["configs"].append({"S": k[0], "variant": vnames[k[1]], "merge": k[2], **t[k]})
        rec.append(row)
        c.free()
    if a.out and db.write_whole(a.out, json.dumps(rec) + "\n", "dec_timeline"):
        return db.EXIT_LOST
    return 0 if ok_all else 1


# Figure 11's configurations, in its order: S, variant, merge, and the line naming it in the table.
TAIL = [(2, "64x2", 1, "S = 2, 64x2 tiles, fused merge (the plan until 2026-12-07 16:10)"),
        (2, "64x2", 0, "S = 2, 64x2 tiles, the merge as a second kernel (its 6 us come after the span)"),
        (1, "64x3", 0, "S = 1, 64x3 tiles (cp.async)"),
        (1, "t64x3", 0, "S = 1, t64x3 tiles (TMA; the plan since)")]
TAIL_HEAD = """# Decode, B = 16, Hq = 32, Hkv = 8, L = 32768, d = 128, fp16, one NVIDIA H100 80GB HBM3, 2026-12-07 15:34 UTC:
# every thread block's end (globaltimer, us after the first block's start) in one call after warm-up, sorted.
# Source: docs/gpu-runs/run11_H100_2026-12-07/timeline_1534.json.gz (cuda/decode/dec_timeline.sh run); written by
# cuda/decode/dec_timeline.py --tail SOURCE --out THIS: for each configuration its blocks' stamp 5 (end) and stamp 3
# (tile loop end), minus the least stamp 1 (start); sorted by end. Figure 11 (plots/fig11_decode_tail.gp) draws it.
# columns: end_us loop_end_us blocks_still_running_after_this_end fraction_still_running; one index per configuration"""


def tail_table(rec):
    """--tail: figure 11's table from a timeline record (dec_timeline.py --out), B = 16, L = 32768."""
    out = [TAIL_HEAD]
    for S, v, m, label in TAIL:
        r = next(x for x in rec if tuple(x["config"]) == (16, 32, 8, 32768, S, v, m))
        t0 = min(b[1] for b in r["stamps"])
        ends = sorted(((b[5] - t0) / 1e3, (b[3] - t0) / 1e3) for b in r["stamps"])
        n = len(ends)
        out.append(f"\n\n# {label}; {n} blocks; event time {r['event_us']:.1f} us (median of 15 back-to-back calls)")
        out.append(f"0.000 0.000 {n} 1.00000")
        out += [f"{e:.3f} {lo:.3f} {n - 1 - i} {(n - 1 - i) / n:.5f}" for i, (e, lo) in enumerate(ends)]
    return "\n".join(out) + "\n"


def parse(a):
    """The configurations of --configs and --contest, or a ValueError naming what is wrong."""
    cfgs = []
    for c in a.configs.split(";"):
        f = c.split(",")
        if len(f) != 7:
            raise ValueError(f"--configs {a.configs!r}: want B,Hq,Hkv,L,S,variant,merge;...")
        cfgs.append(tuple(int(x) for x in f[:5]) + (f[5], int(f[6])))
    items = []
    for item in a.contest.split(";") if a.contest else []:
        head, _, tail = item.partition(":")
        shape = tuple(int(x) for x in head.split(","))
        named = [tuple(c.split("/")) for c in tail.split(",")]
        if len(shape) != 4 or any(len(k) != 3 for k in named):
            raise ValueError(f"--contest {a.contest!r}: want B,Hq,Hkv,L:S/variant/merge,...;...")
        items.append((shape, [(int(S), v, int(m)) for S, v, m in named]))
    return cfgs, items


def main():
    ap = db.Parser()
    ap.add_argument("--lib", default="")
    ap.add_argument("--out", default="")
    ap.add_argument("--configs", default=CONFIGS)
    ap.add_argument("--ncu", default="", help="B,Hq,Hkv,L: the calls for Nsight Compute (no stamps)")
    ap.add_argument("--contest", default="", help="B,Hq,Hkv,L:S/variant/merge,...;...: configurations against SDPA")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--tail", default="", help="a timeline record (.json.gz): figure 11's table into --out")
    a = ap.parse_args()
    if a.tail:
        if not a.out:
            print("dec_timeline: --tail needs --out FILE.dat", file=sys.stderr)
            return 2
        try:
            text = tail_table(json.load(gzip.open(a.tail)))
        except (OSError, ValueError, KeyError, StopIteration) as e:
            print(f"dec_timeline: {ascii(a.tail)}: not a timeline record with figure 11's configurations "
                  f"({type(e).__name__})", file=sys.stderr)
            return 2
        return db.EXIT_LOST if db.write_whole(a.out, text, "dec_timeline") else 0
    try:
        cfgs, items = parse(a)
    except ValueError as e:
        print(f"dec_timeline: {ascii(str(e))[1:-1]}", file=sys.stderr)
        return 2
    if not a.lib:
        print("dec_timeline: --lib is needed (the library, or the stamps build for --configs)", file=sys.stderr)
        return 2
    if db.torch is None or not db.torch.cuda.is_available():
        print("dec_timeline: needs PyTorch with a CUDA device", file=sys.stderr)
        return 2
    lib = db.load(a.lib)
    if hasattr(lib, "fl_decode_set_stamps"):   # the stamps build only (dec_timeline.sh build)
        lib.fl_decode_set_stamps.argtypes = [ctypes.c_void_p]
        lib.fl_decode_set_stamps.restype = ctypes.c_int
    vnames = [lib.fl_decode_variant_name(i).decode() for i in range(lib.fl_decode_nvariants())]
    unknown = {v for *_, v, _ in cfgs} | {v for _, ks in items for _, v, _ in ks}
    unknown -= set(vnames)
    if unknown:
        print(f"dec_timeline: no variant {', '.join(sorted(unknown))} (the library has {', '.join(vnames)})",
              file=sys.stderr)
        return 2
    l2 = db.torch.cuda.get_device_properties(0).L2_cache_size
    try:
        return run(lib, vnames, cfgs, items, a, l2)
    except RuntimeError as e:   # fl_decode or the stamps refused, or a CUDA error: its line
        print(f"dec_timeline: {ascii(str(e))[1:-1]}", file=sys.stderr)
        return EXIT_INTERNAL


def run(lib, vnames, cfgs, items, a, l2):
    if a.ncu:
        shape = tuple(int(f) for f in a.ncu.split(","))
        sms = db.torch.cuda.get_device_properties(0).multi_processor_count
        c = db.Case(lib, shape, l2)
        named = [("cudnn", c.sdpa(db.SDPBackend.CUDNN_ATTENTION)), ("flash", c.sdpa(db.SDPBackend.FLASH_ATTENTION)),
                 ("ours", c.ours(*db.plan(lib, *shape, sms)))]
        for _, fn in named:
            for i in range(3):
                fn(i % c.n_sets)
        db.torch.cuda.synchronize()
        db.torch.cuda.profiler.start()
        for _, fn in named:
            for i in range(2):
                fn(i % c.n_sets)
        db.torch.cuda.synchronize()
        db.torch.cuda.profiler.stop()
        print("ncu calls:", ", ".join(n for n, _ in named), "each twice; ours", db.plan(lib, *shape, sms))
        return 0
    if items:
        return contest(lib, vnames, items, a, l2)
    if not hasattr(lib, "fl_decode_set_stamps"):
        print(f"dec_timeline: {ascii(a.lib)} has no stamps: build it with dec_timeline.sh build", file=sys.stderr)
        return 2
    ok_all, rec = True, []
    for cfg in cfgs:
        ok, lines, r = one(lib, vnames, cfg, l2)
        ok_all &= ok
        print("\n".join(lines), flush=True)
        rec.append(r)
    if a.out and db.write_whole(a.out, json.dumps(rec) + "\n", "dec_timeline"):
        return db.EXIT_LOST
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(db.run_main(main, "dec_timeline"))
