"""Probe S11 (weights): a checkpoint holding NaN is refused in one line; so are integer-stored weights (issue 27:
they printed NaN probabilities with exit 0); float16-stored weights load with a notice."""
from __future__ import annotations

import torch
from probes import assert_one_line, invoke


def _lite0_state() -> dict[str, torch.Tensor]:
    from metazoo_core.models import load_model

    return {k: v.clone() for k, v in load_model("efficientnet_lite0").net.state_dict().items()}


def test_nan_and_integer_weights_are_refused_and_float16_weights_give_a_notice(tmp_path):
    from safetensors.torch import save_file

    state = _lite0_state()
    nan = dict(state)
    nan["conv_stem.weight"] = state["conv_stem.weight"].clone()
    nan["conv_stem.weight"][0, 0, 0, 0] = float("nan")
    save_file(nan, str(tmp_path / "nan.safetensors"))
    r = invoke("predict", "efficientnet_lite0", "builtin:chelsea", "--weights", str(tmp_path / "nan.safetensors"))
    assert r.code == 2
    assert_one_line(r, "efficientnet_lite0", "NaN or infinite", "conv_stem.weight")

    ints = dict(state)
    ints["conv_stem.weight"] = (state["conv_stem.weight"] * 100).round().to(torch.int8)
    save_file(ints, str(tmp_path / "int8.safetensors"))
    r = invoke("predict", "efficientnet_lite0", "builtin:chelsea", "--weights", str(tmp_path / "int8.safetensors"))
    assert_one_line(r, "efficientnet_lite0", "stored as int8", "conv_stem.weight", "dequantise")
    assert "nan" not in r.stdout

    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    save_file(half, str(tmp_path / "half.safetensors"))
    r = invoke("predict", "efficientnet_lite0", "builtin:chelsea", "--weights", str(tmp_path / "half.safetensors"))
    assert r.code == 0, r.stderr
    assert "stored as float16" in r.stderr and "nan" not in r.stdout

    save_file(state, str(tmp_path / "good.safetensors"))  # the same weights as stored: no notice
    r = invoke("predict", "efficientnet_lite0", "builtin:chelsea", "--weights", str(tmp_path / "good.safetensors"))
    assert r.code == 0 and "cast" not in r.stderr
