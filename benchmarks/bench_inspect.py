"""Benchmark: `autolik.inspect` over a >= 2 GB float32 .npy (memory-mapped) vs a plain numpy min/max pass.

Usage::

    python benchmarks/bench_inspect.py [--path FILE.npy] [--gb 2.1] [--repeats 2] [--keep]

Creates the file if absent (at --gb 2.1: 525,000 x 1,000 float32; 400 Gaussian columns, 300 Poisson
counts stored as floats, 150 continuous uniform [0,1], 150 values on the 1/255 grid), then times,
each in a fresh subprocess so that peak resident memory (VmHWM) is measured separately:

* ``plain``: numpy min and max per column over the same memmap, in ~64 MB row chunks;
* ``inspect``: ``autolik.inspect(path)`` (load, streaming profile, support classes), with its
  default threads (the usable cores, up to 2);
* ``inspect-1``: the same on one thread (``threads=1``), for the single-core figure;
* ``inspect-numpy``: default threads, the numpy pass (``AUTOLIK_KERNEL=numpy``: no C compiler).

Writes benchmarks/results/bench_inspect.md and deletes a file it created unless ``--keep``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_FEATURES = 1000
KINDS = ("plain", "inspect", "inspect-1", "inspect-numpy")
RESULTS = Path(__file__).resolve().parent / "results" / "bench_inspect.md"


def make_file(path: Path, gb: float, seed: int = 0) -> None:
    n = int(gb * 1e9 / (N_FEATURES * 4))
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, N_FEATURES))
    rng = np.random.default_rng(seed)
    rates = np.linspace(0.5, 40, 300)
    for r in range(0, n, 20000):
        m = min(20000, n - r)
        out[r:r + m, :400] = rng.standard_normal((m, 400), dtype=np.float32) * 3 + 10
        out[r:r + m, 400:700] = rng.poisson(rates, (m, 300))
        out[r:r + m, 700:850] = rng.random((m, 150), dtype=np.float32)
        out[r:r + m, 850:] = rng.integers(0, 256, (m, 150)) / np.float32(255)
    out.flush()
    del out


def peak_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(kind: str, path: str) -> dict:
    """Run one measurement in this process and return seconds and peak RSS."""
    x = np.load(path, mmap_mode="r")
    t0 = time.perf_counter()
    if kind == "plain":
        rows = max(1, (64 << 20) // (x.shape[1] * x.itemsize))
        lo = np.full(x.shape[1], np.inf, np.float32)
        hi = -lo
        for r in range(0, len(x), rows):
            chunk = x[r:r + rows]
            np.minimum(lo, chunk.min(0), out=lo)
            np.maximum(hi, chunk.max(0), out=hi)
    else:
        import autolik
        from autolik.analysis.profiling.kernel import backend

        prof = autolik.inspect(path, threads=1 if kind == "inspect-1" else None)
        assert prof.n_samples == len(x)
        return {"kind": kind, "seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb(),
                "backend": backend()}
    return {"kind": kind, "seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb()}


def run(kind: str, path: str) -> dict:
    env = {**os.environ, "AUTOLIK_KERNEL": "numpy" if kind == "inspect-numpy" else ""}
    out = subprocess.run([sys.executable, __file__, "--measure", kind, "--path", path],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", default=os.path.join(tempfile.gettempdir(), "autolik_bench_inspect.npy"))
    ap.add_argument("--gb", type=float, default=2.1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--measure", choices=KINDS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.path)))
        return
    path = Path(args.path)
    created = not path.exists()
    if created:
        print(f"writing {args.gb} GB to {path} ...", file=sys.stderr)
        make_file(path, args.gb)
    try:
        size_gb = path.stat().st_size / 1e9
        shape = np.load(path, mmap_mode="r").shape
        runs = [run(kind, str(path)) for _ in range(args.repeats) for kind in KINDS]
    finally:
        if created and not args.keep:
            path.unlink()
    best = {k: min((r for r in runs if r["kind"] == k), key=lambda r: r["seconds"]) for k in KINDS}
    ratio = best["inspect"]["seconds"] / best["plain"]["seconds"]
    ratio1 = best["inspect-1"]["seconds"] / best["plain"]["seconds"]
    lines = [
        "# bench_inspect", "",
        f"`python benchmarks/bench_inspect.py --gb {args.gb} --repeats {args.repeats}` on {os.cpu_count()} CPU(s); "
        f"file {shape[0]:,} x {shape[1]:,} float32 = {size_gb:.2f} GB (memory-mapped, in the page cache). "
        "Best of the repeats; each run in its own subprocess (peak RSS = VmHWM of that process). "
        f"Profiling pass: {best['inspect']['backend']} kernel (see autolik/analysis/profiling/kernel.py).", "",
        "| pass | seconds | GB/s | peak RSS (MB) |", "|---|---|---|---|",
    ]
    for k, label in (("plain", "numpy min+max per column (reference, 1 thread)"),
                     ("inspect", "autolik.inspect (full profile, default: 2 threads here)"),
                     ("inspect-1", "autolik.inspect, threads=1"),
                     ("inspect-numpy", "autolik.inspect, numpy pass (AUTOLIK_KERNEL=numpy)")):
        r = best[k]
        lines.append(f"| {label} | {r['seconds']:.2f} | {size_gb / r['seconds']:.2f} | {r['peak_rss_mb']:.0f} |")
    ratio_np = best["inspect-numpy"]["seconds"] / best["plain"]["seconds"]
    lines += ["", f"ratio inspect / plain: **{ratio:.1f}x** (target <= 3x); on one thread {ratio1:.1f}x; with the "
              f"numpy pass {ratio_np:.1f}x; inspect peak RSS {best['inspect']['peak_rss_mb']:.0f} MB (target < 1024 MB).", "",
              "All runs (seconds): " + ", ".join(f"{r['kind']} {r['seconds']:.2f}" for r in runs), "",
              "The plain pass leaves every page it touched mapped, so its RSS counts the whole file; "
              "inspect releases each chunk's pages (madvise DONTNEED) once summarised."]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
