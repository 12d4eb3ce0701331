#!/usr/bin/env python3
"""tc_bwd_bench.py — the tensor-core FlashAttention-2 backward against PyTorch's SDPA backwards: one process, one
timer.

Run by `make bench-gpu-bwd` after bwd_check has passed. The kernels come in through ctypes (libflashlab_tc_bwd.so:
the forward "final" makes O and L, then each backward configuration) and get the same torch tensors and the same
CUDA events as SDPA's flash, cuDNN and efficient backwards (autograd.grad of a saved forward: the backward alone).

  python3 cuda/tools/tc_bwd_bench.py --lib build/rel/cuda/libflashlab_tc_bwd.so --outdir docs/gpu-runs [--quick]

Shapes as in ../shared/anchors: d in (64, 128), N in 512..16384, B = 16384/N, H = 2048/d, causal and not, fp16.
TFLOP/s = 2.5 * 4 B H N^2 d (halved when causal) / median time. Each timed call uses the next of ROT input sets.
Checks, per case, on two heads of set 0 (Tri Dao's criterion, as the project applies it everywhere: verify.h's
ORACLE_TRIDAO_FACTOR): each of our dQ, dK, dV may err against an fp32 reference of the same inputs at most 2x as much
as PyTorch's own fp16 backward (SDPA flash) does; every element written (outputs poisoned with NaN first).
Writes tc_bwd_bench_<device>_<date>.txt (the table) and .json (the record) to --outdir, each whole or not at all.
Exit status: 0; 1 when a check failed; 2 for bad arguments; 3 when a table or the report cannot be written.
"""
import ctypes
import datetime
import math
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import sdpa_kernel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_bench import (BACKENDS, ROT, fwd_flops, load_forward_lib, run_stem, time_ms,  # noqa: E402
                       version_names, write_record)
from report_out import EXIT_LOST, Parser, run_main, write_whole  # noqa: E402  a lost table or report: exit 3, one line

DTYPE_FP16 = 1       # dtype.h: DTYPE_FP32, DTYPE_FP16, DTYPE_BF16
TRIDAO = 2.0         # verify.h: ORACLE_TRIDAO_FACTOR
FORWARD = "final"    # the forward kernel whose O and L the backward consumes


def load_lib(path):
    """The forward's library (gpu_bench: tc_forward, tc_version_name), plus the backward's entries (bwd.h)."""
    lib = load_forward_lib(path, "tc")
    ptr, ll, i32 = ctypes.c_void_p, ctypes.c_longlong, ctypes.c_int
    for name, args, res in (("tc_bwd_config_name", [i32], ctypes.c_char_p),
                            ("tc_bwd", [i32] + [ptr] * 11 + [ll] * 4 + [ctypes.c_float, i32, i32, ptr], i32)):
        getattr(lib, name).argtypes, getattr(lib, name).restype = args, res
    return lib


def na(x, fmt=".0f"):
    """A measured number, or na where there is none (a backend that did not run): never nan."""
    return "na" if x is None else format(x, fmt)


def ref_grads(q, k, v, do, causal):
    """fp32 gradients of sum(O * dO) for one head (N x d tensors), materialized."""
    q, k, v = (x.float().detach().requires_grad_() for x in (q, k, v))
    s = (q @ k.T) / math.sqrt(q.shape[-1])
    if causal:
        n = s.shape[0]
        s = s.masked_fill(~torch.ones(n, n, device=s.device, dtype=torch.bool).tril(), float("-inf"))
    o = torch.softmax(s, -1) @ v
    return torch.autograd.grad(o, (q, k, v), do.float())


def main():
    ap = Parser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--outdir", default="docs/gpu-runs")
    ap.add_argument("--cmd", default="python3 cuda/tools/tc_bwd_bench.py")
    ap.add_argument("--quick", action="store_true", help="N >= 4096 only")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--configs", default="", help="comma-separated rows of cuda/tc/bwd.def to time (default: all)")
    args = ap.parse_args()

    lib = load_lib(args.lib)
    fwd = version_names(lib, "tc").index(FORWARD)
    names = []
    while lib.tc_bwd_config_name(len(names)):
        names.append(lib.tc_bwd_config_name(len(names)).decode())
    cfgs = [n for n in names if not args.configs or n in args.configs.split(",")]
    unknown = [n for n in args.configs.split(",") if n and n not in names]
    if unknown or not cfgs:
        print(f"tc_bwd_bench: unknown configuration(s) {unknown} (bwd.def has {names})", file=sys.stderr)
        return 2
    idx = {n: names.index(n) for n in cfgs}   # the library's index of each timed configuration
    prop = torch.cuda.get_device_properties(0)
    now = datetime.datetime.now(datetime.timezone.utc)
    head = {"device": prop.name, "sms": prop.multi_processor_count, "torch": torch.__version__,
            "cuda": torch.version.cuda, "date": now.strftime("%Y-%m-%d %H:%M UTC"), "command": args.cmd,
            "rot": ROT, "reps": args.reps}
    print(f"# {prop.name}, {prop.multi_processor_count} SMs, torch {torch.__version__}, {head['date']}", flush=True)
    Ns = [4096, 8192, 16384] if args.quick else [512, 1024, 2048, 4096, 8192, 16384]
    rows = []
    for d in (64, 128):
        H = 2048 // d
        for N in Ns:
            B = 16384 // N
            shape = (B, N, H, d)
            sets = [[torch.randn(*shape, device="cuda", dtype=torch.float16) for _ in range(4)] for _ in range(ROT)]
            dq, dk, dv = (torch.empty(*shape, device="cuda", dtype=torch.float16) for _ in range(3))
            acc = torch.empty(*shape, device="cuda", dtype=torch.float32)
            delta = torch.empty(B, H, N, device="cuda", dtype=torch.float32)
            for causal in (False, True):
                flops = 2.5 * fwd_flops(B, H, N, d, causal)   # the backward: 2.5 x the forward's
                row = {"d": d, "N": N, "B": B, "H": H, "causal": causal}
                # O and L of every set from our forward
                fw = []
                for (q, k, v, _) in sets:
                    o = torch.empty(*shape, device="cuda", dtype=torch.float16)
                    lse = torch.empty(B, H, N, device="cuda", dtype=torch.float32)
                    if lib.tc_forward(fwd, q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr(), lse.data_ptr(),
                                      B, N, H, d, 0.0, int(causal), DTYPE_FP16, None):
                        raise RuntimeError("forward failed")
                    fw.append((o, lse))

                def ours(c):
                    def f(i):
                        q, k, v, do = sets[i % ROT]
                        o, lse = fw[i % ROT]
                        if lib.tc_bwd(idx[cfgs[c]], q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr(), do.data_ptr(),
                                      lse.data_ptr(), dq.data_ptr(), dk.data_ptr(), dv.data_ptr(), acc.data_ptr(),
                                      delta.data_ptr(), B, N, H, d, 0.0, int(causal), DTYPE_FP16, None):
                            raise RuntimeError(f"{cfgs[c]} failed")
                    return f

                def sdpa_graphs(backend):
                    """A saved forward per set: the timed call is the backward alone."""
                    graphs = []
                    for (q, k, v, do) in sets:
                        qq, kk, vv = (x.detach().transpose(1, 2).requires_grad_() for x in (q, k, v))
                        with sdpa_kernel(backends=[BACKENDS[backend]]):
                            out = F.scaled_dot_product_attention(qq, kk, vv, is_causal=causal)
                        graphs.append((out, (qq, kk, vv), do.transpose(1, 2)))
                    return graphs

                def sdpa(graphs):
                    def f(i):
                        out, ins, g = graphs[i % ROT]
                        torch.autograd.grad(out, ins, g, retain_graph=True)
                    return f

                # checks on two heads of set 0
                q, k, v, do = sets[0]
                heads = [(0, 0), (B - 1, H - 1)]
                ref = {x: ref_grads(q[x[0], :, x[1]], k[x[0], :, x[1]], v[x[0], :, x[1]], do[x[0], :, x[1]], causal)
                       for x in heads}
                fl = sdpa_graphs("flash")[0]
                g_flash = [g.transpose(1, 2) for g in torch.autograd.grad(fl[0], fl[1], fl[2])]
                del fl
                torch_err = [max((g_flash[n][b, :, h].float() - ref[(b, h)][n]).abs().max().item() for (b, h) in heads)
                             for n in range(3)]
                row["torch_err"] = torch_err
                checks = {}
                for c in range(len(cfgs)):
                    for t in (dq, dk, dv):
                        t.fill_(float("nan"))
                    ours(c)(0)
                    torch.cuda.synchronize()
                    err = [max((t[b, :, h].float() - ref[(b, h)][n]).abs().max().item() for (b, h) in heads)
                           for n, t in enumerate((dq, dk, dv))]
                    unwritten = sum(int(torch.isnan(t).sum().item()) for t in (dq, dk, dv))
                    ok = unwritten == 0 and all(e <= TRIDAO * te for e, te in zip(err, torch_err))
                    checks[cfgs[c]] = {"err": err, "unwritten": unwritten, "ok": ok}
                del ref, g_flash
                row["checks"] = checks

                for c in range(len(cfgs)):
                    row[cfgs[c]] = flops / time_ms(ours(c), 3, args.reps) / 1e9
                for label in ("flash", "cudnn", "efficient"):
                    try:
                        graphs = sdpa_graphs(label)
                        row[label] = flops / time_ms(sdpa(graphs), 3, args.reps) / 1e9
                        del graphs
                    except RuntimeError as e:
                        row[label] = None
                        print(f"# {label} unavailable at d={d} N={N}: {str(e).splitlines()[0]}", flush=True)
                best = max(cfgs, key=lambda n: row[n])
                # the spread: our best and flash again, alternating
                again = []
                flash_graphs = sdpa_graphs("flash")
                for _ in range(2):
                    again.append(flops / time_ms(ours(cfgs.index(best)), 1, args.reps) / 1e9)
                    again.append(flops / time_ms(sdpa(flash_graphs), 1, args.reps) / 1e9)
                del flash_graphs, fw
                row["best"], row["again_best"], row["again_flash"] = best, again[0::2], again[1::2]
                rows.append(row)
                bad = [n for n, c in checks.items() if not c["ok"]]
                errs = " ".join(f"{n}=" + "/".join(f"{e:.1e}" for e in c["err"]) for n, c in checks.items())
                ratio = f"{row[best] / row['flash']:.3f}x" if row["flash"] else "na"
                print(f"d={d:3d} N={N:5d} B={B:2d} H={H:2d} {'causal' if causal else 'full  '} | " +
                      " ".join(f"{n}={row[n]:.0f}" for n in cfgs) +
                      f" | flash={na(row['flash'])} cudnn={na(row['cudnn'])} "
                      f"efficient={na(row['efficient'])} | {best} {ratio} flash "
                      f"(again {again[0]:.0f}/{again[2]:.0f} vs {again[1]:.0f}/{again[3]:.0f}) | err dQ/dK/dV {errs} "
                      f"torch {'/'.join(f'{e:.1e}' for e in torch_err)} | "
                      f"checks {'OK' if not bad else 'FAIL ' + ','.join(bad)}",
                      flush=True)
            del sets, dq, dk, dv, acc, delta
            torch.cuda.empty_cache()

    stem = run_stem("tc_bwd_bench", prop, now)
    if not write_record(args.outdir, stem, {"meta": head, "configs": cfgs, "rows": rows}, "tc_bwd_bench"):
        return EXIT_LOST
    cols = cfgs + ["flash", "cudnn", "efficient"]
    fails = sum(not c["ok"] for r in rows for c in r["checks"].values())
    table = [f"# {head['device']}, {head['date']}, torch {head['torch']}, command: {head['command']}",
             f"# backward TFLOP/s = 2.5 * 4 B H N^2 d (/2 causal) / median of {args.reps} calls (CUDA events), {ROT} "
             "input sets rotated; fp16; hidden 2048 (H = 2048/d), B = 16384/N; checks: dQ, dK, dV error <= 2x "
             "PyTorch's fp16 backward's, vs fp32",
             "d N B H causal " + " ".join(cols) + " best ratio_best_flash checks"]
    for r in rows:
        cells = [r["d"], r["N"], r["B"], r["H"], int(r["causal"])] + \
                [na(r.get(c), ".1f") for c in cols] + \
                [r["best"], f"{r[r['best']] / r['flash']:.3f}" if r["flash"] else "na",
                 "OK" if all(c["ok"] for c in r["checks"].values()) else "FAIL"]
        table.append(" ".join(str(x) for x in cells))
    path = os.path.join(args.outdir, stem + ".txt")
    if write_whole(path, "\n".join(table) + "\n", "tc_bwd_bench"):
        return EXIT_LOST
    print(f"tc_bwd_bench: {len(rows)} cases, {fails} failed checks; table in {path}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(run_main(main, "tc_bwd_bench"))
