"""FIM templates detected from a vocabulary, and prompt layouts."""

from __future__ import annotations

import pytest

from refact_lsp.prompts import (
    TEMPLATES,
    ContextFile,
    FimOrder,
    context_cost,
    detect_template,
    render,
    template_named,
)

VOCABULARIES = {
    "qwen": {"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|endoftext|>"},
    "refact": {"<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<empty_output>"},
    "starcoder": {"<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>"},
    "deepseek": {"<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"},
    "codellama": {"<PRE>", "<SUF>", "<MID>", "<EOT>"},
}


@pytest.mark.parametrize("name", VOCABULARIES)
def test_templates_are_detected_from_the_vocabulary(name):
    assert detect_template(VOCABULARIES[name].__contains__, None).name == name


def test_refact_is_detected_by_architecture_too():
    vocabulary = VOCABULARIES["starcoder"]
    assert detect_template(vocabulary.__contains__, "refact").name == "refact"


def test_a_model_without_fim_tokens_is_refused():
    with pytest.raises(ValueError, match="no fill-in-the-middle tokens"):
        detect_template({"<s>", "</s>"}.__contains__, "llama")


def test_refact_defaults_to_suffix_first():
    prompt = render(TEMPLATES["refact"], "auto", "def f(", ")\n")
    assert prompt.parts == (("<fim_suffix>", True), (")\n", False), ("<fim_prefix>", True),
                            ("def f(", False), ("<fim_middle>", True))


def test_qwen_is_prefix_first_and_file_text_is_never_special():
    prompt = render(TEMPLATES["qwen"], "psm", "a <|endoftext|>", "b")
    assert prompt.parts[0] == ("<|fim_prefix|>", True)
    assert ("a <|endoftext|>", False) in prompt.parts


def test_auto_is_split_for_models_trained_on_psm_only():
    assert TEMPLATES["qwen"].resolve_order("auto") == FimOrder.SPLIT
    assert TEMPLATES["refact"].resolve_order("auto") == FimOrder.SPM


def test_split_layout_puts_the_cursor_region_last():
    prompt = render(TEMPLATES["qwen"], FimOrder.SPLIT, "import x\ndef f():\n    ", "\nmain()\n",
                    region_start=9)
    assert prompt.text == ("<|fim_prefix|>import x\n<|fim_suffix|>\nmain()\n<|fim_middle|>"
                           "def f():\n    ")


def test_other_files_in_the_models_own_form():
    files = [ContextFile("util.py", "def helper(): pass")]
    qwen = render(TEMPLATES["qwen"], "psm", "x", "y", files, path="main.py").text
    assert qwen.startswith("<|file_sep|>util.py\ndef helper(): pass\n<|file_sep|>main.py\n")
    named = render(TEMPLATES["qwen"], "psm", "x", "y", files, path="pkg/main.py", repo="app")
    assert named.text.startswith("<|repo_name|>app\n<|file_sep|>util.py\ndef helper(): pass\n"
                                 "<|file_sep|>pkg/main.py\n<|fim_prefix|>x")
    lead = named.text.split("<|fim_prefix|>")[0]  # counted with a special token as one
    assert context_cost(TEMPLATES["qwen"], files, "pkg/main.py", "#", len, "app") \
        == len(lead) - (len("<|repo_name|>") - 1) - 2 * (len("<|file_sep|>") - 1)
    deepseek = render(TEMPLATES["deepseek"], "psm", "x", "y", files).text
    assert "# Path: util.py\n# def helper(): pass\n" in deepseek


def test_custom_templates_from_a_format_string():
    template = template_named("<PRE> {prefix} <SUF>{suffix} <MID>")
    assert template.specials == ("<PRE>", "<SUF>", "<MID>")
    assert render(template, "auto", "p", "s").text == "<PRE> p <SUF>s <MID>"
    with pytest.raises(ValueError):
        template_named("no placeholders")
