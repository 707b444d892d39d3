"""String formats of OpenAPI schemas: the ones kube-apiserver keeps in CRD schemas.

Where it sits: ``_schema_validation`` looks a string's ``format`` up in :data:`FORMATS` (with
dashes removed: ``date-time`` is ``datetime``) and reports a type error if the check says no;
formats not in the table are ignored, as on the real server. The checks are close
approximations of go-openapi's ``strfmt``; ``isbn*`` and ``creditcard`` are not checked.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Callable, Mapping

from ._names import dns1123_label, dns1123_subdomain


def _matches(pattern: str, flags: int = 0) -> Callable[[str], bool]:
    compiled = re.compile(pattern, flags)
    return lambda value: compiled.fullmatch(value) is not None


_HOST_CHAR = "a-zA-Z0-9\u0080-\U0010ffff"  # \p{L} and \p{S}, approximated by "not ASCII"
_HOSTNAME = re.compile(
    f"[{_HOST_CHAR}]((-?[{_HOST_CHAR}]{{0,62}})?)"
    f"|([{_HOST_CHAR}](([{_HOST_CHAR}-]{{0,61}}[{_HOST_CHAR}])?)(\\.)){{1,}}"
    "([a-zA-Z\u0080-\U0010ffff]){2,63}"
)
_IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_TIME = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))")
_GO_DURATION = re.compile(r"[-+]?(0|(\d*\.?\d+(ns|us|µs|μs|ms|s|m|h))+)")
_LOOSE_DURATION = re.compile(r"(\d+)\s*([A-Za-zµ]+)")
_DURATION_UNITS = (
    ("ns", "nano"), ("us", "µs", "micro"), ("ms", "milli"), ("s", "sec"), ("m", "min"),
    ("h", "hr", "hour"), ("d", "day"), ("w", "wk", "week"),
)


def _is_date(value: str) -> bool:
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", value)
    try:
        return match is not None and bool(datetime.date(*map(int, match.groups())))
    except ValueError:
        return False


def _is_datetime(value: str) -> bool:
    parts = value.lower().split("t")
    if len(value) < 4 or len(parts) < 2 or not _is_date(parts[0]):
        return False
    match = _TIME.fullmatch(parts[1])
    return match is not None and match[1] <= "23" and match[2] <= "59" and match[3] <= "59"


def _is_ip(value: str) -> bool:
    if _IPV4.fullmatch(value):
        return all(int(part) <= 255 for part in value.split("."))
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return "%" not in value


def _is_cidr(value: str) -> bool:
    address, slash, bits = value.partition("/")
    if not slash or not bits.isdigit() or not _is_ip(address):
        return False
    return int(bits) <= (32 if _IPV4.fullmatch(address) else 128)


def _is_hostname(value: str) -> bool:
    parts = value.split(".")
    return bool(_HOSTNAME.fullmatch(value)) and len(value) <= 255 and max(map(len, parts)) <= 63


def _is_duration(value: str) -> bool:
    if _GO_DURATION.fullmatch(value):
        return True
    for _, unit in _LOOSE_DURATION.findall(value):
        unit = unit.lower()
        if any(unit in variants or unit.startswith(variants[-1]) for variants in _DURATION_UNITS):
            return True
    return False


_UUID = "[0-9a-f]{8}-?[0-9a-f]{4}-?%s[0-9a-f]{3}-?%s[0-9a-f]{3}-?[0-9a-f]{12}"
_HEX2 = "[0-9a-fA-F]{2}"
_RGB_PART = r"\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*"
FORMATS: Mapping[str, Callable[[str], bool]] = {
    "bsonobjectid": _matches("[0-9a-fA-F]{24}"),
    "uri": _matches(r"(/|[a-zA-Z][a-zA-Z0-9+.-]*:)\S*"),
    "email": _matches(r"([^<>]*<)?[^@\s<>]+@[^@\s<>]+>?"),
    "hostname": _is_hostname,
    "ipv4": lambda value: "." in value and _is_ip(value),
    "ipv6": lambda value: ":" in value and _is_ip(value),
    "cidr": _is_cidr,
    "mac": _matches(
        f"{_HEX2}([:-]{_HEX2}){{5}}(([:-]{_HEX2}){{2}}|([:-]{_HEX2}){{14}})?"
        r"|[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4}){2}((\.[0-9a-fA-F]{4})|(\.[0-9a-fA-F]{4}){7})?"
    ),
    "uuid": _matches(_UUID % ("[0-9a-f]", "[0-9a-f]"), re.IGNORECASE),
    "uuid3": _matches(_UUID % ("3", "[0-9a-f]"), re.IGNORECASE),
    "uuid4": _matches(_UUID % ("4", "[89ab]"), re.IGNORECASE),
    "uuid5": _matches(_UUID % ("5", "[89ab]"), re.IGNORECASE),
    "ssn": _matches(r"\d{3}[- ]?\d{2}[- ]?\d{4}"),
    "hexcolor": _matches("#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})"),
    "rgbcolor": _matches(f"rgb\\({_RGB_PART},{_RGB_PART},{_RGB_PART}\\)"),
    "byte": _matches(
        r"([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})"
    ),
    "date": _is_date,
    "duration": _is_duration,
    "datetime": _is_datetime,
    "k8sshortname": lambda value: not dns1123_label(value),
    "k8slongname": lambda value: not dns1123_subdomain(value),
}
