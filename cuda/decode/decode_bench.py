#!/usr/bin/env python3
"""decode_bench.py — lesson11's CUDA decode against PyTorch SDPA's flash and cuDNN backends, one process, one timer.

The kernel comes in through ctypes (libflashlab_decode.so) and gets the same torch tensors, the same stream and the
same CUDA events as SDPA, so every number of a row is measured alike, seconds apart on the same GPU.

  python3 decode_bench.py --lib build/rel/libflashlab_decode.so --out DIR [--quick] [--rounds 5] [--rule SWEEP.json]

How every figure is formed, the same for ours and for SDPA's flash and cuDNN backends (no method is treated
differently): the methods of a shape are timed in R interleaved rounds (--rounds, default 5); round r times them in
the order rotated by r (round 0: ours, flash, cuDNN; round 1: flash, cuDNN, ours; ...), each method in a round getting
the same 3 warm-up calls and then the same number of timed calls (the count set once per shape from the slowest
method); a method's time in a round is the median of its calls; its figure is the median over the R rounds of those
per-round medians. Drift over the run (clocks, temperature) so falls on every method alike instead of on whichever
came last. Eager and graph (below) are both formed this way (graph: each round replays every method's graph the same
number of times). The bar is the faster of SDPA's flash and cuDNN figures; ours / bar >= 1 is the goal.

Shapes: the decode table of ../shared/anchors/h100_sdpa_2026-12-06.md (one query token, KV cache of L tokens, d = 128,
fp16), q (B, Hq, 1, d), k and v (B, Hkv, L, d) as SDPA takes them (enable_gqa when Hq > Hkv). TB/s = bytes of K and V
/ median time. Two timings per method: eager (an event between calls queued back to back, as the anchors were
measured) and graph (a CUDA graph of the same calls replayed: no host gaps, what the GPU alone needs). Input sets
rotate so that K and V are not in L2 from the call before. Before timing, every method's o on the first and last
sequence is checked against an fp64 reference; ours must lie within decode_ref.h's tolerance (fl_decode_tolerance).
Also measured in the same run: device copy bandwidth (bytes read + written) and a read-only pass (torch.sum).
Ours is fl_decode_plan's configuration (S, variant, merge), or with --rule the best rule of a sweep's record (the rule
to be written into decode_cuda.h, confirmed in a run of its own); --variants all also times every other variant at
the plan's S (in the same rounds).

--sweep: every S a rule of the family gives x variants x merges (--scope family), or only the plan's S and merge with
every variant (--scope plan: the variant choice, fast; --finer adds 2x and 4x the plan's splits with a few variants,
reported but not in any rule), eager, in the same interleaved rounds with flash and cuDNN; then every rule scored by
its worst ratio bar / ours. --pick SWEEP.json scores the rules of a record again (no GPU).
The .md and .json are written whole or not at all. Exit status: 0; 1 when a check failed; 2 for bad arguments (or,
except for --pick, no PyTorch or no CUDA device); 3 when a table or the report cannot be written.
"""
import ctypes
import datetime
import json
import math
import os
import statistics
import sys

try:
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
except ImportError:   # --pick reads a sweep's record and needs neither torch nor a GPU
    torch = None
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from report_out import EXIT_LOST, Parser, run_main, write_whole  # noqa: E402  a lost table or report: exit 3, one line

DTYPE_FP16 = 1   # dtype.h
ANCHORS = [  # B, Hq, Hkv, L, anchor flash TB/s, anchor cuDNN TB/s (H100, 2026-12-06)
    (1, 32, 32, 4096, 1.85, 2.10), (1, 32, 32, 32768, 2.91, 3.02), (1, 32, 32, 131072, 3.10, 3.17),
    (1, 32, 8, 4096, 0.51, 0.55), (1, 32, 8, 32768, 2.13, 2.47), (1, 32, 8, 131072, 2.42, 2.99),
    (16, 32, 8, 4096, 2.36, 2.94), (16, 32, 8, 32768, 3.14, 3.20), (16, 32, 8, 131072, 2.68, 3.22),
    (64, 32, 8, 4096, 2.51, 2.65), (64, 32, 8, 32768, 2.47, 3.21), (64, 32, 8, 131072, 2.46, 3.21),
    (8, 64, 8, 4096, 2.10, 2.47), (8, 64, 8, 32768, 2.58, 3.10), (8, 64, 8, 131072, 2.67, 3.19),
]
D = 128
GRAPH_CALLS = 8          # calls captured in one graph (times the rotation)
ROUNDS = 5               # interleaved timing rounds (the module's docstring)
WARMUP = 3               # calls before each method's timed calls in every round
ROT_MAX = 8
MEM_BUDGET = 44e9        # bytes of K and V sets held at once (H100: 80 GB)


class Args(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("B", ctypes.c_longlong), ("Hq", ctypes.c_longlong),
                ("Hkv", ctypes.c_longlong), ("N", ctypes.c_longlong), ("d", ctypes.c_longlong),
                ("splits", ctypes.c_longlong), ("q", ctypes.c_void_p), ("k", ctypes.c_void_p),
                ("v", ctypes.c_void_p), ("k_sb", ctypes.c_longlong), ("k_sh", ctypes.c_longlong),
                ("k_sn", ctypes.c_longlong), ("o", ctypes.c_void_p), ("work", ctypes.c_void_p),
                ("scale", ctypes.c_float), ("variant", ctypes.c_int), ("count", ctypes.c_void_p),
                ("merge", ctypes.c_int)]


def load(path):
    lib = ctypes.CDLL(path)
    lib.fl_decode.argtypes = [ctypes.POINTER(Args), ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.fl_decode.restype = ctypes.c_int
    lib.fl_decode_splits_rule.argtypes = [ctypes.c_longlong] * 3 + [ctypes.c_int] * 3
    lib.fl_decode_splits_rule.restype = ctypes.c_longlong
    lib.fl_decode_plan.argtypes = [ctypes.POINTER(Args), ctypes.c_int]
    lib.fl_decode_plan.restype = None
    lib.fl_decode_work_floats.argtypes = [ctypes.c_longlong] * 4
    lib.fl_decode_work_floats.restype = ctypes.c_longlong
    lib.fl_decode_nvariants.restype = ctypes.c_int
    lib.fl_decode_variant_name.argtypes = [ctypes.c_int]
    lib.fl_decode_variant_name.restype = ctypes.c_char_p
    lib.fl_decode_max_splits.argtypes = [ctypes.c_int, ctypes.c_longlong]
    lib.fl_decode_max_splits.restype = ctypes.c_longlong
    lib.fl_decode_tolerance.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_double, ctypes.c_longlong,
                                        ctypes.c_longlong, ctypes.c_int, ctypes.c_double,
                                        ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double)]
    return lib


def time_eager(fn, n_sets, reps, warmup=3):
    """Median of reps calls, an event after each; the calls are queued back to back."""
    for i in range(warmup):
        fn(i % n_sets)
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(reps + 1)]
    ev[0].record()
    for i in range(reps):
        fn(i % n_sets)
        ev[i + 1].record()
    ev[-1].synchronize()
    return statistics.median(ev[i].elapsed_time(ev[i + 1]) for i in range(reps))


def graph_of(fn, n_sets):
    """A CUDA graph of GRAPH_CALLS·n_sets calls (each set in turn) and its call count, or None if the calls cannot
    be captured."""
    try:
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for i in range(2 * n_sets):
                fn(i % n_sets)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        calls = GRAPH_CALLS * n_sets
        with torch.cuda.graph(g):
            for i in range(calls):
                fn(i % n_sets)
        g.replay()
        torch.cuda.synchronize()
        return g, calls
    except Exception as e:   # noqa: BLE001 — a backend that cannot be captured is reported, not fatal
        print(f"    (graph capture failed: {type(e).__name__}: {str(e)[:80]})", flush=True)
        torch.cuda.synchronize()
        return None


def time_replay(graph, reps):
    """One warm-up replay, then reps replays with an event after each: median ms per call."""
    g, calls = graph
    g.replay()
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(reps + 1)]
    ev[0].record()
    for i in range(reps):
        g.replay()
        ev[i + 1].record()
    ev[-1].synchronize()
    return statistics.median(ev[i].elapsed_time(ev[i + 1]) for i in range(reps)) / calls


def contest(named, n_sets, reps, rounds, graph, budget_ms=600):
    """Time the methods named = [(name, fn(i))] as the module's docstring says: `rounds` interleaved rounds, the
    order rotated by one each round, every method the same warm-up and the same number of calls; a method's figure is
    the median over rounds of its per-round medians. Returns {name: {"eager_ms", "graph_ms", "eager_rounds",
    "graph_rounds"}} (graph_ms None when not asked for or not capturable)."""
    names = [n for n, _ in named]
    fns = dict(named)
    est = max(time_eager(fn, n_sets, 3, warmup=1) for fn in fns.values())   # the slowest sets the count for all
    n_eager = max(5, min(reps, int(budget_ms / rounds / max(est, 1e-3))))
    graphs = {n: graph_of(fns[n], n_sets) for n in names} if graph else {}
    n_graph = max(3, min(max(3, reps // 2), int(budget_ms / rounds / max(est * GRAPH_CALLS * n_sets, 1e-3))))
    per = {n: {"eager": [], "graph": []} for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            per[n]["eager"].append(time_eager(fns[n], n_sets, n_eager, warmup=WARMUP))
        for n in order:
            if graphs.get(n):
                per[n]["graph"].append(time_replay(graphs[n], n_graph))
    del graphs
    return {n: {"eager_ms": statistics.median(per[n]["eager"]),
                "graph_ms": statistics.median(per[n]["graph"]) if per[n]["graph"] else None,
                "eager_rounds": per[n]["eager"], "graph_rounds": per[n]["graph"]} for n in names}


def rounds_won(ours, sdpa, key):
    """In how many rounds ours' per-round median beat the faster SDPA backend's of the same round, and of how many."""
    theirs = [x for x in sdpa if x.get(key + "_rounds")]
    if not ours.get(key + "_rounds") or not theirs:
        return None, 0
    won = sum(mine < min(x[key + "_rounds"][i] for x in theirs) for i, mine in enumerate(ours[key + "_rounds"]))
    return won, len(ours[key + "_rounds"])


def ceilings():
    x = torch.empty(2 ** 31, device="cuda", dtype=torch.uint8)   # 2 GiB, far past L2
    y = torch.empty_like(x)
    ms = time_eager(lambda i: y.copy_(x), 1, 10)
    copy = 2 * x.numel() / ms / 1e9
    h = x.view(torch.float16)
    ms = time_eager(lambda i: h.sum(dtype=torch.float32), 1, 10)
    read = x.numel() / ms / 1e9
    del x, y, h
    torch.cuda.empty_cache()
    return copy, read


def reference(q, k, v, b, scale):
    """o for sequence b in fp64, and the size of the score sums (smag) and |v| (vmax) the tolerance needs."""
    Hkv = k.shape[1]
    qd = q[b, :, 0, :].double().reshape(Hkv, -1, q.shape[-1])     # (Hkv, G, d): query head h reads KV head h // G
    kd, vd = k[b].double(), v[b].double()                         # (Hkv, L, d)
    s = torch.einsum("hgd,hld->hgl", qd, kd) * scale
    smag = (torch.einsum("hgd,hld->hgl", qd.abs(), kd.abs()) * scale).max().item()
    o = torch.einsum("hgl,hld->hgd", torch.softmax(s, dim=-1), vd).reshape(q.shape[1], -1)
    return o, smag, v[b].abs().max().item()


class Case:
    """One decode shape: rotated input sets, outputs, the work buffer, the fp64 references of set 0, and the methods:
    ours(S, variant, merge) and sdpa(backend) as fn(i) on set i, each checked by check(name, fn, ...)."""

    def __init__(self, lib, shape, l2):
        self.lib, (self.B, self.Hq, self.Hkv, self.L) = lib, shape
        B, Hq, Hkv, L = shape
        self.kv_bytes = 2 * B * Hkv * L * D * 2
        self.n_sets = max(1, min(ROT_MAX, math.ceil(3 * l2 / self.kv_bytes), int(MEM_BUDGET // self.kv_bytes)))
        self.sets = [(torch.randn(B, Hq, 1, D, device="cuda", dtype=torch.float16),
                      torch.randn(B, Hkv, L, D, device="cuda", dtype=torch.float16),
                      torch.randn(B, Hkv, L, D, device="cuda", dtype=torch.float16)) for _ in range(self.n_sets)]
        self.outs = [torch.empty(B, Hq, 1, D, device="cuda", dtype=torch.float16) for _ in range(self.n_sets)]
        # one zeroed work buffer per S (made by ours): the completion counts sit past S's partials, so one S's
        # partials would overwrite another's counts, and the methods of a contest run interleaved
        self.work = {}
        self.err = ctypes.create_string_buffer(256)
        q, k, v = self.sets[0]
        self.refs = {b: reference(q, k, v, b, 1 / math.sqrt(D)) for b in sorted({0, B - 1})}

    def ours(self, S, variant, merge):
        if S not in self.work:
            self.work[S] = torch.zeros(max(1, self.lib.fl_decode_work_floats(self.B, self.Hq, D, S)), device="cuda",
                                       dtype=torch.float32)
        args = []
        for (q, k, v), o in zip(self.sets, self.outs):
            x = Args(DTYPE_FP16, self.B, self.Hq, self.Hkv, self.L, D, S, q.data_ptr(), k.data_ptr(), v.data_ptr(),
                     k.stride(0), k.stride(1), k.stride(2), o.data_ptr(), self.work[S].data_ptr(), 0.0, variant, None,
                     merge)
            args.append((x, ctypes.byref(x)))
        lib, err = self.lib, self.err

        def call(i):
            if lib.fl_decode(args[i][1], torch.cuda.current_stream().cuda_stream, err, 256):
                raise RuntimeError(err.value.decode())
        call.args = args   # kept alive with the function
        return call

    def sdpa(self, backend):
        def call(i):
            q, k, v = self.sets[i]
            with sdpa_kernel(backend):
                return F.scaled_dot_product_attention(q, k, v, enable_gqa=self.Hq != self.Hkv)
        return call

    def check(self, fn, tol=None):
        """o of set 0's first and last sequence against fp64: {"err", "ok"}; tol = (S, variant) for ours (NaN-
        poisoned output first, decode_ref.h's tolerance), None for SDPA (reported, not judged)."""
        try:
            self.outs[0].fill_(float("nan"))
            o = fn(0)
            torch.cuda.synchronize()
            o = self.outs[0] if o is None else o
            worst, bad = 0.0, False
            for b, (ref, smag, vmax) in self.refs.items():
                got = o[b, :, 0, :].double()
                diff = (got - ref).abs()
                bad |= bool(torch.isnan(got).any())
                worst = max(worst, diff.max().item())
                if tol:
                    at, rt = ctypes.c_double(), ctypes.c_double()
                    self.lib.fl_decode_tolerance(DTYPE_FP16, D, smag, self.L, tol[0], tol[1], vmax, ctypes.byref(at),
                                                 ctypes.byref(rt))
                    bad |= bool((diff > at.value + rt.value * ref.abs()).any())
            return {"err": worst, "ok": not bad}
        except Exception as e:   # noqa: BLE001 — a backend that refuses the shape is reported as na
            torch.cuda.synchronize()
            return {"err": None, "ok": False, "why": f"{type(e).__name__}: {str(e)[:100]}"}

    def add_ours(self, configs, named, checks):
        """Check each configuration (S, variant, merge) of ours into checks; those that pass join named as (config,
        fn). Whether all passed."""
        ok = True
        for k in configs:
            fn = self.ours(*k)
            checks[k] = self.check(fn, k[:2])
            ok &= checks[k]["ok"]
            if checks[k]["ok"]:
                named.append((k, fn))
        return ok

    def free(self):
        del self.sets, self.outs, self.work
        torch.cuda.empty_cache()


def tbs(c, ms):
    return c.kv_bytes / ms / 1e9 if ms else None


def fits(lib, v, S, L):
    """Whether variant v takes S splits of L rows (the TMA variants split by whole tiles: fewer)."""
    return S <= lib.fl_decode_max_splits(v, L)


def plan(lib, B, Hq, Hkv, L, sms):
    x = Args(DTYPE_FP16, B, Hq, Hkv, L, D)
    lib.fl_decode_plan(ctypes.byref(x), sms)
    return x.splits, x.variant, x.merge if x.splits > 1 else 0   # one split: nothing to merge


def plan_rule(lib, shape, sms, rule, vnames):
    """(S, variant, merge) that a rule of a sweep's record (variants by name) gives for shape."""
    S = rule_splits(lib, shape, sms, rule)
    name = rule["variant"] if rule.get("rows_max") is None or -(-shape[3] // S) <= rule["rows_max"] \
        else rule["variant_long"]
    return S, vnames.index(name), rule["merge"] if S > 1 else 0


# The sweep's rule family: decode.h's S = floor(waves * SMs / (B * Hkv)), no split under min_rows rows; a variant;
# the merge as a second kernel (0) or fused (1).
SWEEP_WAVES = (1, 2, 3, 4, 6, 8, 12, 16)
SWEEP_MIN_ROWS = (64, 128, 256, 512)
SWEEP_VARIANTS = (0, 1, 11)                # --scope family: 64x3, 64x2, t64x3 everywhere; every variant on WEAK
FINER_VARIANTS = (0, 1, 6, 11)             # --finer: 64x3, 64x2, b64x3, t64x3
FL_DEC_MAX_SPLITS = 2048                   # decode_cuda.h
WEAK = [(1, 32, 8, 32768), (1, 32, 8, 131072), (16, 32, 8, 4096)]   # short of cuDNN on 2026-12-06


def rule_splits(lib, shape, sms, r):
    return lib.fl_decode_splits_rule(shape[0], shape[2], shape[3], sms, r["waves"], r["min_rows"])


def rule_variant(shape, S, r):
    """The variant a rule takes: one for all, or one for splits of at most rows_max rows and another beyond."""
    if r.get("rows_max") is None:
        return r["variant"]
    return r["variant"] if -(-shape[3] // S) <= r["rows_max"] else r["variant_long"]


def pick_rules(lib, meas, sms, vnames, variants=None):
    """Every rule of the families, scored on meas {shape: (bar_ms, {(S, variant, merge): {"ms"}})}: its worst ratio
    bar / ours over the shapes, then the geometric mean; best first. Family 1: decode.h's S = floor(waves*SMs/(B*Hkv))
    with splits of at least min_rows rows, one variant, one merge. Family 2: the same S, one variant for splits of at
    most rows_max rows and another for longer ones. variants: those the families draw on (default: every variant
    some shape measured)."""
    vs = variants if variants is not None else sorted({k[1] for _, res in meas.values() for k in res})
    fams = [{"waves": w, "min_rows": mr, "variant": v, "merge": m} for w in SWEEP_WAVES for mr in SWEEP_MIN_ROWS
            for v in vs for m in (0, 1)]
    fams += [{"waves": w, "min_rows": mr, "variant": v, "variant_long": v2, "rows_max": t, "merge": m}
             for w in SWEEP_WAVES for mr in SWEEP_MIN_ROWS for v in vs for v2 in vs if v2 != v
             for t in (256, 512, 1024, 2048, 4096) for m in (0, 1)]
    rules, splits = [], {}
    for r in fams:
        ratios = []
        for shape, (bar, res) in meas.items():
            key = (r["waves"], r["min_rows"], shape)
            if key not in splits:
                splits[key] = rule_splits(lib, shape, sms, r)
            S = splits[key]
            t = res.get((S, rule_variant(shape, S, r), r["merge"] if S > 1 else 0), {}).get("ms")
            ratios.append(bar / t if t else 0.0)
        gm = math.exp(sum(math.log(max(x, 1e-9)) for x in ratios) / len(ratios))
        rules.append({**r, "min": min(ratios), "geomean": gm, "ratios": ratios,
                      "variant": vnames[r["variant"]], "variant_long": vnames[r["variant_long"]]
                      if "variant_long" in r else None})
    rules.sort(key=lambda r: (-round(r["min"], 3), -r["geomean"]))
    return rules


def rules_text(rules, n=10):
    out = ["", "rules (S = floor(waves*SMs/(B*Hkv)), splits >= min_rows rows), best worst-case first; ratios in the "
           "table's row order:"]
    for r in rules[:n]:
        v = r["variant"] if r.get("rows_max") is None else \
            f"{r['variant']} (splits <= {r['rows_max']} rows) else {r['variant_long']}"
        out.append(f"  waves={r['waves']} min_rows={r['min_rows']} variant={v} merge={r['merge']}: "
                   f"min {r['min']:.3f} geomean {r['geomean']:.3f} | " + " ".join(f"{x:.3f}" for x in r["ratios"]))
    return out


def pick_from(lib, path, sms_default):
    """--pick: the rules again from a sweep's record (no GPU)."""
    rec = json.load(open(path))
    vnames, sms = rec["variants"], rec.get("sms", sms_default)
    meas = {}
    for row in rec["rows"]:
        bar = row["kv_mb"] * 1e6 / (row["bar_tbs"] * 1e9)   # ms, as tbs() inverted
        meas[(row["B"], row["Hq"], row["Hkv"], row["L"])] = (bar, {
            (c["S"], vnames.index(c["variant"]), c["merge"]): {"ms": c["ms"]} for c in row["configs"]})
    print("\n".join(rules_text(pick_rules(lib, meas, sms, vnames), 15)))
    return 0


def sweep(lib, a, sms, l2, vnames, head):
    """--scope family: every S a rule of the family gives, each of SWEEP_VARIANTS (every variant on WEAK), both merges,
    on every anchor shape; --scope plan: fl_decode_plan's S and merge with every variant. Eager, each configuration
    and SDPA's flash and cuDNN in the same interleaved rounds (contest: one procedure for all); the bar is the faster
    of SDPA's two figures. Then the rules, best worst ratio first."""
    shapes = [s[:4] for s in (ANCHORS[:4] if a.quick else ANCHORS)]
    meas, rows, ok_all = {}, [], True
    for shape in shapes:
        B, Hq, Hkv, L = shape
        cur = plan(lib, B, Hq, Hkv, L, sms)
        if a.scope == "plan":
            configs = [(cur[0], v, cur[2]) for v in range(len(vnames)) if vnames[v] not in a.exclude]
            # --finer: the same shape cut into 2x and 4x the plan's splits (fused merge), a few variants: does a
            # finer split (more, shorter pieces: a shorter tail) pay for its partials? No rule of the family
            # gives these S; they are reported, not picked.
            for f in ((2, 4) if a.finer else ()):
                S = min(cur[0] * f, max(1, L // 64), FL_DEC_MAX_SPLITS)
                configs += [(S, v, 1) for v in FINER_VARIANTS if v < len(vnames) and S > cur[0]
                            and (S, v, 1) not in configs and vnames[v] not in a.exclude]
        else:
            svals = sorted({lib.fl_decode_splits_rule(B, Hkv, L, sms, w, m) for w in SWEEP_WAVES
                            for m in SWEEP_MIN_ROWS})
            variants = [v for v in (range(len(vnames)) if shape in WEAK else SWEEP_VARIANTS)
                        if vnames[v] not in a.exclude]
            configs = [(S, v, m) for S in svals for v in variants for m in ((0, 1) if S > 1 else (0,))]
        configs = [k for k in configs if fits(lib, k[1], k[0], L)]   # the S a variant takes
        c = Case(lib, shape, l2)
        named, checks = [], {}
        for name, be in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            fn = c.sdpa(be)
            checks[name] = c.check(fn)   # a backend that refuses the shape is not timed
            if checks[name]["err"] is not None:
                named.append((name, fn))
        ok_all &= c.add_ours(configs, named, checks)
        sdpa_names = [n for n, _ in named if n in ("flash", "cudnn")]
        if not sdpa_names or len(named) == len(sdpa_names):
            print(f"  B={B} Hq={Hq} Hkv={Hkv} L={L}: no SDPA time or no passing config of ours: left out", flush=True)
            c.free()
            continue
        t = contest(named, c.n_sets, a.reps, a.rounds, graph=False)
        bar = min(t[n]["eager_ms"] for n in sdpa_names)
        res = {k: {"ms": t[k]["eager_ms"] if k in t else None, "tbs": tbs(c, t[k]["eager_ms"]) if k in t else None,
                   "err": checks[k]["err"], "ok": checks[k]["ok"], "rounds": t[k]["eager_rounds"] if k in t else []}
               for k in configs}
        meas[shape] = (bar, res)
        best = min((k for k in res if res[k]["ms"]), key=lambda k: res[k]["ms"])
        cur_ms = res.get(tuple(cur), {}).get("ms")
        sd = {n: t[n]["eager_ms"] if n in t else None for n in ("flash", "cudnn")}
        rows.append({"B": B, "Hq": Hq, "Hkv": Hkv, "L": L, "kv_mb": c.kv_bytes / 1e6, "bar_tbs": tbs(c, bar),
                     "sdpa": {n: {"tbs": [tbs(c, sd[n])] if sd[n] else [], "err": checks[n]["err"],
                                  "rounds": t[n]["eager_rounds"] if n in t else []} for n in ("flash", "cudnn")},
                     "best": {"S": best[0], "variant": vnames[best[1]], "merge": best[2], "tbs": res[best]["tbs"]},
                     "plan": {"S": cur[0], "variant": vnames[cur[1]], "merge": cur[2], "tbs": tbs(c, cur_ms)},
                     "configs": [{"S": k[0], "variant": vnames[k[1]], "merge": k[2], **r} for k, r in res.items()]})
        fmt = lambda n: f"{tbs(c, sd[n]):.2f}" if sd[n] else "na"   # noqa: E731
        print(f"  B={B:<3} Hq={Hq:<3} Hkv={Hkv:<3} L={L:<7} SDPA best {tbs(c, bar):.2f} TB/s "
              f"(flash {fmt('flash')}, cuDNN {fmt('cudnn')}) | ours best S={best[0]} "
              f"{vnames[best[1]]} {'fused' if best[2] else 'kernel'} {res[best]['tbs']:.2f} = "
              f"{bar / res[best]['ms']:.3f}x"
              f" | plan S={cur[0]} {vnames[cur[1]]} m={cur[2]} "
              f"{f'{bar / cur_ms:.3f}x' if cur_ms else 'na'} | {len(res)} configs", flush=True)
        if shape in WEAK or a.scope == "plan":   # the five fastest configurations
            for k in sorted((k for k in res if res[k]["ms"]), key=lambda k: res[k]["ms"])[:5]:
                how = "fused" if k[2] else "kernel"
                x = bar / res[k]["ms"]
                print(f"      S={k[0]:<4} {vnames[k[1]]:<6} {how:<6} {res[k]['tbs']:.3f} TB/s {x:.3f}x", flush=True)
        c.free()
    rules = pick_rules(lib, meas, sms, vnames)
    lines = [head, "", f"sweep (--scope {a.scope}): eager TB/s of K+V; every configuration and SDPA flash and cuDNN "
             f"timed in {a.rounds} interleaved rounds, order rotated each round, each figure the median over rounds "
             "of the per-round medians; bar = the faster of SDPA's two figures",
             "| B | Hq | Hkv | L | KV MB | bar | best ours (S variant merge) | best/bar | "
             "plan (S variant merge) | plan/bar |", "|" + "---|" * 10]
    for r in rows:
        b, p = r["best"], r["plan"]
        lines.append(f"| {r['B']} | {r['Hq']} | {r['Hkv']} | {r['L']} | {r['kv_mb']:.0f} | {r['bar_tbs']:.2f} | "
                     f"{b['S']} {b['variant']} {'fused' if b['merge'] else 'kernel'} {b['tbs']:.2f} | "
                     f"{b['tbs'] / r['bar_tbs']:.3f} | {p['S']} {p['variant']} {p['merge']} "
                     f"{p['tbs'] or 0:.2f} | {(p['tbs'] or 0) / r['bar_tbs']:.3f} |")
    lines += rules_text(rules)
    text = "\n".join(lines)
    print("\n" + text)
    stem = os.path.join(a.out, f"decode_sweep_{torch.cuda.get_device_properties(0).name.replace(' ', '_')}_"
                               f"{datetime.date.today().isoformat()}")
    rec = {"sms": sms, "variants": vnames, "command": " ".join(sys.argv), "rounds": a.rounds, "scope": a.scope,
           "rows": rows, "rules": rules[:40]}
    if write_whole(stem + ".md", text + "\n", "decode_bench") or \
            write_whole(stem + ".json", json.dumps(rec, indent=1) + "\n", "decode_bench"):
        return EXIT_LOST
    return 0 if ok_all else 1


def main():
    ap = Parser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--out", default=".")
    ap.add_argument("--quick", action="store_true", help="the first four shapes only")
    ap.add_argument("--sweep", action="store_true", help="time the rules' configurations and pick (eager only)")
    ap.add_argument("--scope", choices=("family", "plan"), default="family",
                    help="--sweep: every S of the rule family (family) or the plan's S with every variant (plan)")
    ap.add_argument("--reps", type=int, default=30, help="at most this many timed calls a method and round")
    ap.add_argument("--rounds", type=int, default=ROUNDS, help="interleaved timing rounds (the docstring)")
    ap.add_argument("--rule", default="", help="a sweep's .json: time its best rule as ours instead of the plan")
    ap.add_argument("--variants", default="plan",
                    help="bench: time the plan's variant (plan), or also every variant (all) or the named ones "
                         "(comma-separated) at the plan's S")
    ap.add_argument("--finer", action="store_true", help="--scope plan: also 2x and 4x the plan's splits")
    ap.add_argument("--exclude", default="", help="--sweep: variants not to time, by name, comma-separated")
    ap.add_argument("--pick", default="", help="a sweep's .json: score the rules again (no GPU)")
    a = ap.parse_args()
    if a.rounds < 1 or a.reps < 1:
        print(f"decode_bench: error: --rounds {a.rounds} and --reps {a.reps} must be >= 1", file=sys.stderr)
        return 2
    lib = load(a.lib)
    if a.pick:
        return pick_from(lib, a.pick, 132)
    nvar = lib.fl_decode_nvariants()
    vnames = [lib.fl_decode_variant_name(i).decode() for i in range(nvar)]
    a.exclude = [x for x in a.exclude.split(",") if x]
    also = [x for x in a.variants.split(",") if x]
    if a.variants not in ("plan", "all") and (not also or any(x not in vnames for x in also)):
        print(f"decode_bench: error: --variants {a.variants!r}: plan, all, or names of {', '.join(vnames)}",
              file=sys.stderr)
        return 2
    if any(x not in vnames for x in a.exclude) or len(a.exclude) == len(vnames):
        print(f"decode_bench: error: --exclude {','.join(a.exclude)!r}: names of some (not all) of "
              f"{', '.join(vnames)}", file=sys.stderr)
        return 2
    if torch is None or not torch.cuda.is_available():
        print("decode_bench: error: timing needs PyTorch and a CUDA device (only --pick runs without them)",
              file=sys.stderr)
        return 2
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    prop = torch.cuda.get_device_properties(0)
    sms, l2 = prop.multi_processor_count, getattr(prop, "L2_cache_size", 50 * 2 ** 20)
    date = datetime.date.today().isoformat()
    rule = None
    if a.rule:
        rule = json.load(open(a.rule))["rules"][0]
        if rule["variant"] not in vnames or rule.get("variant_long") not in vnames + [None]:
            print(f"decode_bench: error: {a.rule!r}: its best rule names a variant this library lacks", file=sys.stderr)
            return 2
    copy_bw, read_bw = ceilings()
    who = "fl_decode_plan" if rule is None else \
        (f"the best rule of {os.path.basename(a.rule)}: waves={rule['waves']} min_rows={rule['min_rows']} "
         f"variant={rule['variant']}" + (f" (splits <= {rule['rows_max']} rows) else {rule['variant_long']}"
                                         if rule.get("rows_max") is not None else "") + f" merge={rule['merge']}")
    head = (f"decode_bench on {prop.name} ({sms} SMs, L2 {l2 / 2 ** 20:.0f} MiB), torch {torch.__version__}, {date}\n"
            f"device copy {copy_bw:.2f} TB/s (read + write), read-only sum {read_bw:.2f} TB/s; d = {D}, fp16; "
            f"ours = {who} (S, variant = rows per tile x tiles in flight, merge), SMs {sms}\n"
            f"timing: {a.rounds} interleaved rounds, the methods' order rotated each round, every method the same "
            f"{WARMUP} warm-up and the same number of calls (at most {a.reps}) a round; a figure = the median over "
            f"rounds of the per-round medians (ours and SDPA's alike); bar = the faster of SDPA flash and cuDNN")
    print(head, flush=True)
    if a.sweep:
        return sweep(lib, a, sms, l2, vnames, head)
    rows, ok_all = [], True
    shapes = ANCHORS[:4] if a.quick else ANCHORS
    for (B, Hq, Hkv, L, a_fl, a_cu) in shapes:
        S, v0, merge = plan(lib, B, Hq, Hkv, L, sms) if rule is None else \
            plan_rule(lib, (B, Hq, Hkv, L), sms, rule, vnames)
        c = Case(lib, (B, Hq, Hkv, L), l2)
        mine = [v0] + [i for i in range(len(vnames)) if i != v0 and fits(lib, i, S, L) and
                       (a.variants == "all" or vnames[i] in also)]
        methods = [(f"ours_{vnames[i]}", c.ours(S, i, merge), (S, i)) for i in mine] + \
                  [("flash", c.sdpa(SDPBackend.FLASH_ATTENTION), None),
                   ("cudnn", c.sdpa(SDPBackend.CUDNN_ATTENTION), None)]
        res = {name: c.check(fn, tol) for name, fn, tol in methods}
        timed = [(name, fn) for name, fn, _ in methods if res[name]["err"] is not None]
        t = contest(timed, c.n_sets, a.reps, a.rounds, graph=True) if timed else {}
        for name, _, _ in methods:
            r = res[name]
            r.update(t.get(name, {"eager_ms": None, "graph_ms": None, "eager_rounds": [], "graph_rounds": []}))
            for key in ("eager", "graph"):
                r[key + "_tbs"] = tbs(c, r.get(key + "_ms"))
        checks = all(res[f"ours_{vnames[i]}"]["ok"] for i in mine)
        ok_all &= checks
        rows.append({"B": B, "Hq": Hq, "Hkv": Hkv, "L": L, "S": S, "variant": vnames[v0], "merge": merge,
                     "kv_mb": c.kv_bytes / 1e6, "sets": c.n_sets, "anchor_flash": a_fl, "anchor_cudnn": a_cu,
                     "checks_pass": checks, "res": res})
        print(f"  B={B:<3} Hq={Hq:<3} Hkv={Hkv:<3} L={L:<7} S={S:<3} " +
              " ".join(f"{n}={(res[n]['eager_tbs'] or 0):.2f}/{(res[n]['graph_tbs'] or 0):.2f}" for n, _, _ in methods)
              + f" checks={'ok' if checks else 'FAIL'}", flush=True)
        c.free()

    def tb(r, n, key):
        x = r["res"][n].get(key + "_tbs")
        return f"{x:.2f}" if x else "na"

    lines = [head, "", "TB/s of K+V read (eager: events between back-to-back calls, as the anchors; graph: CUDA-graph "
             "replay); won: rounds in which ours' per-round median beat the faster SDPA backend's of that round",
             "| B | Hq | Hkv | L | KV MB | S | ours | flash | cuDNN | ours | ours/best | won | graph: flash | "
             "cuDNN | ours | ours/best | won | best variant (eager) | max err ours | checks |",
             "|" + "---|" * 20]
    worst = {"eager": None, "graph": None}
    for r in rows:
        v0 = f"ours_{r['variant']}"
        how = "-" if r["S"] == 1 else "fused" if r["merge"] else "kernel"
        row = [str(r[x]) for x in ("B", "Hq", "Hkv", "L")] + [f"{r['kv_mb']:.0f}", str(r["S"]), f"{r['variant']} {how}"]
        for key in ("eager", "graph"):
            best = max([r["res"][n].get(key + "_tbs") or 0 for n in ("flash", "cudnn")])
            mine = r["res"][v0].get(key + "_tbs") or 0
            won, n = rounds_won(r["res"][v0], [r["res"][x] for x in ("flash", "cudnn")], key)
            x = mine / best if best and mine else None
            if x is not None:
                worst[key] = x if worst[key] is None else min(worst[key], x)
            row += [tb(r, "flash", key), tb(r, "cudnn", key), tb(r, v0, key), f"{x:.3f}x" if x else "na",
                    f"{won}/{n}" if n else "na"]
        ours = [n for n in r["res"] if n.startswith("ours_")]
        bv = max(ours, key=lambda n: r["res"][n].get("eager_tbs") or 0)
        row += [f"{bv[5:]} {tb(r, bv, 'eager')}", f"{r['res'][v0]['err']:.2g}" if r["res"][v0]["err"] is not
                None else "na", "pass" if r["checks_pass"] else "FAIL"]
        lines.append("| " + " | ".join(row) + " |")
    fx = lambda x: f"{x:.3f}x" if x is not None else "na"   # noqa: E731
    lines.append(f"\nsummary: shapes={len(rows)} min_eager={fx(worst['eager'])} min_graph={fx(worst['graph'])} "
                 f"checks={'pass' if ok_all else 'FAIL'} rounds={a.rounds}")
    table = "\n".join(lines)
    print("\n" + table)
    stem = os.path.join(a.out, f"decode_bench_{prop.name.replace(' ', '_')}_{date}")
    rec = {"device": prop.name, "sms": sms, "date": date, "torch": torch.__version__, "copy_tbs": copy_bw,
           "read_tbs": read_bw, "variants": vnames, "rounds": a.rounds, "rule": rule,
           "command": " ".join(sys.argv), "rows": rows}
    if write_whole(stem + ".md", table + "\n", "decode_bench") or \
            write_whole(stem + ".json", json.dumps(rec, indent=1) + "\n", "decode_bench"):
        return EXIT_LOST
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(run_main(main, "decode_bench"))
