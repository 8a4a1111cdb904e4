"""Readout, OOD (ImageNet-C generated from your own images) and model profiles: the twins of `metazoo readout`,
`metazoo ood --benchmark imagenet-c` and `metazoo profile`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ._models import device_of, load_model
from ._notices import notice

__all__ = ["build_profiles", "imagenet_c", "readout"]


def readout(model: Any, data: Path | str, stages: Sequence[str] | None = None, out: Path | str = "runs/readout",
            units: int = 2048, epochs: int = 10, seed: int = 0, val_fraction: float = 0.2,
            max_per_class: int | None = None, pretrained: bool = True) -> dict[str, dict[str, Any]]:
    """Linear softmax readout per stage (the twin of `metazoo readout`; study: a random subsample of 2048 units,
    10 epochs): `data` is a folder of class subfolders (or train/ and val/). Returns {stage: record} with held-out
    top1 and top5 as fractions in [0, 1], n_features and n_units; results are written under `out` and a rerun
    resumes."""
    from metazoo_core.readout import ReadoutConfig
    from metazoo_core.readout.data import load_readout_data
    from metazoo_core.readout.run import readout_dir, readout_stages
    from metazoo_core.registry import IMPLICIT_STAGE

    net = load_model(model, pretrained=pretrained)
    names = list(stages) if stages else [IMPLICIT_STAGE, *net.spec.stage_names]
    config = ReadoutConfig(units=units, epochs=epochs)
    train, val, layout = load_readout_data(data, net.spec, val_fraction, max_per_class)
    folder = readout_dir(out, net.spec.id, seed, config)
    return readout_stages(net, train, val, net.spec.check_stages(names), folder, config=config, seed=seed,
                          device=device_of(net), meta={"data": str(data), "layout": layout})


def imagenet_c(model: Any, inputs: Any = "builtin", corruptions: Sequence[str] | None = None,
               severities: Sequence[int] | None = None, seed: int = 0, batch_size: int = 16) -> dict[str, Any]:
    """Accuracy under ImageNet-C corruptions generated from clean `inputs` (the twin of `metazoo ood --benchmark
    imagenet-c`): {"clean", "accuracy": {corruption: {severity "1"…"5": accuracy}}, "by_corruption", "mean", "n",
    …}, accuracies as fractions in [0, 1] against the model's clean decision or ImageNet class folders. Default:
    every study corruption that is available here, severities 1–5."""
    from metazoo_core.ood.imagenet_c import check_selection, imagenet_c_from_sources, without_missing_frost

    chosen, sev = check_selection(list(corruptions) if corruptions else None,
                                  list(severities) if severities else None, False)
    chosen, frost = without_missing_frost(chosen)
    net = load_model(model)
    sources = [inputs] if isinstance(inputs, str) else [str(s) for s in inputs]
    result, problems = imagenet_c_from_sources(net, sources, chosen, sev, seed=seed, batch_size=batch_size,
                                               device=device_of(net))
    for line in problems + ([frost] if frost else []):
        notice(line)
    return result


def build_profiles(models: Sequence[str], out: Path | str = "profiles", store: Path | str | None = None,
                   runs: Sequence[Path | str] = (), fill: bool = True) -> dict[str, Any]:
    """Model profiles (the twin of `metazoo profile`): one page per model (robustness curves — accuracy in [0, 1]
    against ε in input units —, readout by stage,
    OOD scores, metamer recognition, human recognition where the study has it) and a sortable leaderboard, written
    to `out` (index.html, <model>.html, profile.json, leaderboard.csv). fill=True computes what is missing with
    the default settings into `store` (default OUT/store). Returns {"pages": [paths], "sweep", "profiles"}."""
    from metazoo_core.profile.build import build_profiles as _build

    return _build(list(models), out, store or Path(out) / "store", runs=[Path(r) for r in runs], fill=fill)
