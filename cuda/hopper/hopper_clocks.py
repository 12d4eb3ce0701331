#!/usr/bin/env python3
"""hopper_clocks.py — the same calls timed two ways, with the SM clock and the board power read beside them: is a
version slower than cuDNN in the benchmark because of its schedule (cycles), or because of how it runs back to back
(clock, power, gaps between launches)?

    python3 cuda/hopper/hopper_clocks.py build/rel/libflashlab_hopper.so --versions v21_pin,v19_wide --d 128 \\
        --n 8192 [--causal] [--out FILE]

For each method (the versions, then SDPA's cudnn and flash), in --rounds rounds with the order rotated:
  back to back  --reps calls queued with no sync between them, one CUDA-event interval each (as hopper_bench.py);
  settled       the same, after --settle seconds of the method's own calls, untimed: the method in its own steady
                state of clock and power, whatever ran before it;
  spaced        --spaced calls, each after a synchronize and a 30 ms pause, so each starts on an idle GPU.
Meanwhile `nvidia-smi -lms 10` samples the SM clock, the power draw and the active clock-event reasons; each method's
figures are the samples that fall inside its back-to-back windows (and, apart, inside its settled ones). Mcycles =
ms x MHz / 1000: the call's length in SM cycles, the unit Nsight Compute's "Elapsed Cycles" counts, so a kernel's
schedule can be compared at equal clocks.
Prints one line per method and writes them to --out (exit 3, one line, if either cannot be written).
B = 16384 / N, H = 2048 // d, fp16.
"""
import datetime
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import gpu_bench  # noqa: E402  (cuda/tools: the drivers' shared timer, library signatures, SDPA)
from report_out import EXIT_LOST, Parser, run_main, write_whole  # noqa: E402  (a lost output: exit 3, one line)
import torch  # noqa: E402

QUERIES = ("timestamp,clocks.sm,power.draw,clocks_event_reasons.active", "timestamp,clocks.sm,power.draw")
PAUSE_S = 0.03   # between spaced calls: long enough for the GPU to go idle, short enough to keep the run brief


def sampler():
    """nvidia-smi sampling every 10 ms into a pipe; None where it cannot start (then the clock columns read na)."""
    for query in QUERIES:   # an older driver names the reasons field otherwise: then without it
        try:
            p = subprocess.Popen(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits", "-lms", "10"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        except OSError:
            return None
        time.sleep(0.3)
        if p.poll() is None:
            return p
    return None


def samples(p):
    """(unix time, MHz, W, reasons) per line the sampler wrote; it is stopped first."""
    if p is None:
        return []
    p.terminate()
    out, _ = p.communicate(timeout=10)
    rows = []
    for line in out.splitlines():
        f = [x.strip() for x in line.split(",")]
        try:
            t = datetime.datetime.strptime(f[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()
            rows.append((t, float(f[1]), float(f[2]), f[3] if len(f) > 3 else "na"))
        except (ValueError, IndexError):
            continue
    return rows


def main():
    ap = Parser()
    ap.add_argument("lib")
    ap.add_argument("--versions", required=True)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--n", type=int, default=8192)
    ap.add_argument("--causal", action="store_true")
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--spaced", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    if a.reps < 1 or a.spaced < 1 or a.rounds < 1 or not 0 <= a.settle <= 60:
        print("hopper_clocks: --reps, --spaced and --rounds must be at least 1, --settle 0 to 60 s", file=sys.stderr)
        return 2
    lib = gpu_bench.load_forward_lib(a.lib, "hp", counters=True)
    names = gpu_bench.version_names(lib, "hp")
    versions = [v for v in a.versions.split(",") if v]
    bad = [v for v in versions if v not in names]
    if bad:
        print(f"hopper_clocks: unknown version {bad[0]!r}", file=sys.stderr)
        return 2
    B, H, sets, out, lse = gpu_bench.bench_case(a.d, a.n)
    flops = gpu_bench.fwd_flops(B, H, a.n, a.d, a.causal)

    def ours(v):
        idx = names.index(v)

        def call(i):
            q, k, vv = sets[i % gpu_bench.ROT]
            if lib.hp_forward(idx, q.data_ptr(), k.data_ptr(), vv.data_ptr(), out.data_ptr(), lse.data_ptr(), B,
                              a.n, H, a.d, 0.0, int(a.causal), 1, None, None):
                raise RuntimeError(f"{v} failed")
        return call

    fns = {v: ours(v) for v in versions}
    for be in ("cudnn", "flash"):
        fns[be] = (lambda i, be=be: gpu_bench.sdpa(be, *sets[i % gpu_bench.ROT], a.causal))
    for f in fns.values():   # warm-up: every method once, modules loaded, clocks up
        for i in range(3):
            f(i)
    torch.cuda.synchronize()

    smi = sampler()
    b2b, settled, spaced, windows, swindows = ({n: [] for n in fns} for _ in range(5))
    order = list(fns)
    for r in range(a.rounds):
        k = r % len(order)
        for n in order[k:] + order[:k]:
            torch.cuda.synchronize()
            t0 = time.time()
            b2b[n].append(gpu_bench.time_ms(fns[n], 2, a.reps))
            windows[n].append((t0, time.time()))
            gpu_bench.settle(fns[n], a.settle)
            t0 = time.time()
            settled[n].append(gpu_bench.time_ms(fns[n], 0, a.reps))
            swindows[n].append((t0, time.time()))
            for i in range(a.spaced):
                torch.cuda.synchronize()
                time.sleep(PAUSE_S)
                e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                e0.record()
                fns[n](i)
                e1.record()
                e1.synchronize()
                spaced[n].append(e0.elapsed_time(e1))
    rows = samples(smi)

    lines = [f"# {torch.cuda.get_device_name()} {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
             f"d={a.d} N={a.n} B={B} H={H} {'causal' if a.causal else 'full'} fp16; back to back: median of "
             f"{a.rounds} rounds of the median of {a.reps} calls; spaced: median of {a.rounds * a.spaced} calls, each "
             f"after a sync and {PAUSE_S * 1000:.0f} ms idle; clock and power: nvidia-smi samples inside the "
             f"back-to-back windows ({len(rows)} samples in all{'' if rows else ': none, na'})",
             "method b2b_ms b2b_TFLOPs spaced_ms spaced_TFLOPs sm_MHz power_W Mcycles_b2b reasons "
             f"settled_ms settled_TFLOPs settled_MHz settled_W Mcycles_settled (after {a.settle:g} s of its own calls)"]

    def inside(wins):   # (MHz, W, reasons) of the samples inside the windows, na where none
        got = [s for s in rows if any(t0 <= s[0] <= t1 for t0, t1 in wins)]
        if not got:
            return None, None, "na"
        return (statistics.median(s[1] for s in got), statistics.median(s[2] for s in got),
                ",".join(sorted({s[3] for s in got})))

    def na(x, fmt):
        return "na" if x is None else fmt.format(x)

    for n in fns:
        ms, sp, st = statistics.median(b2b[n]), statistics.median(spaced[n]), statistics.median(settled[n])
        mhz, watt, reasons = inside(windows[n])
        smhz, swatt, _ = inside(swindows[n])
        lines.append(f"{n} {ms:.3f} {flops / ms / 1e9:.0f} {sp:.3f} {flops / sp / 1e9:.0f} "
                     f"{na(mhz, '{:.0f}')} {na(watt, '{:.0f}')} {na(mhz and ms * mhz / 1000, '{:.3f}')} {reasons} "
                     f"{st:.3f} {flops / st / 1e9:.0f} {na(smhz, '{:.0f}')} {na(swatt, '{:.0f}')} "
                     f"{na(smhz and st * smhz / 1000, '{:.3f}')}")
    print("\n".join(lines), flush=True)
    if a.out and write_whole(a.out, "\n".join(lines) + "\n", "hopper_clocks"):
        return EXIT_LOST
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, "hopper_clocks"))
