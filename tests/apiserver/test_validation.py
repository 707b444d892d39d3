"""The embedded API server validates, prunes and defaults objects as kube-apiserver does.

Expected messages are kube-apiserver's own texts (apimachinery field errors, kube-openapi
schema validation, apiextensions CRD validation): clients and tests match on them.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kopf_informers.testing.apiserver.admission._validation import (
    Cause,
    apply_defaults,
    invalid,
    invalid_message,
    not_supported,
    prune,
    required,
    too_long,
    too_many,
    validate_crd,
    validate_custom_object,
    validate_metadata,
    validate_object_name,
)

SUBDOMAIN_ERROR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    r"used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_ERROR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_ERROR = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
LABEL_KEY_NAME_ERROR = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_ERROR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


def spec_schema(**properties: Any) -> dict[str, Any]:
    """A CRD root schema whose ``spec`` has the given properties."""
    return {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": properties}},
    }


def with_spec(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Foo", "metadata": {"name": "x"}, "spec": spec}


def as_tuples(causes: list[Cause]) -> list[tuple[str, str, str]]:
    return [(c.field, c.type, c.message) for c in causes]


# Causes and the top-level message.


def test_cause_serialises_as_a_status_cause_with_reason_message_and_field() -> None:
    cause = required("spec.name")
    assert cause.to_json() == {
        "reason": "FieldValueRequired", "message": "Required value", "field": "spec.name",
    }
    assert str(cause) == "spec.name: Required value"


def test_invalid_message_for_one_cause_is_the_real_servers_message() -> None:
    schema = spec_schema(replicas={"type": "integer"})
    causes = validate_custom_object(with_spec(replicas="string"), schema)
    message = invalid_message("Foo", "example-foo", causes, group="samplecontroller.k8s.io")
    assert message == (
        'Foo.samplecontroller.k8s.io "example-foo" is invalid: spec.replicas: Invalid value: '
        '"string": spec.replicas in body must be of type integer: "string"'
    )


def test_invalid_message_brackets_several_causes_and_drops_duplicates() -> None:
    causes = [required("spec.a"), required("spec.b"), required("spec.a")]
    message = invalid_message("Foo.example.com", "x", causes)
    assert message == (
        'Foo.example.com "x" is invalid: [spec.a: Required value, spec.b: Required value]'
    )


def test_invalid_message_of_one_cause_repeated_has_no_brackets() -> None:
    message = invalid_message("Pod", "x", [required("spec.a"), required("spec.a")])
    assert message == 'Pod "x" is invalid: spec.a: Required value'


def test_invalid_message_without_causes_says_nil_like_go() -> None:
    assert invalid_message("Pod", "x", []) == 'Pod "x" is invalid: <nil>'


@pytest.mark.parametrize(("value", "rendered"), [
    pytest.param(3, "3", id="int"),
    pytest.param(2.5, "2.5", id="float"),
    pytest.param(3.0, "3", id="whole-float"),
    pytest.param(1e6, "1e+06", id="large-float-in-e-notation"),
    pytest.param(0.00001, "1e-05", id="small-float-in-e-notation"),
    pytest.param(True, "true", id="bool"),
    pytest.param("a", '"a"', id="string"),
    pytest.param('say "hi"\n', r'"say \"hi\"\n"', id="string-escaped"),
    pytest.param("\x01é", r'"\x01é"', id="string-control-and-unicode"),
    pytest.param(None, "null", id="null-as-json"),
    pytest.param({"b": 1, "a": [1.0, "<"]}, r'{"a":[1,"\u003c"],"b":1}', id="object-as-go-json"),
    pytest.param(1e21, "1e+21", id="huge-float"),
])
def test_bad_values_are_printed_as_go_prints_them(value: Any, rendered: str) -> None:
    assert invalid("f", value, "detail").message == f"Invalid value: {rendered}: detail"


@pytest.mark.parametrize(("cause", "reason", "message"), [
    pytest.param(required("f", "why"), "FieldValueRequired", "Required value: why", id="required"),
    pytest.param(
        not_supported("f", "c", ["a", "b"]), "FieldValueNotSupported",
        'Unsupported value: "c": supported values: "a", "b"', id="not-supported",
    ),
    pytest.param(
        too_long("f", 5), "FieldValueTooLong", "Too long: may not be more than 5 bytes",
        id="too-long",
    ),
    pytest.param(
        too_long("f", 1), "FieldValueTooLong", "Too long: may not be more than 1 byte",
        id="too-long-singular",
    ),
    pytest.param(
        too_many("f", 4, 3), "FieldValueTooMany", "Too many: 4: must have at most 3 items",
        id="too-many",
    ),
])
def test_cause_constructors_word_their_messages_like_apimachinery(
    cause: Cause, reason: str, message: str
) -> None:
    assert (cause.type, cause.message) == (reason, message)


# Object names.


@pytest.mark.parametrize(("name", "kwargs", "errors"), [
    pytest.param("example.com", {}, [], id="subdomain"),
    pytest.param("a" * 253, {}, [], id="subdomain-at-the-limit"),
    pytest.param("Example", {}, [SUBDOMAIN_ERROR], id="uppercase"),
    pytest.param("-a", {}, [SUBDOMAIN_ERROR], id="leading-dash"),
    pytest.param("a\n", {}, [SUBDOMAIN_ERROR], id="trailing-newline"),
    pytest.param(
        "a" * 254, {}, ["must be no more than 253 characters"], id="subdomain-too-long",
    ),
    pytest.param("my-ns", {"label": True}, [], id="label"),
    pytest.param("a.b", {"label": True}, ["must not contain dots"], id="label-with-dots"),
    pytest.param("a_b", {"label": True}, [LABEL_ERROR], id="label-with-underscore"),
    pytest.param(
        "a" * 64, {"label": True}, ["must be no more than 63 characters"], id="label-too-long",
    ),
    pytest.param("gen-", {"prefix": True}, [], id="generate-name-prefix-with-dash"),
    pytest.param("system:admin", {"path_segment": True}, [], id="path-segment"),
    pytest.param("..", {"path_segment": True}, ["may not be '..'"], id="path-segment-dots"),
    pytest.param(
        "a/b%", {"path_segment": True}, ["may not contain '/'", "may not contain '%'"],
        id="path-segment-slash-and-percent",
    ),
])
def test_object_names_are_checked_as_dns_names(
    name: str, kwargs: dict[str, bool], errors: list[str]
) -> None:
    assert validate_object_name(name, **kwargs) == errors


# Metadata.


def meta_causes(
    meta: Any, *, namespaced: bool = True, **kwargs: bool
) -> list[tuple[str, str, str]]:
    if isinstance(meta, dict) and namespaced:
        meta = {"namespace": "default", **meta}
    return as_tuples(validate_metadata({"metadata": meta}, namespaced=namespaced, **kwargs))


def test_valid_metadata_has_no_causes() -> None:
    meta = {
        "name": "foo", "labels": {"app.kubernetes.io/name": "foo", "tier": ""},
        "annotations": {"example.com/Note": "x"}, "finalizers": ["example.com/cleanup"],
        "generation": 3,
    }
    assert meta_causes(meta) == []


@pytest.mark.parametrize(("meta", "expected"), [
    pytest.param({}, [(
        "metadata.name", "FieldValueRequired",
        "Required value: name or generateName is required",
    )], id="no-name"),
    pytest.param({"name": "Foo"}, [(
        "metadata.name", "FieldValueInvalid", f'Invalid value: "Foo": {SUBDOMAIN_ERROR}',
    )], id="bad-name"),
    pytest.param({"generateName": "Foo-"}, [(
        "metadata.generateName", "FieldValueInvalid",
        f'Invalid value: "Foo-": {SUBDOMAIN_ERROR}',
    )], id="bad-generate-name"),
    pytest.param({"name": "x", "generation": -1}, [(
        "metadata.generation", "FieldValueInvalid",
        "Invalid value: -1: must be greater than or equal to 0",
    )], id="negative-generation"),
    pytest.param({"name": "x", "labels": {"a/b/c": "v"}}, [(
        "metadata.labels", "FieldValueInvalid",
        "Invalid value: \"a/b/c\": a valid label key must consist of alphanumeric characters, "
        "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', "
        " or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and "
        "'/' (e.g. 'example.com/MyName')",
    )], id="label-key-with-two-slashes"),
    pytest.param({"name": "x", "labels": {"-a": "v"}}, [(
        "metadata.labels", "FieldValueInvalid", f'Invalid value: "-a": {LABEL_KEY_NAME_ERROR}',
    )], id="label-key-with-leading-dash"),
    pytest.param({"name": "x", "labels": {"Bad_/a": "v"}}, [(
        "metadata.labels", "FieldValueInvalid",
        f'Invalid value: "Bad_/a": prefix part {SUBDOMAIN_ERROR}',
    )], id="label-key-with-bad-prefix"),
    pytest.param({"name": "x", "labels": {"a": "b c"}}, [(
        "metadata.labels", "FieldValueInvalid", f'Invalid value: "b c": {LABEL_VALUE_ERROR}',
    )], id="label-value-with-space"),
    pytest.param({"name": "x", "labels": {"a": "v" * 64}}, [(
        "metadata.labels", "FieldValueInvalid",
        f'Invalid value: "{"v" * 64}": must be no more than 63 bytes',
    )], id="label-value-too-long"),
    pytest.param({"name": "x", "annotations": {"a b": "v"}}, [(
        "metadata.annotations", "FieldValueInvalid",
        f'Invalid value: "a b": {LABEL_KEY_NAME_ERROR}',
    )], id="annotation-key-with-space"),
    pytest.param({"name": "x", "annotations": {"a": "v" * 262144}}, [(
        "metadata.annotations", "FieldValueTooLong",
        "Too long: may not be more than 262144 bytes",
    )], id="annotations-too-large"),
    pytest.param({"name": "x", "finalizers": ["a b"]}, [(
        "metadata.finalizers", "FieldValueInvalid",
        f'Invalid value: "a b": {LABEL_KEY_NAME_ERROR}',
    )], id="bad-finalizer"),
])
def test_bad_metadata_is_reported_with_the_real_field_and_message(
    meta: dict[str, Any], expected: list[tuple[str, str, str]]
) -> None:
    assert meta_causes(meta) == expected


def test_generate_name_alone_is_enough_since_the_server_generates_the_name() -> None:
    assert meta_causes({"generateName": "foo-"}) == []


def test_namespaced_objects_need_a_valid_namespace() -> None:
    causes = validate_metadata({"metadata": {"name": "x"}}, namespaced=True)
    assert as_tuples(causes) == [("metadata.namespace", "FieldValueRequired", "Required value")]
    causes = validate_metadata({"metadata": {"name": "x", "namespace": "a.b"}}, namespaced=True)
    assert as_tuples(causes) == [
        ("metadata.namespace", "FieldValueInvalid", 'Invalid value: "a.b": must not contain dots'),
    ]


def test_cluster_scoped_objects_may_not_have_a_namespace() -> None:
    causes = validate_metadata({"metadata": {"name": "x", "namespace": "a"}}, namespaced=False)
    assert as_tuples(causes) == [
        ("metadata.namespace", "FieldValueForbidden", "Forbidden: not allowed on this type"),
    ]


def test_label_names_make_object_names_dns_labels() -> None:
    meta = {"name": "a.b"}
    assert meta_causes(meta, namespaced=False) == []
    assert meta_causes(meta, namespaced=False, label_names=True) == [
        ("metadata.name", "FieldValueInvalid", 'Invalid value: "a.b": must not contain dots'),
    ]


def test_path_segment_names_allow_colons_but_not_slashes() -> None:
    assert meta_causes({"name": "system:x"}, namespaced=False, path_segment_names=True) == []
    assert meta_causes({"name": "a/b"}, namespaced=False, path_segment_names=True) == [
        ("metadata.name", "FieldValueInvalid", "Invalid value: \"a/b\": may not contain '/'"),
    ]


@pytest.mark.parametrize(("meta", "message"), [
    pytest.param(
        "x", 'Invalid value: "x": expected map[string]interface{}, got string', id="string",
    ),
    pytest.param(
        [], "Invalid value: []: expected map[string]interface{}, got []interface {}", id="list",
    ),
    pytest.param(
        {"name": 1}, 'Invalid value: {"name":1}: cannot convert int64 to string', id="int-name",
    ),
    pytest.param(
        {"labels": ["a"]}, 'Invalid value: {"labels":["a"]}: cannot restore map from slice',
        id="list-labels",
    ),
    pytest.param(
        {"labels": {"a": 1}}, 'Invalid value: {"labels":{"a":1}}: cannot convert int64 to string',
        id="int-label-value",
    ),
])
def test_malformed_metadata_is_one_cause_on_metadata(meta: Any, message: str) -> None:
    assert meta_causes(meta, namespaced=False) == [("metadata", "FieldValueInvalid", message)]


# Custom objects against structural schemas: one accepted and one rejected case per keyword.

KEYWORD_CASES = [
    # type
    pytest.param({"type": "integer"}, 3, [], id="integer-accepts-int"),
    pytest.param({"type": "integer"}, 3.0, [], id="integer-accepts-whole-float"),
    pytest.param({"type": "integer"}, "string", [(
        "spec.f", "FieldValueTypeInvalid",
        'Invalid value: "string": spec.f in body must be of type integer: "string"',
    )], id="integer-rejects-string"),
    pytest.param({"type": "integer"}, True, [(
        "spec.f", "FieldValueTypeInvalid",
        'Invalid value: "boolean": spec.f in body must be of type integer: "boolean"',
    )], id="integer-rejects-bool"),
    pytest.param({"type": "integer"}, 2.5, [
        ("spec.f", "FieldValueTypeInvalid",
         'Invalid value: "number": spec.f in body must be of type integer: "number"'),
        ("<nil>", "FieldValueInvalid",
         'Invalid value: "": Checked value must be of type integer (default format) in spec.f'),
    ], id="integer-rejects-fraction-twice-like-kube-openapi"),
    pytest.param({"type": "number"}, 1, [], id="number-accepts-int"),
    pytest.param({"type": "number"}, 1.5, [], id="number-accepts-float"),
    pytest.param({"type": "number"}, "1", [(
        "spec.f", "FieldValueTypeInvalid",
        'Invalid value: "string": spec.f in body must be of type number: "string"',
    )], id="number-rejects-string"),
    pytest.param({"type": "string"}, "", [], id="string-accepts-empty"),
    pytest.param({"type": "string"}, 1, [(
        "spec.f", "FieldValueTypeInvalid",
        'Invalid value: "integer": spec.f in body must be of type string: "integer"',
    )], id="string-rejects-int"),
    pytest.param({"type": "boolean"}, False, [], id="boolean-accepts-false"),
    pytest.param({"type": "boolean"}, "true", [(
        "spec.f", "FieldValueTypeInvalid",
        'Invalid value: "string": spec.f in body must be of type boolean: "string"',
    )], id="boolean-rejects-string"),
    pytest.param({"type": "object"}, {}, [], id="object-accepts-dict"),
    pytest.param({"type": "object"}, [], [(
        "spec.f", "FieldValueTypeInvalid",
        'Invalid value: "array": spec.f in body must be of type object: "array"',
    )], id="object-rejects-list"),
    pytest.param({"type": "array", "items": {"type": "string"}}, ["a"], [], id="array-accepts"),
    pytest.param({"type": "array"}, {}, [(
        "spec.f", "FieldValueTypeInvalid",
        'Invalid value: "object": spec.f in body must be of type array: "object"',
    )], id="array-rejects-dict"),
    # nullable
    pytest.param({"type": "string", "nullable": True}, None, [], id="nullable-accepts-null"),
    pytest.param({"type": "string"}, None, [(
        "spec.f", "FieldValueTypeInvalid",
        'Invalid value: "null": spec.f in body must be of type string: "null"',
    )], id="non-nullable-rejects-null"),
    # enum
    pytest.param({"type": "string", "enum": ["a", "b"]}, "a", [], id="enum-accepts"),
    pytest.param({"type": "string", "enum": ["a", "b"]}, "c", [(
        "spec.f", "FieldValueNotSupported", 'Unsupported value: "c": supported values: "a", "b"',
    )], id="enum-rejects"),
    pytest.param({"type": "integer", "enum": [1, 2]}, 3, [(
        "spec.f", "FieldValueNotSupported", 'Unsupported value: 3: supported values: "1", "2"',
    )], id="enum-of-numbers-rejects"),
    pytest.param({"type": "number", "enum": [1, 2]}, 2.0, [], id="enum-compares-numbers"),
    # minimum, maximum, exclusive
    pytest.param({"type": "integer", "maximum": 10}, 10, [], id="maximum-accepts-equal"),
    pytest.param({"type": "integer", "maximum": 10}, 20, [(
        "spec.f", "FieldValueInvalid",
        "Invalid value: 20: spec.f in body should be less than or equal to 10",
    )], id="maximum-rejects"),
    pytest.param({"type": "integer", "maximum": 10, "exclusiveMaximum": True}, 10, [(
        "spec.f", "FieldValueInvalid", "Invalid value: 10: spec.f in body should be less than 10",
    )], id="exclusive-maximum-rejects-equal"),
    pytest.param({"type": "integer", "minimum": 1}, 1, [], id="minimum-accepts-equal"),
    pytest.param({"type": "integer", "minimum": 1}, 0, [(
        "spec.f", "FieldValueInvalid",
        "Invalid value: 0: spec.f in body should be greater than or equal to 1",
    )], id="minimum-rejects"),
    pytest.param({"type": "number", "minimum": 0.5, "exclusiveMinimum": True}, 0.5, [(
        "spec.f", "FieldValueInvalid",
        "Invalid value: 0.5: spec.f in body should be greater than 0.5",
    )], id="exclusive-minimum-rejects-equal"),
    pytest.param({"type": "number", "maximum": 1.5}, 2.5, [(
        "spec.f", "FieldValueInvalid",
        "Invalid value: 2.5: spec.f in body should be less than or equal to 1.5",
    )], id="float-maximum-rejects"),
    # multipleOf
    pytest.param({"type": "integer", "multipleOf": 5}, 15, [], id="multiple-of-accepts"),
    pytest.param({"type": "integer", "multipleOf": 5}, 12, [(
        "spec.f", "FieldValueInvalid",
        "Invalid value: 12: spec.f in body should be a multiple of 5",
    )], id="multiple-of-rejects"),
    pytest.param({"type": "number", "multipleOf": 0.1}, 0.3, [], id="multiple-of-tolerates"),
    pytest.param({"type": "number", "multipleOf": 0.25}, 0.3, [(
        "spec.f", "FieldValueInvalid",
        "Invalid value: 0.3: spec.f in body should be a multiple of 0.25",
    )], id="multiple-of-float-rejects"),
    # minLength, maxLength, pattern
    pytest.param({"type": "string", "maxLength": 5}, "abcde", [], id="max-length-accepts"),
    pytest.param({"type": "string", "maxLength": 5}, "abcdef", [(
        "spec.f", "FieldValueTooLong", "Too long: may not be more than 5 bytes",
    )], id="max-length-rejects"),
    pytest.param({"type": "string", "maxLength": 1}, "ää", [(
        "spec.f", "FieldValueTooLong", "Too long: may not be more than 1 byte",
    )], id="max-length-counts-characters"),
    pytest.param({"type": "string", "minLength": 3}, "abc", [], id="min-length-accepts"),
    pytest.param({"type": "string", "minLength": 3}, "ab", [(
        "spec.f", "FieldValueInvalid",
        'Invalid value: "ab": spec.f in body should be at least 3 chars long',
    )], id="min-length-rejects"),
    pytest.param({"type": "string", "pattern": "^[a-z]+$"}, "abc", [], id="pattern-accepts"),
    pytest.param({"type": "string", "pattern": "^[a-z]+$"}, "ABC", [(
        "spec.f", "FieldValueInvalid",
        "Invalid value: \"ABC\": spec.f in body should match '^[a-z]+$'",
    )], id="pattern-rejects"),
    pytest.param({"type": "string", "pattern": "b"}, "abc", [], id="pattern-is-a-search"),
    pytest.param({"type": "string", "minLength": 5, "pattern": "^z"}, "abc", [(
        "spec.f", "FieldValueInvalid",
        'Invalid value: "abc": spec.f in body should be at least 5 chars long',
    )], id="string-errors-stop-at-the-first"),
    # minItems, maxItems, uniqueItems
    pytest.param({"type": "array", "minItems": 1}, [1], [], id="min-items-accepts"),
    pytest.param({"type": "array", "minItems": 2}, [1], [(
        "spec.f", "FieldValueInvalid",
        "Invalid value: 1: spec.f in body should have at least 2 items",
    )], id="min-items-rejects"),
    pytest.param({"type": "array", "maxItems": 2}, [1, 2], [], id="max-items-accepts"),
    pytest.param({"type": "array", "maxItems": 2}, [1, 2, 3], [(
        "spec.f", "FieldValueTooMany", "Too many: 3: must have at most 2 items",
    )], id="max-items-rejects"),
    pytest.param({"type": "array", "uniqueItems": True}, [1, 1.0, "1"], [], id="unique-accepts"),
    pytest.param({"type": "array", "uniqueItems": True}, [{"a": 1}, {"a": 1}], [(
        "spec.f", "FieldValueInvalid",
        'Invalid value: "": spec.f in body shouldn\'t contain duplicates',
    )], id="unique-rejects"),
    # minProperties, maxProperties
    pytest.param({"type": "object", "minProperties": 1}, {"a": 1}, [], id="min-props-accepts"),
    pytest.param({"type": "object", "minProperties": 1}, {}, [(
        "spec.f", "FieldValueInvalid",
        "Invalid value: 0: spec.f in body should have at least 1 properties",
    )], id="min-props-rejects"),
    pytest.param({"type": "object", "maxProperties": 1}, {"a": 1, "b": 2}, [(
        "spec.f", "FieldValueTooMany", "Too many: 2: must have at most 1 item",
    )], id="max-props-rejects"),
    # format
    pytest.param({"type": "string", "format": "date-time"}, "2024-01-02T03:04:05Z", [],
                 id="date-time-accepts"),
    pytest.param({"type": "string", "format": "date-time"}, "2024-01-02T25:00:00Z", [(
        "spec.f", "FieldValueTypeInvalid",
        'Invalid value: "2024-01-02T25:00:00Z": spec.f in body must be of type date-time: '
        '"2024-01-02T25:00:00Z"',
    )], id="date-time-rejects"),
    pytest.param({"type": "string", "format": "date"}, "2024-02-30", [(
        "spec.f", "FieldValueTypeInvalid",
        'Invalid value: "2024-02-30": spec.f in body must be of type date: "2024-02-30"',
    )], id="date-rejects-impossible-day"),
    pytest.param({"type": "string", "format": "uuid"}, "6F9619FF-8B86-D011-B42D-00C04FC964FF",
                 [], id="uuid-accepts"),
    pytest.param({"type": "string", "format": "ipv4"}, "10.0.0.1", [], id="ipv4-accepts"),
    pytest.param({"type": "string", "format": "ipv4"}, "10.0.0.256", [(
        "spec.f", "FieldValueTypeInvalid",
        'Invalid value: "10.0.0.256": spec.f in body must be of type ipv4: "10.0.0.256"',
    )], id="ipv4-rejects"),
    pytest.param({"type": "string", "format": "made-up"}, "anything", [],
                 id="unknown-format-ignored"),
    pytest.param({"type": "integer", "format": "int32"}, 2**31 - 1, [], id="int32-accepts"),
    pytest.param({"type": "integer", "format": "int32"}, 2**31, [(
        "<nil>", "FieldValueInvalid",
        'Invalid value: "": Checked value must be of type integer with format int32 in spec.f',
    )], id="int32-rejects-overflow"),
    # x-kubernetes-int-or-string
    pytest.param({"x-kubernetes-int-or-string": True}, 80, [], id="int-or-string-accepts-int"),
    pytest.param({"x-kubernetes-int-or-string": True}, "http", [], id="int-or-string-accepts-str"),
    pytest.param({"x-kubernetes-int-or-string": True}, True, [(
        "spec.f", "FieldValueTypeInvalid",
        'Invalid value: "boolean": spec.f in body must be of type integer,string: "boolean"',
    )], id="int-or-string-rejects-bool"),
    # x-kubernetes-preserve-unknown-fields
    pytest.param({"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                 {"anything": [1, {"goes": True}]}, [], id="preserve-unknown-fields-accepts"),
    pytest.param({"x-kubernetes-preserve-unknown-fields": True}, 1, [],
                 id="preserve-unknown-fields-without-type-accepts-anything"),
]


@pytest.mark.parametrize(("schema", "value", "expected"), KEYWORD_CASES)
def test_schema_keyword_accepts_or_rejects_with_the_real_field_and_message(
    schema: dict[str, Any], value: Any, expected: list[tuple[str, str, str]]
) -> None:
    causes = validate_custom_object(with_spec(f=value), spec_schema(f=schema))
    assert as_tuples(causes) == expected


def test_required_fields_are_reported_at_their_own_path() -> None:
    schema = spec_schema(sub={"type": "object", "required": ["name", "size"], "properties": {
        "name": {"type": "string"}, "size": {"type": "integer"},
    }})
    causes = validate_custom_object(with_spec(sub={"size": 1}), schema)
    assert as_tuples(causes) == [("spec.sub.name", "FieldValueRequired", "Required value")]


def test_required_top_level_fields_are_checked_but_metadata_is_not() -> None:
    schema = {"type": "object", "required": ["metadata", "spec"], "properties": {
        "spec": {"type": "object"},
    }}
    causes = validate_custom_object({"apiVersion": "example.com/v1", "kind": "Foo"}, schema)
    assert as_tuples(causes) == [("spec", "FieldValueRequired", "Required value")]


def test_apiversion_kind_and_metadata_are_left_to_other_checks() -> None:
    schema = {"type": "object", "properties": {
        "apiVersion": {"type": "integer"}, "kind": {"type": "integer"},
        "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 1}}},
    }}
    assert validate_custom_object(with_spec(), schema) == []


def test_status_and_other_top_level_fields_are_validated() -> None:
    schema = {"type": "object", "properties": {
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
        "data": {"type": "string"},
    }}
    obj = {"kind": "Foo", "status": {"ready": "yes"}, "data": 1}
    assert [c.field for c in validate_custom_object(obj, schema)] == ["status.ready", "data"]


def test_array_items_are_reported_with_indexes() -> None:
    schema = spec_schema(items={"type": "array", "items": {
        "type": "object", "properties": {"name": {"type": "string"}},
    }})
    causes = validate_custom_object(with_spec(items=[{}, {"name": "a"}, {"name": 5}]), schema)
    assert as_tuples(causes) == [(
        "spec.items[2].name", "FieldValueTypeInvalid",
        'Invalid value: "integer": spec.items[2].name in body must be of type string: "integer"',
    )]


def test_additional_properties_schema_validates_every_value() -> None:
    schema = spec_schema(labels={"type": "object", "additionalProperties": {"type": "string"}})
    assert validate_custom_object(with_spec(labels={"a": "b"}), schema) == []
    causes = validate_custom_object(with_spec(labels={"a": "b", "c": 1}), schema)
    assert as_tuples(causes) == [(
        "spec.labels.c", "FieldValueTypeInvalid",
        'Invalid value: "integer": spec.labels.c in body must be of type string: "integer"',
    )]


def test_additional_properties_false_forbids_undeclared_keys() -> None:
    schema = spec_schema(sub={"type": "object", "additionalProperties": False})
    causes = validate_custom_object(with_spec(sub={"x": 1}), schema)
    assert as_tuples(causes) == [(
        "spec.sub", "FieldValueInvalid",
        'Invalid value: "x": spec.sub.x in body is a forbidden property',
    )]


def test_embedded_resources_need_apiversion_and_kind() -> None:
    schema = spec_schema(template={
        "type": "object", "x-kubernetes-embedded-resource": True,
        "x-kubernetes-preserve-unknown-fields": True,
    })
    valid = {"apiVersion": "v1", "kind": "Pod"}
    assert validate_custom_object(with_spec(template=valid), schema) == []
    invalid_ = {"apiVersion": "", "kind": "Not_A_Kind"}
    causes = validate_custom_object(with_spec(template=invalid_), schema)
    assert as_tuples(causes) == [
        ("spec.template.apiVersion", "FieldValueInvalid", 'Invalid value: "": must not be empty'),
        ("spec.template.kind", "FieldValueInvalid",
         f'Invalid value: "Not_A_Kind": may have mixed case, but should otherwise match: '
         f"{DNS1035_ERROR}"),
    ]
    causes = validate_custom_object(with_spec(template={}), schema)
    assert as_tuples(causes) == [
        ("spec.template.apiVersion", "FieldValueRequired", "Required value"),
        ("spec.template.kind", "FieldValueRequired", "Required value"),
    ]


COMBINATOR_CASES = [
    pytest.param({"anyOf": [{"required": ["a"]}, {"required": ["b"]}]}, {"b": 1}, [],
                 id="any-of-accepts"),
    pytest.param({"anyOf": [{"required": ["a"]}, {"required": ["b"]}]}, {}, [
        ("<nil>", "FieldValueInvalid",
         'Invalid value: "": "spec.f" must validate at least one schema (anyOf)'),
        ("spec.f.a", "FieldValueRequired", "Required value"),
    ], id="any-of-rejects"),
    pytest.param({"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}, {"a": 1}, [],
                 id="one-of-accepts"),
    pytest.param({"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}, {"a": 1, "b": 2}, [
        ("<nil>", "FieldValueInvalid", 'Invalid value: "": "spec.f" must validate one and only '
         "one schema (oneOf). Found 2 valid alternatives"),
    ], id="one-of-rejects-two-matches"),
    pytest.param({"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}, {}, [
        ("<nil>", "FieldValueInvalid", 'Invalid value: "": "spec.f" must validate one and only '
         "one schema (oneOf). Found none valid"),
        ("spec.f.a", "FieldValueRequired", "Required value"),
    ], id="one-of-rejects-no-match"),
    pytest.param({"allOf": [{"required": ["a"]}, {"required": ["b"]}]}, {"a": 1, "b": 2}, [],
                 id="all-of-accepts"),
    pytest.param({"allOf": [{"required": ["a"]}, {"required": ["b"]}]}, {"a": 1}, [
        ("spec.f.b", "FieldValueRequired", "Required value"),
        ("<nil>", "FieldValueInvalid",
         'Invalid value: "": "spec.f" must validate all the schemas (allOf)'),
    ], id="all-of-rejects"),
    pytest.param({"not": {"required": ["a"]}}, {"b": 1}, [], id="not-accepts"),
    pytest.param({"not": {"required": ["a"]}}, {"a": 1}, [
        ("<nil>", "FieldValueInvalid",
         'Invalid value: "": "spec.f" must not validate the schema (not)'),
    ], id="not-rejects"),
]


@pytest.mark.parametrize(("combinator", "value", "expected"), COMBINATOR_CASES)
def test_combinators_report_like_kube_openapi_including_the_nil_field(
    combinator: dict[str, Any], value: Any, expected: list[tuple[str, str, str]]
) -> None:
    schema = spec_schema(f={"type": "object", **combinator})
    assert as_tuples(validate_custom_object(with_spec(f=value), schema)) == expected


def test_an_empty_schema_accepts_anything() -> None:
    assert validate_custom_object(with_spec(a=[1, {"b": None}]), {}) == []


# Pruning.

PRUNE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "spec": {"type": "object", "properties": {
        "known": {"type": "string"},
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"},
        }}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {
            "strict": {"type": "object", "properties": {"x": {"type": "integer"}}},
        }},
        "labels": {"type": "object", "additionalProperties": {"type": "object", "properties": {
            "v": {"type": "string"},
        }}},
        "template": {"type": "object", "x-kubernetes-embedded-resource": True, "properties": {
            "spec": {"type": "object", "properties": {}},
        }},
        "anything": {"type": "object", "additionalProperties": True},
    }},
}}


def test_pruning_drops_undeclared_fields_and_reports_their_paths_sorted() -> None:
    obj = with_spec(known="k", unknown=1, items=[{"name": "a", "extra": 2}])
    obj["zzz"] = 3
    pruned_obj, pruned = prune(obj, PRUNE_SCHEMA)
    assert pruned_obj == with_spec(known="k", items=[{"name": "a"}])
    assert pruned == ["spec.items[0].extra", "spec.unknown", "zzz"]


def test_pruning_never_touches_top_level_apiversion_kind_and_metadata() -> None:
    obj = with_spec()
    obj["metadata"] = {"name": "x", "whatever": {"deep": 1}}
    assert prune(obj, PRUNE_SCHEMA) == (obj, [])


def test_pruning_keeps_preserve_unknown_fields_subtrees_but_prunes_declared_fields_inside() -> None:
    free = {"any": {"thing": [1, {"x": 2}]}, "strict": {"x": 1, "y": 2}}
    pruned_obj, pruned = prune(with_spec(free=free), PRUNE_SCHEMA)
    assert pruned_obj["spec"]["free"] == {"any": {"thing": [1, {"x": 2}]}, "strict": {"x": 1}}
    assert pruned == ["spec.free.strict.y"]


def test_pruning_keeps_additional_properties_keys_and_prunes_their_values() -> None:
    labels = {"a": {"v": "1", "w": "2"}, "b": {}}
    pruned_obj, pruned = prune(with_spec(labels=labels), PRUNE_SCHEMA)
    assert pruned_obj["spec"]["labels"] == {"a": {"v": "1"}, "b": {}}
    assert pruned == ["spec.labels.a.w"]


def test_pruning_keeps_apiversion_kind_and_metadata_of_embedded_resources() -> None:
    template = {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": []}, "status": {}}
    pruned_obj, pruned = prune(with_spec(template=template), PRUNE_SCHEMA)
    assert pruned_obj["spec"]["template"] == {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": "b"}}, "spec": {},
    }
    assert pruned == ["spec.template.spec.containers", "spec.template.status"]


def test_pruning_under_boolean_additional_properties_empties_objects_like_the_real_server() -> None:
    pruned_obj, pruned = prune(with_spec(anything={"a": 1, "b": {"c": 2}}), PRUNE_SCHEMA)
    assert pruned_obj["spec"]["anything"] == {"a": 1, "b": {}}
    assert pruned == ["spec.anything.b.c"]


def test_pruning_returns_a_copy_and_leaves_the_input_alone() -> None:
    obj = with_spec(known="k", unknown=1, free={"a": {"b": 1}})
    before = copy.deepcopy(obj)
    pruned_obj, _ = prune(obj, PRUNE_SCHEMA)
    pruned_obj["spec"]["free"]["a"]["b"] = 2
    pruned_obj["metadata"]["name"] = "changed"
    assert obj == before


# Defaulting.

DEFAULTS_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "spec": {"type": "object", "default": {}, "properties": {
        "replicas": {"type": "integer", "default": 1},
        "mode": {"type": "string", "default": "auto"},
        "optional": {"type": "string", "nullable": True, "default": "x"},
        "nested": {"type": "object", "default": {"inner": "given"}, "properties": {
            "inner": {"type": "string"}, "deep": {"type": "integer", "default": 7},
        }},
        "ports": {"type": "array", "items": {"type": "object", "properties": {
            "protocol": {"type": "string", "default": "TCP"},
        }}},
        "limits": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {"unit": {"type": "string", "default": "Mi"}},
        }},
    }},
}}


def test_defaults_fill_absent_fields_only() -> None:
    defaulted = apply_defaults(with_spec(replicas=3), DEFAULTS_SCHEMA)
    assert defaulted["spec"]["replicas"] == 3
    assert defaulted["spec"]["mode"] == "auto"


def test_defaults_replace_nulls_unless_the_field_is_nullable() -> None:
    defaulted = apply_defaults(with_spec(mode=None, optional=None), DEFAULTS_SCHEMA)
    assert defaulted["spec"]["mode"] == "auto"
    assert defaulted["spec"]["optional"] is None


def test_defaults_apply_inside_defaulted_values_too() -> None:
    defaulted = apply_defaults({"kind": "Foo"}, DEFAULTS_SCHEMA)
    assert defaulted["spec"]["nested"] == {"inner": "given", "deep": 7}
    assert defaulted["spec"]["replicas"] == 1


def test_defaults_apply_inside_array_items_and_additional_properties() -> None:
    obj = with_spec(ports=[{}, {"protocol": "UDP"}], limits={"cpu": {}, "mem": {"unit": "Gi"}})
    defaulted = apply_defaults(obj, DEFAULTS_SCHEMA)
    assert defaulted["spec"]["ports"] == [{"protocol": "TCP"}, {"protocol": "UDP"}]
    assert defaulted["spec"]["limits"] == {"cpu": {"unit": "Mi"}, "mem": {"unit": "Gi"}}


def test_defaults_are_copied_and_the_input_is_left_alone() -> None:
    obj = with_spec()
    before = copy.deepcopy(obj)
    first = apply_defaults(obj, DEFAULTS_SCHEMA)
    first["spec"]["nested"]["inner"] = "changed"
    second = apply_defaults(obj, DEFAULTS_SCHEMA)
    assert second["spec"]["nested"]["inner"] == "given"
    assert obj == before


# CustomResourceDefinitions.


def make_crd(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "foos", "singular": "foo", "kind": "Foo", "listKind": "FooList"},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            }}},
        }],
    }
    spec.update(changes)
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "foos.example.com"}, "spec": spec,
    }


def schema_version(schema: Any, name: str = "v1", storage: bool = True) -> dict[str, Any]:
    return {"name": name, "served": True, "storage": storage, "schema": {"openAPIV3Schema": schema}}


def test_a_sane_crd_is_accepted() -> None:
    assert validate_crd(make_crd()) == []


def test_crd_names_may_omit_singular_and_list_kind_which_the_api_defaults() -> None:
    assert validate_crd(make_crd(names={"plural": "foos", "kind": "Foo"})) == []


def test_crd_name_must_be_plural_dot_group() -> None:
    crd = make_crd()
    crd["metadata"]["name"] = "bars.example.com"
    assert as_tuples(validate_crd(crd)) == [(
        "metadata.name", "FieldValueInvalid",
        'Invalid value: "bars.example.com": must be spec.names.plural+"."+spec.group',
    )]


CRD_CASES = [
    pytest.param({"group": ""}, [
        ("metadata.name", "FieldValueInvalid",
         'Invalid value: "foos.example.com": must be spec.names.plural+"."+spec.group'),
        ("spec.group", "FieldValueRequired", "Required value"),
    ], id="no-group"),
    pytest.param({"group": "example"}, [
        ("metadata.name", "FieldValueInvalid",
         'Invalid value: "foos.example.com": must be spec.names.plural+"."+spec.group'),
        ("spec.group", "FieldValueInvalid",
         'Invalid value: "example": should be a domain with at least one dot'),
    ], id="group-without-dot"),
    pytest.param({"scope": ""}, [
        ("spec.scope", "FieldValueRequired", "Required value"),
    ], id="no-scope"),
    pytest.param({"scope": "Global"}, [
        ("spec.scope", "FieldValueNotSupported",
         'Unsupported value: "Global": supported values: "Cluster", "Namespaced"'),
    ], id="bad-scope"),
    pytest.param({"versions": []}, [
        ("spec.versions", "FieldValueInvalid",
         "Invalid value: []: must have exactly one version marked as storage version"),
    ], id="no-versions"),
    pytest.param({"versions": [
        schema_version({"type": "object"}, "v1"), schema_version({"type": "object"}, "v2"),
    ]}, [
        ("spec.versions", "FieldValueInvalid",
         'Invalid value: [{"name":"v1","schema":{"openAPIV3Schema":{"type":"object"}},"served":'
         'true,"storage":true},{"name":"v2","schema":{"openAPIV3Schema":{"type":"object"}},'
         '"served":true,"storage":true}]: must have exactly one version marked as storage '
         "version"),
    ], id="two-storage-versions"),
    pytest.param({"versions": [
        schema_version({"type": "object"}), schema_version({"type": "object"}, storage=False),
    ]}, [(
        "spec.versions", "FieldValueInvalid",
        'Invalid value: [{"name":"v1","schema":{"openAPIV3Schema":{"type":"object"}},"served":'
        'true,"storage":true},{"name":"v1","schema":{"openAPIV3Schema":{"type":"object"}},'
        '"served":true,"storage":false}]: must contain unique version names',
    )], id="duplicate-version-names"),
    pytest.param({"versions": [{"name": "V1", "served": True, "storage": True}]}, [
        ("spec.versions[0].schema.openAPIV3Schema", "FieldValueRequired", "Required value"),
        ("spec.versions[0].name", "FieldValueInvalid", f'Invalid value: "V1": {DNS1035_ERROR}'),
    ], id="no-schema-and-bad-version-name"),
    pytest.param({"versions": [schema_version({"type": "array", "items": {"type": "string"}})]}, [
        ("spec.versions[0].schema.openAPIV3Schema.type", "FieldValueInvalid",
         'Invalid value: "array": must be object at the root'),
    ], id="root-not-object"),
    pytest.param({"versions": [schema_version({"properties": {"spec": {"type": "object"}}})]}, [
        ("spec.versions[0].schema.openAPIV3Schema.type", "FieldValueRequired",
         "Required value: must not be empty at the root"),
    ], id="root-without-type"),
    pytest.param({"versions": [schema_version({"type": "object", "properties": {
        "spec": {"properties": {"list": {"type": "array"}, "x": {"type": "float"}}},
    }})]}, [
        ("spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[list].items",
         "FieldValueRequired", "Required value: must be specified"),
        ("spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[x].type",
         "FieldValueNotSupported", 'Unsupported value: "float": supported values: "array", '
         '"boolean", "integer", "number", "object", "string"'),
        ("spec.versions[0].schema.openAPIV3Schema.properties[spec].type", "FieldValueRequired",
         "Required value: must not be empty for specified object fields"),
    ], id="nested-schema-not-structural"),
    pytest.param({"names": {"plural": "Foos", "kind": "Foo", "listKind": "Foo"}}, [
        ("metadata.name", "FieldValueInvalid",
         'Invalid value: "foos.example.com": must be spec.names.plural+"."+spec.group'),
        ("spec.names.plural", "FieldValueInvalid", f'Invalid value: "Foos": {DNS1035_ERROR}'),
        ("spec.names.listKind", "FieldValueInvalid",
         'Invalid value: "Foo": kind and listKind may not be the same'),
    ], id="uppercase-plural-and-kind-as-list-kind"),
    pytest.param({"names": {"plural": "foos", "kind": "Foo_Bar", "shortNames": ["f"]}}, [
        ("spec.names.kind", "FieldValueInvalid",
         'Invalid value: "Foo_Bar": may have mixed case, but should otherwise match: '
         f"{DNS1035_ERROR}"),
    ], id="bad-kind"),
    pytest.param({"names": {}}, [
        ("metadata.name", "FieldValueInvalid",
         'Invalid value: "foos.example.com": must be spec.names.plural+"."+spec.group'),
        ("spec.names.plural", "FieldValueRequired", "Required value"),
        ("spec.names.kind", "FieldValueRequired", "Required value"),
    ], id="no-names"),
]


@pytest.mark.parametrize(("changes", "expected"), CRD_CASES)
def test_insane_crds_are_rejected_with_the_real_field_and_message(
    changes: dict[str, Any], expected: list[tuple[str, str, str]]
) -> None:
    assert as_tuples(validate_crd(make_crd(**changes))) == expected
