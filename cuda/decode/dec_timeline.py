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

Exit status: 0; 1 when a configuration's o fails its check against fp64; 2 for bad arguments or no GPU; 3 when the
record cannot be written.
"""
import ctypes
import json
import os
import statistics
import sys

import decode_bench as db   # the same shapes, inputs, checks and timer as the benchmark

NST = 8   # FL_DEC_NSTAMPS
CONFIGS = "16,32,8,32768,2,64x2,1;16,32,8,32768,2,t64x3,1;16,32,8,32768,1,64x3,0;16,32,8,32768,1,t64x3,0;" \
          "16,32,8,32768,2,64x2,0;16,32,8,131072,2,64x2,1;64,32,8,32768,1,t64x3,0;64,32,8,32768,1,64x3,0"


def one(lib, cfg, l2):
    B, Hq, Hkv, L, S, vname, merge = cfg
    vnames = [lib.fl_decode_variant_name(i).decode() for i in range(lib.fl_decode_nvariants())]
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
    lib.fl_decode_set_stamps(None)
    x = st.view(blocks, NST).cpu().tolist()
    c.free()
    t0 = min(r[1] for r in x)
    us = lambda t: (t - t0) / 1e3   # noqa: E731
    start = [us(r[1]) for r in x]
    first = [us(r[2]) - us(r[1]) for r in x]
    loop = [us(r[3]) for r in x]
    epi = [us(r[4]) - us(r[3]) for r in x]
    end = [us(r[5]) for r in x]
    merged = [us(r[5]) - us(r[4]) for r in x if us(r[5]) - us(r[4]) > 0.5]
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
             f"  fused merge              {q(merged) if merged else '-'} ({len(merged)} blocks merged)",
             f"  end                      {q(end)}; span {span:.1f} us = {kv / span / 1e6:.3f} TB/s; "
             f"middle {mid:.1f} us",
             f"  SMs used {len(per_sm)}; blocks per SM: " + ", ".join(f"{n}: {k} SMs" for n, k in sorted(hist.items()))]
    return chk["ok"], lines, {"config": cfg, "event_us": ms * 1e3, "kv_bytes": kv, "stamps": x}


def contest(lib, a, l2):
    """--contest: per shape, the named configurations beside SDPA's flash and cuDNN in decode_bench's contest."""
    vnames = [lib.fl_decode_variant_name(i).decode() for i in range(lib.fl_decode_nvariants())]
    ok_all, rec = True, []
    for item in a.contest.split(";"):
        head, _, tail = item.partition(":")
        shape = tuple(int(f) for f in head.split(","))
        cfgs = []
        for c in tail.split(","):
            S, v, m = c.split("/")
            cfgs.append((int(S), vnames.index(v), int(m)))
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


def main():
    ap = db.Parser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", default="")
    ap.add_argument("--configs", default=CONFIGS)
    ap.add_argument("--ncu", default="", help="B,Hq,Hkv,L: the calls for Nsight Compute (no stamps)")
    ap.add_argument("--contest", default="", help="B,Hq,Hkv,L:S/variant/merge,...;...: configurations against SDPA")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=15)
    a = ap.parse_args()
    if db.torch is None or not db.torch.cuda.is_available():
        print("dec_timeline: needs PyTorch with a CUDA device", file=sys.stderr)
        return 2
    try:
        cfgs = [tuple(int(f) if i not in (5,) else f for i, f in enumerate(c.split(","))) for c in a.configs.split(";")]
        if any(len(c) != 7 for c in cfgs):
            raise ValueError
    except ValueError:
        print(f"dec_timeline: --configs {a.configs!r}: want B,Hq,Hkv,L,S,variant,merge;...", file=sys.stderr)
        return 2
    lib = db.load(a.lib)
    if hasattr(lib, "fl_decode_set_stamps"):   # the stamps build only (dec_timeline.sh build)
        lib.fl_decode_set_stamps.argtypes = [ctypes.c_void_p]
        lib.fl_decode_set_stamps.restype = ctypes.c_int
    l2 = db.torch.cuda.get_device_properties(0).L2_cache_size
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
    if a.contest:
        return contest(lib, a, l2)
    ok_all, rec = True, []
    for cfg in cfgs:
        ok, lines, r = one(lib, cfg, l2)
        ok_all &= ok
        print("\n".join(lines), flush=True)
        rec.append(r)
    if a.out and db.write_whole(a.out, json.dumps(rec) + "\n", "dec_timeline"):
        return db.EXIT_LOST
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
