"""Checkpoint resolution against a loopback Hub / file server, integrity checks and safe loading."""
import hashlib
import os

import pytest
import torch
from safetensors.torch import save as st_save

from hubserver import serve_hub


def _tensor_bytes(seed: int = 0) -> bytes:
    g = torch.Generator().manual_seed(seed)
    return st_save({"weight": torch.randn(64, 64, generator=g)})


def _hub_env(state, tmp_path):
    return {"HF_ENDPOINT": state.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf"),
            "HF_HUB_DISABLE_XET": "1", "METAZOO_CACHE": str(tmp_path / "cache"),
            "METAZOO_WEIGHTS_CONFIG": str(tmp_path / "weights.yaml")}


def _write_config(tmp_path, mapping: dict) -> None:
    import yaml

    (tmp_path / "weights.yaml").write_text(yaml.safe_dump(mapping))


def test_hub_download_good(cli, tmp_path):
    body = _tensor_bytes()
    sha = hashlib.sha256(body).hexdigest()
    with serve_hub({("acme/tiny", "model.safetensors"): body}) as hub:
        _write_config(tmp_path, {"efficientnet_lite0": {"source": "hf://acme/tiny/model.safetensors", "sha256": sha}})
        r = cli("fetch", "efficientnet_lite0", env=_hub_env(hub, tmp_path))
    assert r.returncode == 0, r.stderr
    assert sha[:16] in r.stdout
    cached = list((tmp_path / "hf").rglob("model.safetensors"))
    assert cached and hashlib.sha256(cached[0].read_bytes()).hexdigest() == sha


def test_hub_sha_mismatch_leaves_nothing(cli, tmp_path):
    body = _tensor_bytes()
    with serve_hub({("acme/tiny", "model.safetensors"): body}) as hub:
        _write_config(tmp_path, {"efficientnet_lite0": {"source": "hf://acme/tiny/model.safetensors",
                                                        "sha256": "0" * 64}})
        r = cli("fetch", "efficientnet_lite0", env=_hub_env(hub, tmp_path))
    assert r.returncode != 0
    assert "sha256 mismatch" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    leftovers = [p for p in (tmp_path / "hf").rglob("*") if p.is_file() and p.stat().st_size > 0
                 and "model.safetensors" in p.name]
    blobs = [p for p in (tmp_path / "hf").rglob("blobs/*") if p.is_file()]
    assert not leftovers and not blobs


def test_hub_interrupted_download_retries(cli, tmp_path):
    body = _tensor_bytes(1)
    sha = hashlib.sha256(body).hexdigest()
    with serve_hub({("acme/tiny", "model.safetensors"): body}, truncate_first={"model.safetensors"}) as hub:
        _write_config(tmp_path, {"efficientnet_lite0": {"source": "hf://acme/tiny/model.safetensors", "sha256": sha}})
        r = cli("fetch", "efficientnet_lite0", env=_hub_env(hub, tmp_path))
        assert hub.gets["model.safetensors"] >= 2
    assert r.returncode == 0, r.stderr
    cached = list((tmp_path / "hf").rglob("snapshots/*/model.safetensors"))
    assert hashlib.sha256(cached[0].read_bytes()).hexdigest() == sha


def test_url_source_checks_sha_and_retries(tmp_path, monkeypatch):
    from metazoo_core import weights
    from metazoo_core.errors import WeightsError
    from metazoo_core.plugins import get_spec

    body = _tensor_bytes(2)
    sha = hashlib.sha256(body).hexdigest()
    monkeypatch.setenv("METAZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    spec = get_spec("efficientnet_lite0")
    with serve_hub({}, plain={"w.safetensors": body, "bad.safetensors": body},
                   truncate_first={"w.safetensors"}) as host:
        monkeypatch.setenv("METAZOO_WEIGHTS_CONFIG", str(tmp_path / "w.yaml"))
        (tmp_path / "w.yaml").write_text(f"efficientnet_lite0: {{source: '{host.url}/files/w.safetensors', sha256: {sha}}}\n")
        path, ref = weights.resolve(spec)
        assert weights.sha256_file(path) == sha and host.gets["w.safetensors"] == 2
        (tmp_path / "w.yaml").write_text(f"efficientnet_lite0: {{source: '{host.url}/files/bad.safetensors', sha256: '{'1' * 64}'}}\n")
        with pytest.raises(WeightsError, match="sha256 mismatch"):
            weights.resolve(spec)
        assert not weights._url_cache_path(f"{host.url}/files/bad.safetensors").exists()


def test_missing_weights_offline_names_the_ways_out(cli, tmp_path):
    r = cli("fetch", "resnet50", env={"HF_HOME": str(tmp_path / "hf"), "METAZOO_CACHE": str(tmp_path / "c")})
    assert r.returncode != 0
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "resnet50" in line and "hf://timm/resnet50.tv_in1k" in line and "--weights" in line and "metazoo fetch" in line


def test_pickle_that_needs_code_is_refused(tmp_path):
    from metazoo_core.errors import WeightsError
    from metazoo_core.weights import load_state_dict

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"model": Evil()}, path)
    with pytest.raises(WeightsError, match="needs code to load"):
        load_state_dict(path)


def test_plain_state_dict_and_containers_load(tmp_path):
    from metazoo_core.weights import load_state_dict

    sd = {"a": torch.ones(2), "b": torch.zeros(3)}
    torch.save({"model": sd, "epoch": 3}, tmp_path / "c.pt")
    assert set(load_state_dict(tmp_path / "c.pt")) == {"a", "b"}


def test_unreadable_weights_file_is_one_line(cli, tmp_path):
    bad = tmp_path / "garbage.pth"
    bad.write_bytes(b"\x00not a checkpoint" * 10)
    r = cli("activations", "efficientnet_lite0", "builtin:chelsea", "--stage", "final",
            "--weights", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "garbage.pth" in r.stderr


def _mini_registry(tmp_path, weights: dict, archives: dict | None = None):
    import yaml

    entry = {"id": "tiny", "family": "efficientnet", "modality": "vision",
             "input": {"shape": [3, 8, 8], "range": [0, 1]}, "stages": [{"name": "final", "shape": [4]}],
             "weights": weights}
    path = tmp_path / "reg.yaml"
    path.write_text(yaml.safe_dump({"archives": archives or {}, "models": [entry]}))
    return path


def test_registry_archive_table_and_new_weights_fields(tmp_path):
    from metazoo_core.registry import load_registry

    path = _mini_registry(tmp_path, {"archive": "vis", "member": "a.pt", "fallbacks": ["https://h/a.pt"],
                                     "manual": {"where": "Google Drive folder X", "file": "a.pt"},
                                     "unverified": ["member name"], "mirror": "hf://lab/tiny"},
                          {"vis": {"url": "https://h/v.tar", "sha256": None, "notes": "n"}})
    loaded = load_registry(path)
    w = loaded.specs[0].weights
    assert loaded.archives["vis"].url == "https://h/v.tar"
    assert (w.archive, w.member, w.fallbacks, w.manual.file, w.unverified, w.mirror) == (
        "vis", "a.pt", ["https://h/a.pt"], "a.pt", ["member name"], "hf://lab/tiny")


def test_registry_unknown_archive_is_one_line(cli, tmp_path):
    path = _mini_registry(tmp_path, {"archive": "nope", "member": "a.pt"}, {"vis": {"url": "https://h/v.tar"}})
    r = cli("list", env={"METAZOO_REGISTRY": str(path)})
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "tiny" in r.stderr and "'nope'" in r.stderr and "archives:" in r.stderr
