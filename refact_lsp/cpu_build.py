"""The llama.cpp build options for this CPU: every vector extension it has, never AMX.

A native build (`-march=native`) also switches on AMX, whose kernels crash on some
Xeons; a generic one (`GGML_NATIVE=OFF`) stops at AVX2 and leaves AVX-512 and AVX-VNNI
unused where the CPU has them. This names each extension the CPU reports, so the build
uses them all and no AMX. Standard library only: `setup.sh` runs it before anything is
installed (`python3 refact_lsp/cpu_build.py` prints the CMake arguments).
"""

from __future__ import annotations

import platform
from pathlib import Path

# ggml's optional CMake options (off in a generic build) -> the /proc/cpuinfo flags each
# needs (GGML_AVX512 compiles with -mavx512f/cd/vl/dq/bw); AMX is never named.
AVX512 = ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")
EXTENSIONS = {
    "GGML_AVX512": AVX512,
    "GGML_AVX512_VBMI": (*AVX512, "avx512vbmi"),
    "GGML_AVX512_VNNI": (*AVX512, "avx512_vnni"),
    "GGML_AVX512_BF16": (*AVX512, "avx512_bf16"),
    "GGML_AVX_VNNI": ("avx_vnni",),
}
# The options a generic build has on -> their flag: switched off where the CPU lacks it.
BASELINE = {"GGML_SSE42": "sse4_2", "GGML_AVX": "avx", "GGML_AVX2": "avx2",
            "GGML_FMA": "fma", "GGML_F16C": "f16c", "GGML_BMI2": "bmi2"}


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The first processor's flags; empty where there is no /proc/cpuinfo."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "flags":
            return set(value.split())
    return set()


def cmake_args(flags: set[str], machine: str) -> list[str]:
    """CMake arguments for a CPU with these flags: on x86-64 the generic build, minus
    any baseline extension it lacks, plus each optional one it has; elsewhere (ARM)
    llama.cpp's own native detection, which has no AMX to fear."""
    if machine.lower() not in ("x86_64", "amd64"):
        return []
    args = ["-DGGML_NATIVE=OFF"]
    if flags:  # where the flags are unknown, the generic build as it is
        args += [f"-D{option}=OFF" for option, flag in BASELINE.items() if flag not in flags]
    args += [f"-D{option}=ON" for option, needed in EXTENSIONS.items()
             if flags.issuperset(needed)]
    return args


def unused_extensions(flags: set[str], build_features: set[str]) -> list[str]:
    """Optional extensions the CPU has and the loaded build does not use (its features
    as llama.cpp names them: AVX512, AVX512_VNNI, ...)."""
    return [option.removeprefix("GGML_") for option, needed in EXTENSIONS.items()
            if flags.issuperset(needed) and option.removeprefix("GGML_") not in build_features]


if __name__ == "__main__":
    print(" ".join(cmake_args(cpu_flags(), platform.machine())))
