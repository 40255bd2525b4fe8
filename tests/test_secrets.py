"""Redaction of secrets (pure): keys, their fragments, URL credentials."""

from __future__ import annotations

import logging

from refact_lsp.secrets import RedactingFilter, Secrets, display_url, origin

KEY = "sk-abcdefghijklmnopqrstuvwxyz0123456789"


def test_a_remembered_key_and_every_long_piece_of_it_are_masked() -> None:
    secrets = Secrets()
    secrets.remember([KEY, None, "short"])
    assert KEY not in secrets.redact(f"error for {KEY}!")
    cut = f"upstream failed for Bearer {KEY}"[:40]  # a cut leaves a piece of the key
    assert "abcdefgh"[:8] not in secrets.redact(cut)
    piece = KEY[10:19]
    assert secrets.redact(f"see {piece} here") == "see *** here"
    assert secrets.redact("nothing secret, short is a word") == \
        "nothing secret, short is a word"


def test_api_key_fields_and_bearer_tokens_are_masked_without_being_known() -> None:
    secrets = Secrets()
    assert secrets.redact('{"apiKey": "abcdef123456"}') == '{"apiKey": "***"}'
    assert secrets.redact("Authorization: Bearer zyx987654321") == \
        "Authorization: Bearer ***"
    assert secrets.redact("{'api_key': 'abcdef123456'} api_key=abcdef123456") == \
        "{'api_key': '***'} api_key=***"
    prose = "set engine.apiKey or the REFACT_LSP_API_KEY environment variable"
    assert secrets.redact(prose) == prose


def test_url_credentials_are_never_shown() -> None:
    secrets = Secrets()
    assert secrets.redact("cannot reach https://bob:pa55word@host:8443/v1 now") == \
        "cannot reach https://***@host:8443/v1 now"
    assert display_url("https://bob:pa55word@host:8443/v1") == "https://host:8443/v1"
    assert display_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"


def test_origins_compare_scheme_host_and_port() -> None:
    assert origin("http://Host") == origin("http://host:80/v1")
    assert origin("https://host") != origin("http://host")
    assert origin("http://host:8080") != origin("http://host:8081")
    assert origin(None) is None
    assert origin("http://[::1") != origin("http://[::1]")


def test_the_log_filter_redacts_messages_and_tracebacks() -> None:
    secrets = Secrets()
    secrets.remember([KEY])
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed: %s", (KEY,), None)
    try:
        raise ValueError(KEY)
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter(secrets).filter(record)
    assert KEY not in record.getMessage() and KEY not in (record.exc_text or "")
