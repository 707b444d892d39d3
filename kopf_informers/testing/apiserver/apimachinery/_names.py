"""Names as apimachinery validates them: DNS-1123 subdomains and labels, DNS-1035 labels, label
keys and values, and object names built from them.

Where it sits: the checks return the reasons a name is invalid, as plain strings in
kube-apiserver's words (empty if it is valid); ``_objectmeta``, ``_crd_validation`` and the
``k8s*name`` formats (``_formats``) turn them into causes or verdicts.
"""

from __future__ import annotations

import re

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _LABEL_KEY_FMT + ")?"
_DNS1123_LABEL = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL = re.compile(_DNS1035_LABEL_FMT)
_LABEL_KEY = re.compile(_LABEL_KEY_FMT)
_LABEL_VALUE = re.compile(_LABEL_VALUE_FMT)

_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character"
)
_LABEL_KEY_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character"
)


def _regex_error(message: str, regex: str, *examples: str) -> str:
    if not examples:
        return f"{message} (regex used for validation is '{regex}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{regex}')"


def _max_len_error(length: int, unit: str = "characters") -> str:
    return f"must be no more than {length} {unit}"


def validate_object_name(
    name: str, *, label: bool = False, path_segment: bool = False, prefix: bool = False
) -> list[str]:
    """Why ``name`` is not a valid object name; empty if it is.

    A DNS-1123 subdomain by default, a DNS-1123 label if ``label`` (namespaces, services), a
    mere path segment if ``path_segment`` (RBAC kinds). With ``prefix``, ``name`` is a
    ``generateName`` and may end with a dash.
    """
    if path_segment:
        return _path_segment(name, prefix)
    if prefix and len(name) > 1 and name.endswith("-"):
        name = name[:-2] + "a"  # apimachinery's maskTrailingDash(), odd as it is
    return dns1123_label(name) if label else dns1123_subdomain(name)


def _path_segment(name: str, prefix: bool) -> list[str]:
    if not prefix and name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{char}'" for char in "/%" if char in name]


def dns1123_subdomain(value: str, unit: str = "characters") -> list[str]:
    errors = [_max_len_error(253, unit)] if len(value) > 253 else []
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        errors.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errors


def dns1123_label(value: str) -> list[str]:
    errors = [_max_len_error(63)] if len(value) > 63 else []
    if _DNS1123_LABEL.fullmatch(value):
        pass
    elif _DNS1123_SUBDOMAIN.fullmatch(value):
        errors.append("must not contain dots")
    else:
        errors.append(
            _regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc")
        )
    return errors


def dns1035_label(value: str) -> list[str]:
    errors = [_max_len_error(63)] if len(value) > 63 else []
    if not _DNS1035_LABEL.fullmatch(value):
        errors.append(_regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errors


def label_key(key: str) -> list[str]:
    """Why ``key`` is not a qualified name (label keys, annotation keys, finalizers)."""
    parts = key.split("/")
    if len(parts) > 2:
        return [
            "a valid label key "
            + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    errors = []
    if len(parts) == 2:
        if not parts[0]:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + e for e in dns1123_subdomain(parts[0], "bytes"))
    name = parts[-1]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part " + _max_len_error(63, "bytes"))
    if not _LABEL_KEY.fullmatch(name):
        errors.append(
            "name part "
            + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def label_value(value: str) -> list[str]:
    errors = [_max_len_error(63, "bytes")] if len(value) > 63 else []
    if not _LABEL_VALUE.fullmatch(value):
        errors.append(
            _regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return errors
