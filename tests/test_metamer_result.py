"""The engine's in-memory result: `generate_metamers(..., out_dir=None)` writes nothing and returns the metamer
tensors with the records."""
import os

import pytest
import torch

from metazoo_core.io.images import load_image
from metazoo_core.metamer import MetamerRun, generate_metamers
from metazoo_core.models import load_model


def test_without_out_dir_nothing_is_written_and_the_metamer_is_returned(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the old default wrote runs/x into the working directory
    model = load_model("efficientnet_lite0", pretrained=False)
    images = [load_image(f"builtin:{n}", model.spec.input) for n in ("chelsea", "coffee")]
    run = generate_metamers(model, images, ["stem"], iterations=3, blocks=1)
    assert os.listdir(tmp_path) == []
    assert isinstance(run, MetamerRun) and len(run) == len(run.results) == 2
    for image, record, result in zip(images, run, run.results):
        assert result.record is record and result.losses == record["loss_curve"]
        x = result.metamer
        assert x.shape == tuple(model.spec.input.shape) and x.dtype == torch.float32
        assert model.input_range[0] <= float(x.min()) and float(x.max()) <= model.input_range[1]
        with torch.no_grad():  # the returned tensor is the one the record measured: same relative stage loss
            a = model(x[None], ["stem"])["stem"]
            t = model(image.tensor[None].float(), ["stem"])["stem"]
        assert float((a - t).norm() / t.norm()) == pytest.approx(record["final_loss"], rel=1e-4, abs=1e-6)

