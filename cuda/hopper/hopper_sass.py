#!/usr/bin/env python3
"""hopper_sass.py — where ptxas put the waits: the order of the wgmma products, their waits and the softmax's
exponentials in the key-block loop of each producer/consumer kernel (hopper_ws.cuh), read from the SASS.

    python3 cuda/hopper/hopper_sass.py [--require-overlap] [--calibration CAL.cubin] FILE.cubin ...
    python3 cuda/hopper/hopper_sass.py --sass-text cuobjdump.txt     (the same report from cuobjdump -sass)

Why: the intra-warpgroup overlap (OVERLAP) is written as "issue S(j) and P(j-1) V(j-1), wgmma.wait_group 1,
softmax of S(j), wgmma.wait_group 0". The PTX keeps that order, but ptxas may move the second wait
(WARPGROUP.DEPBAR 0 in SASS) above the softmax, and then P V is waited for before the softmax starts. It does so
without a warning; only the SASS shows it.

No disassembler is needed (the CPU machines have nvcc and ptxas, not nvdisasm or cuobjdump): the cubin's ELF
sections are split into 16-byte instructions and the few opcodes this report needs are read from their low 12 bits
(HGMMA 0x9f0 with A from shared memory, 0xdf0 with A from registers; WARPGROUP.ARRIVE / DEPBAR 0x9c5, bit 47 set
for DEPBAR, its group count in bits 72-79; MUFU 0x308, function in bits 74-77, EX2 = 2; BRA 0x947, its offset in
4-byte units in bits 16-23 and 34-63; named barrier 0xb1d / 0x51d; mbarrier arrive 0x9a7, try-wait 0x5a7). These
encodings were read off small kernels compiled by the same ptxas (nvcc 13.0): hopper_sass_cal.cu is such a kernel,
and --calibration checks the decoder against it first (exit 4 if a ptxas with other encodings is in use).
On a GPU machine, --sass-text reads cuobjdump's disassembly instead, so the two readings can be compared.

Per kernel: the key-block loop (the shortest backward branch whose body holds both products and MUFU.EX2), its
events in order with instruction indices (address / 16), and how many of the loop's MUFU.EX2 lie after the turn's
last HGMMA and before its first WARPGROUP.DEPBAR 0, i.e. run while P V is in flight.
--require-overlap: exit 1 unless, in every kernel with PIN set (template argument 14), all of them do.
Exit status: 0 fine, 1 a required overlap missing, 2 bad input, 3 the report could not be written, 4 the decoder
does not match this ptxas.
"""
import argparse
import os
import re
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from report_out import Parser, run_main  # noqa: E402  (cuda/tools: a lost report exits 3, one line)

EXIT_OK, EXIT_CHECK, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 4   # and report_out's EXIT_LOST, 3
ARGS = ("d", "T", "causal", "Bc", "NWG", "stages", "pingpong", "overlap", "persist", "lean", "poly16", "kahead",
        "split", "pin", "reread")


class BadInput(Exception):
    pass


# ---- the cubin ---------------------------------------------------------------------------------------------------
def cubin_sections(path):
    """(kernel name, code bytes) for every .text.<name> section of an ELF64 cubin."""
    try:
        b = open(path, "rb").read()
    except OSError as e:
        raise BadInput(f"cannot read {path!r}: {e.strerror}")
    if len(b) < 64 or b[:4] != b"\x7fELF" or b[4] != 2:
        raise BadInput(f"{path!r} is not an ELF64 file (a cubin: nvcc -cubin)")
    try:
        shoff, = struct.unpack_from("<Q", b, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", b, 0x3A)
        hdrs = [struct.unpack_from("<IIQQQQIIQQ", b, shoff + i * shentsize) for i in range(shnum)]
        stro = hdrs[shstrndx][4]
        out = []
        for h in hdrs:
            end = b.index(b"\0", stro + h[0])
            name = b[stro + h[0]:end].decode("ascii", "replace")
            if name.startswith(".text."):
                code = b[h[4]:h[4] + h[5]]
                if len(code) % 16:
                    raise BadInput(f"{path!r}: section {name!r} is not a whole number of 16-byte instructions")
                out.append((name[6:], code))
        return out
    except (struct.error, ValueError, IndexError):
        raise BadInput(f"{path!r}: malformed ELF section table")


def decode(lo, hi):
    """Mnemonic (only those the report needs; others 'op%03x') and, for BRA, the raw offset."""
    op = lo & 0xfff
    if op == 0x9f0:
        return "HGMMA.ss"
    if op == 0xdf0:
        return "HGMMA.rs"
    if op == 0x9c5:
        return f"DEPBAR {(hi >> 8) & 0xff}" if (lo >> 47) & 1 else "ARRIVE"
    if op == 0x308:
        return "EX2" if (hi >> 10) & 0xf == 2 else "MUFU"
    if op == 0x947:
        return "BRA"
    if op in (0xb1d, 0x51d):
        return "BAR"
    if op == 0x9a7:
        return "MBAR.ARRIVE"
    if op == 0x5a7:
        return "MBAR.WAIT"
    return f"op{op:03x}"


def branch_target(i, lo):
    hiw = lo >> 32
    hiw -= (1 << 32) if hiw >> 31 else 0
    return i + 1 + ((lo >> 16 & 0xff) + ((hiw >> 2) << 8)) // 4


def cubin_kernels(path):
    """(name, [mnemonic], {branch index: target index}) per kernel of a cubin."""
    out = []
    for name, code in cubin_sections(path):
        ops, br = [], {}
        for i in range(len(code) // 16):
            lo, hi = struct.unpack_from("<QQ", code, 16 * i)
            ops.append(decode(lo, hi))
            if ops[-1] == "BRA":
                br[i] = branch_target(i, lo)
        out.append((name, ops, br))
    return out


# ---- cuobjdump -sass text ------------------------------------------------------------------------------------------
def text_kernels(path):
    """The same from cuobjdump -sass (or nvdisasm) text: instruction index = address / 16."""
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError as e:
        raise BadInput(f"cannot read {path!r}: {e.strerror}")
    out, name, ops, br, labels, pend = [], None, [], {}, {}, []

    def close():
        if name is not None:
            for i, lab in pend:
                if lab in labels:
                    br[i] = labels[lab]
            out.append((name, ops, br))

    for line in lines:
        m = re.match(r"\s*Function\s*:\s*(\S+)", line)
        if m:
            close()
            name, ops, br, labels, pend = m.group(1), [], {}, {}, []
            continue
        m = re.match(r"\s*(\.L_\w+):", line)
        if m and name is not None:
            labels[m.group(1)] = len(ops)
            continue
        m = re.match(r"\s*/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)(.*?);", line)
        if not m or name is None:
            continue
        idx, mn, rest = int(m.group(1), 16) // 16, m.group(2), m.group(3)
        while len(ops) < idx:
            ops.append("op???")
        if mn.startswith("HGMMA"):
            # A from registers: the first source operand is a register (R..), from shared memory a descriptor
            srcs = rest.split(",")
            op = "HGMMA.rs" if len(srcs) > 1 and re.match(r"\s*R\d+", srcs[1]) else "HGMMA.ss"
        elif mn.startswith("WARPGROUP.DEPBAR"):
            n = re.search(r"0x([0-9a-f]+)\s*$", rest.strip())
            op = f"DEPBAR {int(n.group(1), 16) if n else -1}"
        elif mn.startswith("WARPGROUP.ARRIVE"):
            op = "ARRIVE"
        elif mn == "MUFU.EX2":
            op = "EX2"
        elif mn.startswith("MUFU"):
            op = "MUFU"
        elif mn == "BRA" or mn.startswith("BRA."):
            op = "BRA"
            t = re.search(r"\(?(\.L_\w+)\)?", rest)
            a = re.search(r"0x([0-9a-f]+)", rest)
            if t:
                pend.append((idx, t.group(1)))
            elif a:
                br[idx] = int(a.group(1), 16) // 16
        elif mn.startswith("BAR.SYNC") or mn.startswith("BAR.ARV") or mn == "BAR":
            op = "BAR"
        elif mn.startswith("SYNCS.ARRIVE"):
            op = "MBAR.ARRIVE"
        elif mn.startswith("SYNCS.PHASECHK"):
            op = "MBAR.WAIT"
        else:
            op = mn
        ops.append(op)
    close()
    if not out:
        raise BadInput(f"{path!r}: no 'Function :' in it (cuobjdump -sass output expected)")
    return out


# ---- the report ------------------------------------------------------------------------------------------------------
def template_args(name):
    """hp_ws::kernel's template arguments from its mangled name, or None for another kernel."""
    k = name.find("hp_ws6kernelI")
    if k < 0:
        return None
    s, i, vals = name, k + len("hp_ws6kernelI"), []
    while i < len(s) and s[i] != "E":
        m = re.match(r"L[ib](\d+)E", s[i:])
        if m:
            vals.append(int(m.group(1)))
            i += m.end()
            continue
        m = re.match(r"(\d+)", s[i:])
        if not m:
            return None
        n = int(m.group(1))
        vals.append(s[i + m.end():i + m.end() + n])
        i += m.end() + n
    return dict(zip(ARGS, vals))


def key_loop(ops, br):
    """The shortest backward branch whose body has HGMMA ss and rs and MUFU.EX2: (start, end) or None."""
    best = None
    for i, t in br.items():
        if t < i:
            body = set(ops[t:i])
            if {"HGMMA.ss", "HGMMA.rs", "EX2"} <= body and (best is None or i - t < best[1] - best[0]):
                best = (t, i)
    return best


def report(name, ops, br):
    args = template_args(name)
    loop = key_loop(ops, br)
    head = ("d={d} {T} causal={causal} Bc={Bc} lean={lean} kahead={kahead} split={split} pin={pin} "
            "reread={reread}".format(**args) if args and len(args) == len(ARGS) else name)
    if loop is None:
        return head, None, None, "no key-block loop with both products and exponentials"
    t, e = loop
    ev = []
    for k in range(t, e + 1):
        n = ops[k]
        if n.startswith(("HGMMA", "EX2", "DEPBAR", "ARRIVE", "BAR", "MBAR")):
            if ev and ev[-1][0] == n and n in ("HGMMA.ss", "HGMMA.rs", "EX2"):
                ev[-1][2], ev[-1][3] = k, ev[-1][3] + 1
            else:
                ev.append([n, k, k, 1])
    mma = [k for k in range(t, e + 1) if ops[k].startswith("HGMMA")]
    ex2 = [k for k in range(t, e + 1) if ops[k] == "EX2"]
    last = max(mma)
    # the turn: the run of products the loop issues (the last HGMMA of the first run that has both forms)
    runs, cur = [], []
    for k in range(t, e + 1):
        if ops[k].startswith("HGMMA"):
            cur.append(k)
        elif ops[k] in ("DEPBAR 0", "DEPBAR 1") and cur:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    turn = next((r for r in runs if {"HGMMA.ss", "HGMMA.rs"} <= {ops[k] for k in r}), None)
    if turn:
        last = max(turn)
    dep0 = next((k for k in range(last, e + 1) if ops[k] == "DEPBAR 0"), None)
    under = [k for k in ex2 if last < k and (dep0 is None or k < dep0)]
    order = "; ".join(f"{n}" + (f" x{c}" if c > 1 else "") + f" @{a}" + (f"-{b}" if b != a else "")
                      for n, a, b, c in ev)
    line = (f"loop @{t}-{e}: {len(ex2)} MUFU.EX2, {len(under)} of them after the turn's last HGMMA (@{last}) and "
            f"before its WARPGROUP.DEPBAR 0 (@{dep0})" + (f": @{under[0]}-{under[-1]}" if under else ""))
    return head, (len(ex2), len(under)), args, line + "\n    " + order


def calibrate(path):
    """The decoder read against hopper_sass_cal.cu's kernel: its loop, products, waits and exponentials."""
    ks = [k for k in cubin_kernels(path) if "hp_sass_cal" in k[0]]
    if len(ks) != 1:
        return f"{path}: no hp_sass_cal kernel in it"
    _, ops, br = ks[0]
    seq = [o for o in ops if o.startswith(("HGMMA", "DEPBAR", "ARRIVE", "EX2"))]
    want = ["ARRIVE", "HGMMA.ss", "HGMMA.rs", "DEPBAR 1", "EX2", "DEPBAR 0"]
    if [o for i, o in enumerate(seq) if i == 0 or o != seq[i - 1]] != want:
        return f"{path}: decoded {seq}, expected the run {want}"
    back = [(i, t) for i, t in br.items() if t < i and "EX2" in ops[t:i]]
    if not back or not all(0 <= t < len(ops) for _, t in br.items()):
        return f"{path}: no backward branch around the exponentials, or a branch target outside the kernel"
    return None


def main(argv):
    ap = Parser(description=__doc__.split("\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("cubins", nargs="*", help="cubins (nvcc -cubin) of cuda/hopper kernels")
    ap.add_argument("--sass-text", action="append", default=[], help="cuobjdump -sass output instead of a cubin")
    ap.add_argument("--calibration", help="hopper_sass_cal.cu compiled to a cubin: check the decoder first")
    ap.add_argument("--require-overlap", action="store_true",
                    help="exit 1 unless every PIN kernel has all its MUFU.EX2 under P V")
    try:
        a = ap.parse_args(argv)
    except SystemExit as e:
        return EXIT_OK if e.code == 0 else EXIT_INPUT
    if not a.cubins and not a.sass_text:
        print("hopper_sass: no cubin and no --sass-text given", file=sys.stderr)
        return EXIT_INPUT
    try:
        if a.calibration:
            err = calibrate(a.calibration)
            if err:
                print(f"hopper_sass: the decoder does not match this ptxas: {err}", file=sys.stderr)
                return EXIT_INTERNAL
            print(f"hopper_sass: decoder checked on {a.calibration}")
        kernels = [(p, k) for p in a.cubins for k in cubin_kernels(p)] + \
                  [(p, k) for p in a.sass_text for k in text_kernels(p)]
    except BadInput as e:
        print(f"hopper_sass: {ascii(str(e))[1:-1]}", file=sys.stderr)
        return EXIT_INPUT
    failed, seen = 0, 0
    for path, (name, ops, br) in kernels:
        args = template_args(name)
        if args is None or len(args) != len(ARGS) or not args["overlap"]:
            continue
        seen += 1
        head, counts, args, line = report(name, ops, br)
        ok = counts is not None and counts[0] > 0 and counts[1] == counts[0]
        need = a.require_overlap and args and args["pin"]
        verdict = ("softmax under P V" if ok else "softmax NOT under P V") + (" (required)" if need else "")
        print(f"{path}: {head}: {verdict}\n  {line}")
        if need and not ok:
            failed += 1
    if not seen:
        print("hopper_sass: no OVERLAP kernel of hopper_ws.cuh in the input", file=sys.stderr)
        return EXIT_INPUT
    print(f"hopper_sass: {seen} kernels, {failed} without the required overlap")
    return EXIT_CHECK if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(run_main(lambda: main(sys.argv[1:]), "hopper_sass"))
