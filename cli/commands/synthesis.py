"""`metazoo eigendistort`, `metazoo mad`, `metazoo principal-distortions`: synthesis beyond metamers on the same
models (metazoo_core/synthesis). Every input of a command runs in one batch; inputs that cannot be loaded are
reported one line each and the others still run (exit code 2 then)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..console import load_inputs, notice, out, pick_device, print_json

_INPUTS = "files, folders, builtin:NAME or builtin (images or sounds, as the model takes)"
_DEVICE = typer.Option("cpu", "--device", help="auto (best available), cpu, cuda, cuda:N or mps")
_DTYPE = typer.Option("float32", "--dtype", help="float32 or float64 (exactness checks)")
_RANDOM = typer.Option(False, "--random-weights", help="skip loading trained weights (results say RANDOM weights)")
_JSON = typer.Option(False, "--json", help="print the records as JSON on stdout")


def _load(model_id: str, stages: list[str], random_weights: bool, device: str, dtype: str,
          weights: Optional[str] = None):
    from metazoo_core.synthesis.run import load_for_synthesis

    loaded = load_for_synthesis(model_id, stages, random_weights, weights, device, dtype)
    for line in loaded.notices:
        notice(line)
    return loaded.model


def _inputs(sources: list[str], model, device: str, dtype: str):
    from metazoo_core.errors import InputError
    from metazoo_core.synthesis.run import batch

    items, failed = load_inputs(sources, model.spec)
    if not items:
        raise InputError(f"none of the {len(sources)} input source(s) could be loaded; see the errors above")
    x, names = batch(items, device, dtype)
    return x, names, failed


def _report(rows: list[dict], as_json: bool, line) -> None:
    if as_json:
        print_json(rows)
    else:
        for r in rows:
            out.print(line(r), highlight=False, markup=False)


def _eigendistort(
    model: str = typer.Argument(..., help="model id"),
    inputs: list[str] = typer.Argument(..., help=_INPUTS),
    stage: str = typer.Option(..., "--stage", "-s", help="stage whose Fisher matrix is analysed"),
    k: int = typer.Option(1, "--k", help="eigenvectors from each end of the spectrum"),
    method: str = typer.Option("power", "--method", help="power, lanczos or exact (small inputs)"),
    max_iter: int = typer.Option(1000, "--max-iter", help="power iterations per end (plenoptic's default 1000)"),
    tol: float = typer.Option(1e-7, "--tol", help="relative residual (power) or eigenvalue accuracy (lanczos)"),
    seed: int = typer.Option(0, "--seed", help="start vectors"),
    out_dir: Path = typer.Option(Path("runs/eigendistortions"), "--out", "-o", help="result folder"),
    dtype: str = _DTYPE, device: str = _DEVICE, random_weights: bool = _RANDOM,
    weights: Optional[str] = typer.Option(None, "--weights", help="checkpoint overriding the registry's"),
    as_json: bool = _JSON,
) -> None:
    """Eigendistortions: the input directions a stage is most and least sensitive to (Fisher matrix JᵀJ).

    Python: metazoo_core.synthesis.eigen.eigendistort (no facade twin yet).
    """
    from metazoo_core.fileio import check_writable
    from metazoo_core.synthesis.eigen import EigendistortionOptions, eigendistort
    from metazoo_core.synthesis.run import write_eigendistortions

    options = EigendistortionOptions(k=k, method=method, max_iter=max_iter, tol=tol, seed=seed)
    check_writable(out_dir)
    device = pick_device(device)
    net = _load(model, [stage], random_weights, device, dtype, weights)
    x, names, failed = _inputs(inputs, net, device, dtype)
    results = eigendistort(net, stage, x, options, names)
    rows = write_eigendistortions(results, net, stage, names, out_dir)
    _report(rows, as_json, lambda r: f"{r['input']} @ {r['stage']}: λ = "
            + ", ".join(f"{v:.4g}" for v in r["eigenvalues"])
            + f" (max relative residual {r['max_relative_residual']:.2g}) → {r['folder']}")
    if failed:
        raise typer.Exit(2)


def _mad(
    model_a: str = typer.Argument(..., help="model A id"),
    model_b: str = typer.Argument(..., help="model B id"),
    inputs: list[str] = typer.Argument(..., help=_INPUTS),
    stage_a: str = typer.Option("final", "--stage-a", help="model A's stage"),
    stage_b: str = typer.Option("final", "--stage-b", help="model B's stage"),
    metric_a: str = typer.Option("relative_l2", "--metric-a", help="relative_l2 or rmse at model A's stage"),
    metric_b: str = typer.Option("relative_l2", "--metric-b", help="relative_l2 or rmse at model B's stage"),
    direction: str = typer.Option("min_a,max_a,min_b,max_b", "--direction",
                                  help="comma-separated: min_a/max_a (model A's metric, B's held) and min_b/max_b"),
    iterations: int = typer.Option(100, "--iterations", help="Adam steps (plenoptic's default 100)"),
    lr: float = typer.Option(0.01, "--lr", help="Adam learning rate (plenoptic's 0.01)"),
    tradeoff: Optional[float] = typer.Option(None, "--tradeoff", help="λ on the held metric (default: plenoptic's "
                                             "automatic power of ten)"),
    initial_noise: float = typer.Option(0.1, "--initial-noise", help="σ of the start's noise (plenoptic's 0.1)"),
    seed: int = typer.Option(0, "--seed", help="start noise"),
    out_dir: Path = typer.Option(Path("runs/mad"), "--out", "-o", help="result folder"),
    dtype: str = _DTYPE, device: str = _DEVICE, random_weights: bool = _RANDOM, as_json: bool = _JSON,
) -> None:
    """MAD competition: images that change one model's response most or least while the other's is held.

    Python: metazoo_core.synthesis.mad.mad (no facade twin yet).
    """
    from metazoo_core.fileio import check_writable
    from metazoo_core.synthesis.mad import MADOptions, mad
    from metazoo_core.synthesis.run import same_input, write_mad

    options = MADOptions(iterations=iterations, lr=lr, initial_noise=initial_noise, tradeoff=tradeoff,
                         metric_a=metric_a, metric_b=metric_b,
                         directions=tuple(d.strip() for d in direction.split(",") if d.strip()), seed=seed)
    check_writable(out_dir)
    device = pick_device(device)
    a = _load(model_a, [stage_a], random_weights, device, dtype)
    b = _load(model_b, [stage_b], random_weights, device, dtype)
    same_input([a, b])
    x, names, failed = _inputs(inputs, a, device, dtype)
    rows = write_mad(mad(a, stage_a, b, stage_b, x, options, names), a, b, names, out_dir)
    _report(rows, as_json, lambda r: f"{r['input']}: " + ", ".join(
        f"{d} A {va:.3g} B {vb:.3g}" for d, va, vb in zip(r["directions"], r["metric_a_final"], r["metric_b_final"]))
        + f" → {r['folder']}")
    if failed:
        raise typer.Exit(2)


def _principal(
    inputs: list[str] = typer.Argument(..., help=_INPUTS),
    pair: list[str] = typer.Option(..., "--pair", "-p", help="MODEL:STAGE (repeat, at least twice)"),
    method: str = typer.Option("auto", "--method", help="auto, generalized (two pairs) or ascent"),
    steps: int = typer.Option(100, "--steps", help="ascent steps (the authors' 100)"),
    lr: str = typer.Option("0:-2", "--lr", help="ascent learning rates as log10 FROM:TO (the authors' 0:-2)"),
    norm: float = typer.Option(0.1, "--norm", help="‖ε‖ (the authors' 0.1)"),
    clamp_scale: float = typer.Option(0.001, "--clamp-scale", help="c: x + ε/c stays in range (the authors' 0.001)"),
    delta: float = typer.Option(0.0, "--delta", help="δ added to the second pair's Fisher diagonal (generalized)"),
    seed: int = typer.Option(0, "--seed", help="initial distortions"),
    out_dir: Path = typer.Option(Path("runs/principal"), "--out", "-o", help="result folder"),
    dtype: str = _DTYPE, device: str = _DEVICE, random_weights: bool = _RANDOM, as_json: bool = _JSON,
) -> None:
    """Principal distortions: the two distortions whose log sensitivity ratios differ most across model stages.

    Python: metazoo_core.synthesis.principal.principal_distortions (no facade twin yet).
    """
    from metazoo_core.errors import InputError
    from metazoo_core.fileio import check_writable
    from metazoo_core.synthesis.principal import PrincipalOptions, principal_distortions
    from metazoo_core.synthesis.run import same_input, write_principal

    parsed = []
    for p in pair:
        model_id, sep, stage = p.partition(":")
        if not sep or not model_id or not stage:
            raise InputError(f"--pair {p!r}: write MODEL:STAGE, e.g. alexnet:relu2")
        parsed.append((model_id, stage))
    try:
        lr_from, lr_to = (float(v) for v in lr.split(":"))
    except ValueError:
        raise InputError(f"--lr {lr!r}: write log10 learning rates FROM:TO, e.g. 0:-2") from None
    options = PrincipalOptions(method=method, delta=delta, steps=steps, lr_from=lr_from, lr_to=lr_to, norm=norm,
                               clamp_scale=clamp_scale, seed=seed)
    check_writable(out_dir)
    device = pick_device(device)
    cache: dict[str, object] = {}
    for model_id, _ in parsed:  # one load per model, whatever its number of stages
        if model_id not in cache:
            cache[model_id] = _load(model_id, [s for m, s in parsed if m == model_id], random_weights, device, dtype)
    pairs = [(cache[m], s) for m, s in parsed]
    same_input(list(cache.values()))
    x, names, failed = _inputs(inputs, pairs[0][0], device, dtype)
    rows = write_principal(principal_distortions(pairs, x, options, names), pairs[0][0], names, out_dir,
                           (100, 200))
    _report(rows, as_json, lambda r: f"{r['input']}: log d(ε₁)/d(ε₂) " + ", ".join(
        f"{m}:{s} {v:+.3g}" for (m, s), v in zip(r["pairs"], r["log_ratios"])) + f" → {r['folder']}")
    if failed:
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command("eigendistort")(_eigendistort)
    app.command("mad")(_mad)
    app.command("principal-distortions")(_principal)
