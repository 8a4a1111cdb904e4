"""Run one `metazoo` command with at most GIB GiB of address space on top of what loading torch takes.

    python scripts/address_limit.py GIB metazoo-arguments…
    python scripts/address_limit.py 2 predict efficientnet_lite0 in/ --random-weights --top 1

Why not `ulimit -v`: the pinned torch (2.14.1, CUDA build from PyPI) maps 3.2 GB of shared libraries at import
(cuBLAS-Lt 0.52 GB, libtorch_cuda 0.41 GB, libtorch_cpu 0.34 GB, cuFFT 0.28 GB, …; measured from /proc/self/maps),
so under a 2 GiB `ulimit -v` Python cannot import torch at all ("failed to map segment from shared object") and no
metazoo command that needs torch can run, whatever its inputs. This script imports torch and the CLI first, then
sets RLIMIT_AS to the address space in use plus GIB GiB, then runs the command in the same process: every
allocation the command makes — decoding images and sounds, resampling, the model and its activations — must fit
in GIB GiB. Exit status and output are the command's own.
"""
from __future__ import annotations

import resource
import sys


def address_space_bytes() -> int:
    """This process's mapped address space (VmSize), bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit("usage: python scripts/address_limit.py GIB metazoo-arguments…")
    gib = float(argv[0])
    import timm  # noqa: F401 — loaded before the limit, as torch is: their libraries are not the command's memory
    import torch  # noqa: F401

    from metazoo_cli.app import main as metazoo

    limit = address_space_bytes() + int(gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    print(f"address-space limit: {limit / 2**30:.2f} GiB ({gib:g} GiB above the {(limit - gib * 2**30) / 2**30:.2f} "
          "GiB mapped after importing torch)", file=sys.stderr)
    sys.argv = ["metazoo", *argv[1:]]
    metazoo()


if __name__ == "__main__":
    main(sys.argv[1:])
