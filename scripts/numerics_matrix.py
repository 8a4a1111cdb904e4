"""Numerics matrix: run the `numerics` tests under several kernel paths of the same stack, one pytest process per
configuration, and tabulate per comparison the largest error seen beside its tolerance (docs/fidelity.md,
"Numerical tolerances: measured spread").

Usage: python scripts/numerics_matrix.py [--configs NAME,NAME…|all] [--list] [--slow] [--json OUT] [--timeout S]
       [pytest paths…]
       python scripts/numerics_matrix.py --combine A.json B.json … [--json OUT]   (merge runs made separately)

A configuration sets environment variables read when torch loads: PyTorch's dispatch level
(`ATEN_CPU_CAPABILITY`: default, avx2, avx512), oneDNN's highest instruction set (`ONEDNN_MAX_CPU_ISA`: SSE41,
AVX2, AVX512_CORE), MKL's (`MKL_ENABLE_INSTRUCTIONS`: SSE4_2, AVX2) and the thread count (`OMP_NUM_THREADS`
1 or 2). Configurations above what the CPU offers (from /proc/cpuinfo's flags) are left out. Before its tests each
configuration runs a probe that reports torch's capability and the oneDNN ISA actually dispatched, so a variable
the stack ignores is seen, not assumed. Each `tolerance.check` in the tests appends {test, what, error,
tolerance, rule} to the file named by $METAZOO_NUMERICS_LOG; this script gathers them.

Exits 1 when any configuration's tests fail or a configuration's probe does not report what it set.
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

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "numerics_matrix.json"
LOG_ENV = "METAZOO_NUMERICS_LOG"

# name → (environment, CPU flags it needs, what the probe must report: (torch capability, oneDNN ISA) substrings)
CONFIGS: dict[str, tuple[dict[str, str], tuple[str, ...], tuple[str, str]]] = {
    "native-2t": ({"OMP_NUM_THREADS": "2"}, (), ("", "")),
    "native-1t": ({"OMP_NUM_THREADS": "1"}, (), ("", "")),
    "aten-default": ({"ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "2"}, (), ("DEFAULT", "")),
    "aten-avx2": ({"ATEN_CPU_CAPABILITY": "avx2", "OMP_NUM_THREADS": "2"}, ("avx2", "fma"), ("AVX2", "")),
    "aten-avx512": ({"ATEN_CPU_CAPABILITY": "avx512", "OMP_NUM_THREADS": "2"},
                    ("avx512f", "avx512bw", "avx512vl", "avx512dq"), ("AVX512", "")),
    "onednn-sse41": ({"ONEDNN_MAX_CPU_ISA": "SSE41", "OMP_NUM_THREADS": "2"}, ("sse4_1",), ("", "SSE4.1")),
    "onednn-avx2": ({"ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "2"}, ("avx2",), ("", "AVX2")),
    "onednn-avx512": ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "OMP_NUM_THREADS": "2"},
                      ("avx512f", "avx512bw", "avx512vl", "avx512dq"), ("", "AVX-512")),
    "mkl-sse42": ({"MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "OMP_NUM_THREADS": "2"}, ("sse4_2",), ("", "")),
    "mkl-avx2": ({"MKL_ENABLE_INSTRUCTIONS": "AVX2", "OMP_NUM_THREADS": "2"}, ("avx2",), ("", "")),
    "oldest-1t": ({"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
                   "OMP_NUM_THREADS": "1"}, ("sse4_1", "sse4_2"), ("DEFAULT", "SSE4.1")),
}

DEFAULT = ("native-2t", "aten-default", "aten-avx2", "onednn-sse41", "mkl-sse42", "oldest-1t")
"""What runs without --configs: the native path, PyTorch's unvectorised and AVX2 kernels, oneDNN's SSE4.1 kernels,
MKL's SSE4.2 ones, and all of the oldest paths at once on one thread."""

PROBE = """
import torch
x = torch.rand(1, 64, 28, 28)
torch.nn.functional.conv2d(x, torch.rand(64, 64, 3, 3))  # large enough to go through oneDNN
torch.rand(64, 64) @ torch.rand(64, 64)
torch.fft.rfft(torch.rand(4000))
print("capability", torch.backends.cpu.get_cpu_capability(), "threads", torch.get_num_threads())
"""


def numerics_files() -> list[str]:
    """The test files that mark tests `numerics` (collecting only these keeps each configuration's start short)."""
    return sorted(str(p.relative_to(REPO)) for p in (REPO / "tests").glob("test_*.py")
                  if "mark.numerics" in p.read_text())


def cpu_flags() -> set[str]:
    """The `flags` of /proc/cpuinfo's first processor (empty where there is none, e.g. not Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, or 'unknown'."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def available(flags: set[str]) -> list[str]:
    """The configurations this CPU can run: those needing no instruction set, and those whose x86 flags it has
    (none of these where its flags cannot be read, e.g. on ARM)."""
    return [n for n, (_, need, _) in CONFIGS.items() if set(need) <= flags]


def probe(env: dict[str, str]) -> dict:
    """torch's reported capability and thread count, and the ISA oneDNN dispatched, under `env`."""
    r = subprocess.run([sys.executable, "-c", PROBE], env={**env, "ONEDNN_VERBOSE": "1"}, capture_output=True,
                       text=True, timeout=300)
    out = {"capability": "?", "threads": "?", "onednn_isa": "?"}
    for line in r.stdout.splitlines():
        if line.startswith("capability"):
            _, out["capability"], _, out["threads"] = line.split()
        elif "isa:" in line:
            out["onednn_isa"] = line.split("isa:", 1)[1].split(",")[0].strip()
    return out


def run_config(name: str, paths: list[str], slow: bool, timeout: float) -> dict:
    """One pytest process of the `numerics` tests under configuration `name`; its probe, outcome and records."""
    settings, _, (want_cap, want_isa) = CONFIGS[name]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **settings}
    seen = probe(env)
    honoured = want_cap in seen["capability"] and want_isa in seen["onednn_isa"]
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "records.jsonl"
        marker = "numerics" if slow else "numerics and not slow"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", marker, *paths]
        start = time.perf_counter()
        try:
            r = subprocess.run(cmd, cwd=REPO, env={**env, LOG_ENV: str(log)}, capture_output=True, text=True,
                               timeout=timeout)
            rc, tail = r.returncode, (r.stdout + r.stderr).strip().splitlines()[-1:]
        except subprocess.TimeoutExpired:
            rc, tail = 124, [f"timed out after {timeout:.0f} s"]
        seconds = time.perf_counter() - start
        records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return {"name": name, "env": settings, "probe": seen, "honoured": honoured, "returncode": rc,
            "summary": tail[0] if tail else "", "seconds": round(seconds, 1), "records": records}


def spread(runs: list[dict]) -> list[dict]:
    """Per (test, what): the largest error over the configurations, the tolerance beside it (the smallest one
    any configuration measured), the largest error ÷ tolerance and where it was seen; tightest first."""
    rows: dict[tuple[str, str], dict] = {}
    for run in runs:
        for rec in run["records"]:
            key = (rec["test"], rec["what"])
            row = rows.setdefault(key, {"test": rec["test"], "what": rec["what"], "rule": rec["rule"],
                                        "max_error": 0.0, "tolerance": float("inf"), "max_ratio": 0.0,
                                        "worst_config": "", "configs": 0})
            ratio = rec["error"] / rec["tolerance"] if rec["tolerance"] > 0 else float("inf")
            row["max_error"] = max(row["max_error"], rec["error"])
            row["tolerance"] = min(row["tolerance"], rec["tolerance"])
            row["configs"] += 1
            if ratio >= row["max_ratio"]:
                row["max_ratio"], row["worst_config"] = ratio, run["name"]
    return sorted(rows.values(), key=lambda r: -r["max_ratio"])


def write(path: Path, runs: list[dict]) -> dict:
    """Write the CPU, the configurations (with their records) and the spread to `path` atomically; returns it."""
    import torch

    result = {"cpu": cpu_name(), "native_capability": torch.backends.cpu.get_cpu_capability(),
              "torch": torch.__version__, "configs": runs, "spread": spread(runs)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(path)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", help="pytest paths (default: the test files with `numerics` tests)")
    ap.add_argument("--configs", help=f"comma-separated configuration names, or 'all' (default: {','.join(DEFAULT)}); "
                    "those the CPU lacks are left out")
    ap.add_argument("--list", action="store_true", help="print the configurations and exit")
    ap.add_argument("--slow", action="store_true", help="include `slow` numerics tests (torch.compile)")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON,
                    help=f"output (default {DEFAULT_JSON.relative_to(REPO)})")
    ap.add_argument("--combine", type=Path, nargs="+", default=[], metavar="JSON",
                    help="run nothing: merge the configurations of earlier outputs into --json")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per configuration (default 900)")
    args = ap.parse_args(argv)
    flags = cpu_flags()
    names = available(flags)
    if args.list:
        for n in CONFIGS:
            print(f"{n:15s} {'' if n in names else '(not on this CPU) '}{CONFIGS[n][0]}")
        return 0
    if args.configs != "all":
        asked = [c.strip() for c in (args.configs or ",".join(DEFAULT)).split(",") if c.strip()]
        unknown = [c for c in asked if c not in CONFIGS]
        if unknown:
            print(f"numerics_matrix: unknown configuration(s) {', '.join(unknown)} in --configs; "
                  f"choose from {', '.join(CONFIGS)}", file=sys.stderr)
            return 2
        skipped = [c for c in asked if c not in names]
        for c in skipped:
            print(f"numerics_matrix: {c} needs CPU flags this CPU lacks; left out", file=sys.stderr)
        names = [c for c in asked if c in names]
    runs = [run for f in args.combine for run in json.loads(f.read_text())["configs"]]
    for name in [] if args.combine else names:
        run = run_config(name, args.paths or numerics_files(), args.slow, args.timeout)
        runs.append(run)
        write(args.json, runs)  # after every configuration, before saying so: a stopped run keeps what it measured
        p = run["probe"]
        print(f"{name:15s} rc={run['returncode']} {run['seconds']:7.1f} s  capability {p['capability']}, "
              f"oneDNN {p['onednn_isa']}, {p['threads']} threads{'' if run['honoured'] else '  (NOT HONOURED)'}  "
              f"| {run['summary']}", flush=True)
    rows = write(args.json, runs)["spread"]
    print(f"\n{'test':78s} {'what':22s} {'max error':>10s} {'tolerance':>10s} {'ratio':>6s}  worst config")
    for r in rows:
        print(f"{r['test'][-78:]:78s} {r['what'][:22]:22s} {r['max_error']:10.3g} {r['tolerance']:10.3g} "
              f"{r['max_ratio']:6.3f}  {r['worst_config']}")
    print(f"\nwrote {args.json}")
    bad = [r["name"] for r in runs if r["returncode"] != 0 or not r["honoured"]]
    if bad:
        print(f"numerics_matrix: failed or not honoured: {', '.join(bad)}", file=sys.stderr)
    return 1 if bad or not runs else 0


if __name__ == "__main__":
    sys.exit(main())
