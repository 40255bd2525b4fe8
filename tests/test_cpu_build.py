"""The llama.cpp build options for a CPU: every vector extension it has, never AMX; and
the note `refact-lsp doctor` gives where the installed build leaves some unused."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from refact_lsp import cpu_build, doctor
from refact_lsp.build_info import build_info, cpu_features
from refact_lsp.cpu_build import cmake_args, cpu_flags, unused_extensions

ZEN3 = {"sse4_2", "avx", "avx2", "fma", "f16c", "bmi2", "vaes", "vpclmulqdq", "sha_ni"}
SAPPHIRE_RAPIDS = ZEN3 | {"avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw",
                          "avx512vbmi", "avx512_vnni", "avx512_bf16", "avx_vnni",
                          "amx_tile", "amx_int8", "amx_bf16"}
SANDY_BRIDGE = {"sse4_2", "avx"}


def test_a_cpu_with_avx512_gets_every_extension_and_no_amx() -> None:
    args = cmake_args(SAPPHIRE_RAPIDS, "x86_64")
    assert args == ["-DGGML_NATIVE=OFF", "-DGGML_AVX512=ON", "-DGGML_AVX512_VBMI=ON",
                    "-DGGML_AVX512_VNNI=ON", "-DGGML_AVX512_BF16=ON", "-DGGML_AVX_VNNI=ON"]
    assert not [arg for arg in args if "AMX" in arg]


def test_a_cpu_with_avx2_only_gets_the_generic_build() -> None:
    assert cmake_args(ZEN3, "x86_64") == ["-DGGML_NATIVE=OFF"]
    assert cmake_args(set(), "x86_64") == ["-DGGML_NATIVE=OFF"]  # flags unknown


def test_an_older_cpu_gets_no_extension_it_lacks() -> None:
    """A generic build has AVX2 on: on a CPU without it that build would not run."""
    assert cmake_args(SANDY_BRIDGE, "x86_64") == [
        "-DGGML_NATIVE=OFF", "-DGGML_AVX2=OFF", "-DGGML_FMA=OFF", "-DGGML_F16C=OFF",
        "-DGGML_BMI2=OFF"]
    partial = SANDY_BRIDGE | {"avx2", "fma", "f16c", "bmi2", "avx512f"}  # not all AVX-512
    assert cmake_args(partial, "x86_64") == ["-DGGML_NATIVE=OFF"]


def test_other_machines_keep_llama_cpps_own_detection() -> None:
    assert cmake_args(SAPPHIRE_RAPIDS, "aarch64") == []


def test_the_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx avx2 avx512f\n\nprocessor\t: 1\n"
                    "flags\t\t: fpu\n")
    assert cpu_flags(info) == {"fpu", "avx", "avx2", "avx512f"}
    assert cpu_flags(tmp_path / "missing") == set()


def test_the_script_runs_before_anything_is_installed() -> None:
    """setup.sh runs it with the system's python3, before the venv has any package."""
    printed = subprocess.run([sys.executable, "-I", cpu_build.__file__], check=True,
                             capture_output=True, text=True).stdout.split()
    assert printed == cmake_args(cpu_flags(), platform.machine())


def test_doctor_notes_extensions_the_build_leaves_unused(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    info = ["llama-cpp-python 0.3.36", "CPU: SSE3 AVX AVX2 F16C FMA BMI2", "GPU offload: no"]
    monkeypatch.setattr(doctor, "cpu_flags", lambda: SAPPHIRE_RAPIDS)
    [line] = doctor._cpu_extensions(info)  # noqa: SLF001
    assert line.status == doctor.Status.NOTE
    assert "AVX512, AVX512_VBMI, AVX512_VNNI, AVX512_BF16, AVX_VNNI" in line.text
    assert "refact_lsp.cpu_build" in line.advice
    monkeypatch.setattr(doctor, "cpu_flags", lambda: ZEN3)
    assert doctor._cpu_extensions(info) == []  # noqa: SLF001


def test_the_installed_build_uses_every_extension_of_this_cpu() -> None:
    """What setup.sh built: nothing this CPU has is left unused, and no AMX."""
    used = cpu_features(build_info())
    assert "AVX2" in used or "avx2" not in cpu_flags()
    assert unused_extensions(cpu_flags(), used) == []
    assert not {feature for feature in used if feature.startswith("AMX")}
