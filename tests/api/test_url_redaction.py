"""Redaction of credentials in URLs and in texts quoting URLs (no I/O)."""

from __future__ import annotations

import pytest

from kopf_informers._redaction import RedactedCause, redact, redacted_cause


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("http://user:secret@127.0.0.1:6443", "http://***@127.0.0.1:6443",
                 id="user-and-password"),
    pytest.param("https://token@k8s.example.com/", "https://***@k8s.example.com/",
                 id="token-as-user"),
    pytest.param("http://u:p@ss:w@rd@h:1/api", "http://***@h:1/api",
                 id="unencoded-at-in-password"),
    pytest.param("HTTPS://u:p%40ss@h", "HTTPS://***@h", id="upper-case-scheme"),
    pytest.param("failed to talk to http://u:s@h:1: InvalidURL: 'http://u:s@h:1/api/v1' x@y",
                 "failed to talk to http://***@h:1: InvalidURL: 'http://***@h:1/api/v1' x@y",
                 id="urls-inside-a-message"),
    pytest.param("http://h:1/?token=abc&limit=5", "http://h:1/?token=***&limit=5",
                 id="query-token"),
    pytest.param("http://h/?a=1&access_token=abc#f", "http://h/?a=1&access_token=***#f",
                 id="query-access-token"),
    pytest.param("http://h/?X-Amz-Signature=abc'", "http://h/?X-Amz-Signature=***'",
                 id="query-signature-before-a-quote"),
    pytest.param("http://h/?password=p&user=u", "http://h/?password=***&user=u",
                 id="query-password"),
])
def test_credentials_in_urls_are_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    "http://127.0.0.1:6443", "https://h/api/v1/namespaces/default/configmaps?limit=500",
    "http://h:1/path?email=a@b", "mail me at someone@example.com", "labelSelector=app=web",
    "",
])
def test_text_without_credentials_is_left_as_it_is(text: str) -> None:
    assert redact(text) == text


def test_an_exception_without_credentials_is_its_own_cause() -> None:
    error = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)")
    assert redacted_cause(error) is error


def test_an_exception_whose_args_show_credentials_is_replaced_by_its_redacted_text() -> None:
    class Quoting(Exception):
        def __str__(self) -> str:
            return "cannot connect"

    error = Quoting({"proxy": "http://u:secret@proxy:3128"})
    cause = redacted_cause(error)
    assert isinstance(cause, RedactedCause)
    assert str(cause).endswith("test_url_redaction.test_an_exception_whose_args_show_credentials_"
                               "is_replaced_by_its_redacted_text.<locals>.Quoting: cannot connect")
    assert "secret" not in repr(cause.args)


def test_an_exception_caused_by_one_that_shows_credentials_is_replaced() -> None:
    try:
        try:
            raise ValueError("bad URL http://u:secret@h:99999")
        except ValueError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        cause = redacted_cause(outer)
    assert isinstance(cause, RedactedCause)
    assert cause.__cause__ is None
    assert cause.__context__ is None
