"""Request bodies decoded within the real decoders' limits: depth, and YAML aliases."""

from __future__ import annotations

from typing import Any

import pytest

from kopf_informers.testing.apiserver.apimachinery._decoding import (
    DecodeError,
    _excessive_aliasing,
    is_deeper_than,
    load_json,
    load_yaml,
)
from kopf_informers.testing.apiserver.apimachinery._limits import MAX_DEPTH, copy_for_storage
from kopf_informers.testing.apiserver.apimachinery._status import ApiStatusError

YAML_PREFIX = "error converting YAML to JSON: yaml: "
TOO_DEEP = f"exceeded max depth of {MAX_DEPTH}"


def arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(("value", "depth"), [
    pytest.param("scalar", 0, id="scalar"),
    pytest.param({}, 1, id="empty-object"),
    pytest.param({"a": [1, {"b": []}], "c": {}}, 4, id="mixed"),
    pytest.param([[[]], [[[[]]]]], 5, id="the-deepest-branch-counts"),
])
def test_depth_counts_the_objects_and_arrays_on_the_deepest_branch(value: Any, depth: int) -> None:
    assert not is_deeper_than(value, depth)
    assert is_deeper_than(value, depth - 1) == (depth > 0)


def test_json_nested_to_the_limit_decodes_and_one_level_more_does_not() -> None:
    decoded = load_json(arrays(MAX_DEPTH))
    assert is_deeper_than(decoded, MAX_DEPTH - 1)
    assert not is_deeper_than(decoded, MAX_DEPTH)
    for depth in (MAX_DEPTH + 1, 1024, 1025, 100_000):  # orjson's own limit is 1024
        with pytest.raises(DecodeError) as e:
            load_json(arrays(depth))
        assert str(e.value) == TOO_DEEP


def test_json_with_many_brackets_in_strings_is_not_deep() -> None:
    assert load_json(b'{"a": "' + b"[{" * 1000 + b'"}') == {"a": "[{" * 1000}


def test_undecodable_json_keeps_orjsons_words() -> None:
    with pytest.raises(DecodeError) as e:
        load_json(b"{nope")
    assert "expected a string key" in str(e.value)


@pytest.mark.parametrize("body", [
    pytest.param(arrays(MAX_DEPTH + 1), id="flow"),
    pytest.param(b"x:\n  " + b"- " * MAX_DEPTH + b"leaf", id="block"),
    pytest.param(b"a: &a " + arrays(MAX_DEPTH - 10) + b"\nb: " + b"[" * 11 + b"*a" + b"]" * 11,
                 id="alias-expanded"),
])
def test_yaml_nested_beyond_the_limit_is_refused_as_go_yaml_words_it(body: bytes) -> None:
    with pytest.raises(DecodeError) as e:
        load_yaml(body)
    assert str(e.value) == YAML_PREFIX + TOO_DEEP


def test_yaml_nested_to_the_limit_decodes_aliases_expanded() -> None:
    body = b"a: &a " + arrays(MAX_DEPTH - 11) + b"\nb: " + b"[" * 10 + b"*a" + b"]" * 10
    assert is_deeper_than(load_yaml(body), MAX_DEPTH - 1)


def test_yaml_billion_laughs_is_excessive_aliasing() -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi",
                                                                      strict=True)]
    with pytest.raises(DecodeError) as e:
        load_yaml("\n".join(lines).encode())
    assert str(e.value) == YAML_PREFIX + "document contains excessive aliasing"


def test_yaml_made_mostly_of_aliases_within_the_budget_decodes() -> None:
    # 100 aliases of a list of 100: 10,000 of 10,305 nodes (97%) are aliased; 99% may be.
    body = b"a: &a [" + b", ".join([b"x"] * 100) + b"]\nb: [" + b", ".join([b"*a"] * 100) + b"]"
    decoded = load_yaml(body)
    assert len(decoded["b"]) == 100
    assert decoded["b"][99] == ["x"] * 100


@pytest.mark.parametrize(("decoded", "aliased", "excessive"), [
    pytest.param(1000, 999, False, id="at-most-1000-nodes"),
    pytest.param(100_000, 100, False, id="at-most-100-aliased"),
    pytest.param(1001, 991, True, id="over-99%"),
    pytest.param(1001, 990, False, id="under-99%"),
    pytest.param(2_200_000, 1_199_000, True, id="over-54.5%-halfway"),
    pytest.param(2_200_000, 1_198_000, False, id="under-54.5%-halfway"),
    pytest.param(5_000_000, 500_001, True, id="over-10%-beyond"),
])
def test_yaml_alias_budget_is_go_yamls_ratio(decoded: int, aliased: int, excessive: bool) -> None:
    assert _excessive_aliasing(decoded, aliased) == excessive


@pytest.mark.parametrize("body", [
    pytest.param(b"a: &a [*a]", id="sequence"),
    pytest.param(b"a: &a {b: *a}", id="mapping"),
    pytest.param(b"a: &a {b: [{c: *a}]}", id="deeper"),
])
def test_yaml_anchor_containing_itself_is_refused(body: bytes) -> None:
    with pytest.raises(DecodeError) as e:
        load_yaml(body)
    assert str(e.value) == YAML_PREFIX + "anchor 'a' value contains itself"


@pytest.mark.parametrize(("body", "message"), [
    pytest.param(b"a: b: c", "line 1: mapping values are not allowed here", id="syntax"),
    pytest.param(b"x: 2020-13-45", "month must be in 1..12", id="impossible-date"),
    pytest.param(b"a: *nowhere", "line 1: found undefined alias 'nowhere'", id="undefined-alias"),
])
def test_undecodable_yaml_is_a_decode_error_with_pyyamls_words(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError) as e:
        load_yaml(body)
    assert str(e.value) == YAML_PREFIX + message


def test_a_stored_object_is_copied_to_the_limit_and_refused_beyond() -> None:
    value: Any = "leaf"
    for _ in range(MAX_DEPTH):
        value = {"a": value}
    copied = copy_for_storage(value)
    assert copied == value
    assert copied is not value
    with pytest.raises(ApiStatusError) as e:
        copy_for_storage({"deeper": value})
    assert (e.value.code, e.value.body["reason"]) == (422, "Invalid")
    assert e.value.body["message"].endswith(TOO_DEEP)


@pytest.mark.parametrize("value", [
    pytest.param({"set": {1, 2}}, id="yaml-set"),
    pytest.param({"big": 2**64}, id="integer-beyond-64-bits"),
])
def test_a_stored_object_json_cannot_hold_is_400(value: Any) -> None:
    with pytest.raises(ApiStatusError) as e:
        copy_for_storage(value)
    assert e.value.code == 400
