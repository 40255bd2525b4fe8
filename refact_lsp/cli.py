"""Command line: the LSP server over stdio or TCP, `complete FILE:LINE:COL`, `doctor`
and `models`."""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

from refact_lsp import __version__
from refact_lsp.config import EngineKind, Settings, from_environment
from refact_lsp.prompts import FimOrder
from refact_lsp.secrets import SECRETS, RedactingFilter

log = logging.getLogger("refact_lsp")

LOCATION = re.compile(r"^(?P<path>.+):(?P<line>\d+):(?P<col>\d+)$")


def _options() -> argparse.ArgumentParser:
    """Flags shared by the server and `complete`; each maps onto one setting."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", help="GGUF path or catalog name (refact-1.6b, "
                                        "qwen2.5-coder-0.5b); default refact-1.6b")
    common.add_argument("--engine", dest="engine_kind", choices=[k.value for k in EngineKind],
                        help="llama-cpp (default, in process), llama-server or openai")
    common.add_argument("--engine-url", help="base URL of a shared inference server")
    common.add_argument("--engine-model", help="model name to send to the engine")
    common.add_argument("--template", help="FIM template name or format string")
    common.add_argument("--fim-order", choices=[order.value for order in FimOrder])
    common.add_argument("--n-ctx", type=int, help="context size in tokens (default 4096)")
    common.add_argument("--max-tokens", type=int, help="most tokens to generate")
    common.add_argument("--n-threads", type=int, help="CPU threads for inference")
    common.add_argument("--n-gpu-layers", type=int, help="layers to offload (-1: all)")
    common.add_argument("--cache-dir", help="where downloaded models are kept")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logs on stderr")
    return common


def _settings(args: argparse.Namespace) -> Settings:
    values: dict[str, Any] = {}
    for name in ("model", "template", "fim_order", "n_ctx", "max_tokens", "n_threads",
                 "n_gpu_layers", "cache_dir"):
        if getattr(args, name, None) is not None:
            values[name] = getattr(args, name)
    engine = {key: getattr(args, f"engine_{key}") for key in ("kind", "url", "model")
              if getattr(args, f"engine_{key}", None) is not None}
    if engine:
        values["engine"] = engine
    settings, problems = Settings().updated(from_environment())
    settings, more = settings.updated(values)
    SECRETS.remember([settings.engine.api_key])
    for problem in problems + more:
        log.warning("%s", problem)
    return settings


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(SECRETS))  # API keys never reach the log
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)


class _Version(argparse.Action):
    """`--version`: the version and the llama.cpp build (loaded only when asked)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and "
                         "llama.cpp's build (CPU features, GPU backend) and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        try:
            from refact_lsp.build_info import build_info

            build = build_info()
        except (ImportError, OSError) as exc:
            build = f"llama-cpp-python cannot be loaded: {exc}"
        print(f"refact-lsp {__version__}\n{build}")
        parser.exit()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"complete": _complete_main, "doctor": _doctor_main, "models": _models_main}
    if argv[:1] and argv[0] in commands:
        return commands[argv[0]](argv[1:])
    parser = argparse.ArgumentParser(
        prog="refact-lsp", parents=[_options()],
        description="Local fill-in-the-middle code completion over LSP. With no command, "
                    "speaks LSP on stdio. `refact-lsp complete FILE:LINE:COL` prints the "
                    "completion at a place in a file; `refact-lsp doctor` checks what "
                    "works; `refact-lsp models` lists, downloads and removes models.")
    parser.add_argument("--version", action=_Version)
    parser.add_argument("--stdio", action="store_true", help="LSP over stdio (the default)")
    parser.add_argument("--tcp", action="store_true", help="LSP over TCP, for debugging")
    parser.add_argument("--host", default="127.0.0.1", help="TCP host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=2087, help="TCP port (default 2087)")
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    from refact_lsp.server import create_server
    from refact_lsp.transport import serve_stdio, serve_tcp

    server = create_server(_settings(args))
    if args.tcp:
        serve_tcp(server, args.host, args.port)
    else:
        serve_stdio(server)
    return 0


def _complete_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="refact-lsp complete", parents=[_options()],
        description="Print the completion the server would show at FILE:LINE:COL "
                    "(1-based line and column, in characters).")
    parser.add_argument("location", help="FILE:LINE:COL")
    parser.add_argument("--json", action="store_true",
                        help="print the suggestion with its range and timings as JSON")
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    match = LOCATION.match(args.location)
    if not match:
        parser.error(f"expected FILE:LINE:COL, got {args.location!r}")
    path = Path(match["path"])
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        print(f"refact-lsp: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    from refact_lsp.documents import UTF32, Document, Position
    from refact_lsp.engines.base import EngineError
    from refact_lsp.models import ModelError
    from refact_lsp.service import CompletionService

    document = Document(path.resolve().as_uri(), text, 0, None, encoding=UTF32)
    service = CompletionService(_settings(args), {document.uri: document},
                                tell=lambda message: None, progress=TerminalProgress)
    position = Position(int(match["line"]) - 1, int(match["col"]) - 1)
    try:
        result = service.complete_now(document.uri, position)
    except (ModelError, EngineError) as exc:  # no model, or a shared engine that fails
        _fail(exc)
        return 1
    assert result is not None  # the document is open: it is the only one
    if args.json:
        generation = result.generation
        print(json.dumps({
            "text": result.text, "reason": result.reason,
            "range": {"start": [result.start.line + 1, result.start.character + 1],
                      "end": [result.end.line + 1, result.end.character + 1]},
            "prompt_tokens": generation.prompt_tokens if generation else 0,
            "generated_tokens": generation.generated_tokens if generation else 0,
            "ms": round(generation.prompt_ms + generation.generate_ms) if generation else 0,
        }))
    else:
        print(result.text)
    return 0


def _doctor_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="refact-lsp doctor", parents=[_options()],
        description="Check what works, with the settings the server would use, and say "
                    "what to do; exit status 0 only where a completion would work.")
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    from refact_lsp import doctor

    return doctor.run(_settings(args))


def _models_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="refact-lsp models",
        description="List the catalog and what is downloaded (no action), download a "
                    "catalog model, or remove a downloaded one.")
    parser.add_argument("action", nargs="?", choices=["list", "download", "remove"],
                        default="list")
    parser.add_argument("name", nargs="?", help="a catalog name, for download and remove")
    parser.add_argument("--cache-dir", help="where downloaded models are kept")
    args = parser.parse_args(argv)
    _setup_logging(False)
    from refact_lsp import models

    cache = args.cache_dir or _settings(argparse.Namespace()).cache_dir
    if args.action == "list":
        print("\n".join(_catalog_lines(cache)))
        return 0
    if not args.name:
        parser.error(f"{args.action} needs a catalog name")
    try:
        if args.action == "remove":
            for removed in models.remove(args.name, cache):
                print(f"removed {removed}")
        elif args.name.lower() not in models.CATALOG:
            raise models.ModelError(f"{args.name!r} is not a catalog name; "
                                    "`refact-lsp models` lists them")
        else:
            print(models.resolve(args.name, cache, TerminalProgress()))
    except models.ModelError as exc:
        _fail(exc)
        return 1
    return 0


def _catalog_lines(cache: str | None) -> list[str]:
    """The catalog, one model a line, and what is downloaded (`refact-lsp models`)."""
    from refact_lsp import models

    on_disk = {item.path.name: item for item in models.downloaded(cache)}
    lines = [f"{'name':<20} {'download':>9}  {'checksum':<9}  {'on disk':<18}  source"]
    for name, entry in models.CATALOG.items():
        item = on_disk.get(entry.filename)
        size = models.size_text(entry.download_mb * 10**6)
        disk = models.size_text(item.size) + (", checked" if item.verified else "") \
            if item else "-"
        mirror = " (fetched from its PyPI mirror)" if entry.mirror else ""
        pinned = "in code" if entry.pinned_in_code else "first use"
        lines.append(f"{name:<20} {'~' + size:>9}  {pinned:<9}  {disk:<18}  "
                     f"{entry.source.repo_id}/{entry.filename}{mirror}")
    others = [item for item in on_disk.values() if not item.names]
    lines += [f"{'(not in the catalog)':<20} {'':>9}  {'':<9}  "
              f"{models.size_text(item.size):<18}  {item.path}" for item in others]
    lines.append(f"default: {models.DEFAULT_MODEL}; checksum: pinned in the catalog, or at "
                 f"the first download; kept in {models.cache_dir(cache)}")
    return lines


def _fail(error: Exception) -> None:
    """One line on stderr for a person, without secrets."""
    print(f"refact-lsp: {SECRETS.redact(str(error))}", file=sys.stderr)


class TerminalProgress:
    """A one-line progress bar on stderr for downloads and loading."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = -1

    def begin(self, title: str) -> None:
        """Nothing: the download and load say what they do as they go."""

    def end(self, message: str) -> None:
        """Nothing: the completion printed next says it is done."""

    def __call__(self, done: int, total: int | None, message: str) -> None:
        if total:
            percent = done * 100 // total
            if percent == self.last:
                return
            self.last = percent
            bar = "#" * (percent // 4)
            line = f"[{bar:<25}] {percent:3d}% {message}"
        else:
            line = message
        line = SECRETS.redact(line)
        if self.tty:
            sys.stderr.write("\r" + line[:100].ljust(100) + ("\n" if total is None else ""))
        elif total is None or self.last % 25 == 0:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
