"""bench_table.py — how the GPU benchmarks write a number that may be missing (no torch needed: the readers use it).

The house rule: `na`, never nan, for what was not measured (a version skipped at a d or an N, a backend PyTorch could
not run, a ratio whose divisor is missing), in the text tables and gnuplot's .dat alike; null in the JSON records.

    from bench_table import cell, ratio, clean
    cell(612.34)            -> "612.3"        cell(None) -> "na"        cell(float("nan")) -> "na"
    ratio(612.3, 660.8)     -> "0.927"        ratio(612.3, None) -> "na"
    json.dump(clean(record), f, allow_nan=False)   # NaN / inf anywhere in the record -> null
    number("na") -> None     number("612.3") -> 612.3   (reading a table back; old tables' "nan" -> None too)
"""
import math

NA = "na"


def _finite(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def cell(x, fmt="{:.1f}"):
    """A table cell: the number formatted, or na when it is None or not finite."""
    return fmt.format(x) if _finite(x) else NA


def ratio(a, b, fmt="{:.3f}"):
    """a / b as a cell: na when either is missing or b is 0."""
    return fmt.format(a / b) if _finite(a) and _finite(b) and b != 0 else NA


def clean(obj):
    """A copy of a JSON record with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    return obj


def number(s):
    """A table cell read back: its float, or None for na (and for the nan of tables written before this rule)."""
    try:
        x = float(s)
    except ValueError:
        if s == NA:
            return None
        raise
    return x if math.isfinite(x) else None
