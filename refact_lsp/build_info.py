"""Which llama.cpp build is loaded: the CPU features its kernels use and its GPU backend,
for `refact-lsp --version` and `refact-lsp doctor`."""

from __future__ import annotations

import llama_cpp


def describe(system_info: str, gpu_offload: bool, version: str) -> str:
    """llama.cpp's system info line ("CPU : SSE3 = 1 | AVX2 = 1 | ... | CUDA : ARCHS =
    900 | ...") as one line a backend: features switched on by name, others as
    name=value."""
    lines = [f"llama-cpp-python {version}"]
    for item in system_info.split("|"):
        if " : " in item:
            backend, item = item.split(" : ", 1)
            lines.append(f"{backend.strip()}:")
        name, _, value = (part.strip() for part in item.partition("="))
        if name and value != "0" and len(lines) > 1:
            lines[-1] += f" {name}" if value in ("1", "") else f" {name}={value}"
    lines.append(f"GPU offload: {'yes' if gpu_offload else 'no'}")
    return "\n".join(lines)


def cpu_features(info: str) -> set[str]:
    """The CPU features a build's kernels use, from `describe`'s text ("CPU: AVX2 ...")."""
    return {feature for line in info.splitlines() if line.startswith("CPU:")
            for feature in line.removeprefix("CPU:").split()}


def build_info() -> str:
    """What `refact-lsp --version` shows of the llama.cpp build in use."""
    return describe(llama_cpp.llama_print_system_info().decode("utf-8", "replace"),
                    bool(llama_cpp.llama_supports_gpu_offload()), llama_cpp.__version__)
