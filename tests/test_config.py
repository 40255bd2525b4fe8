"""Settings from every source, and problems reported rather than fatal."""

from __future__ import annotations

from refact_lsp.config import Settings, editor_settings, from_environment


def test_camel_and_snake_case_keys_and_nested_engine():
    settings, problems = Settings().updated(
        {"maxTokens": 64, "fim_order": "psm", "engine": {"kind": "openai", "apiKey": "k"}})
    assert problems == []
    assert settings.max_tokens == 64 and settings.fim_order == "psm"
    assert settings.engine.kind == "openai" and settings.engine.api_key == "k"


def test_wrong_keys_and_types_keep_the_previous_value():
    settings, problems = Settings().updated({"maxTokens": "many", "noSuchKey": 1,
                                             "engine": 3, "flashAttn": "perhaps"})
    assert settings == Settings()
    assert len(problems) == 4


def test_environment_variables():
    values = from_environment({"REFACT_LSP_MAX_TOKENS": "32", "REFACT_LSP_ENGINE_URL": "u",
                               "REFACT_LSP_API_KEY": "secret", "REFACT_LSP_DISABLED_LANGUAGES":
                               "markdown, text", "OTHER": "x"})
    settings, problems = Settings().updated(values)
    assert problems == []
    assert settings.max_tokens == 32
    assert settings.engine.url == "u" and settings.engine.api_key == "secret"
    assert settings.disabled_languages == ("markdown", "text")


def test_the_api_key_is_never_in_the_repr():
    settings, _ = Settings().updated({"engine": {"apiKey": "sk-very-secret"}})
    assert "sk-very-secret" not in repr(settings)


def test_editor_payload_shapes():
    assert editor_settings({"refact": {"model": "m"}}) == {"model": "m"}
    assert editor_settings({"settings": {"refact": {"model": "m"}}}) == {"model": "m"}
    assert editor_settings({"model": "m"}) == {"model": "m"}
    assert editor_settings(None) == {}


def test_budgets_fit_the_context_and_favour_the_prefix():
    prefix, suffix = Settings().budgets()
    assert prefix + suffix <= 4096 - 128
    assert 2.5 < prefix / suffix < 3.5
    prefix, suffix = Settings().budgets(model_n_ctx=2048)
    assert prefix + suffix <= 2048 - 128


def test_an_api_key_does_not_follow_a_url_to_another_origin():
    given, _ = Settings().updated({"engine": {"url": "http://a:8080", "apiKey": "k123456"}})
    moved, problems = given.updated({"engine": {"url": "http://b:8080"}})
    assert moved.engine.api_key is None
    assert any("not sent there" in problem for problem in problems)
    same, problems = given.updated({"engine": {"url": "http://a:8080/v1"}})
    assert same.engine.api_key == "k123456" and problems == []
    both, _ = given.updated({"engine": {"url": "http://b:8080", "apiKey": "k654321"}})
    assert both.engine.api_key == "k654321"


def test_a_key_given_before_any_url_goes_to_the_first_url():
    keyed, _ = Settings().updated(from_environment({"REFACT_LSP_API_KEY": "k123456"}))
    first, problems = keyed.updated({"engine": {"url": "http://a:8080"}})
    assert first.engine.api_key == "k123456" and problems == []


def test_out_of_range_values_are_clamped_and_non_finite_ones_refused():
    settings, problems = Settings().updated(
        {"candidates": 10**6, "maxTokens": 0, "engine": {"timeoutS": "nan"},
         "temperature": float("inf"), "nCtx": 2**40})
    assert settings.candidates == 8 and settings.max_tokens == 1
    assert settings.engine.timeout_s == 30.0 and settings.temperature == 0.0
    assert settings.n_ctx == 2**31 - 1
    assert len(problems) == 5
