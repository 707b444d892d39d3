"""Label and field selectors: grammar, semantics, errors, and properties that tie them together."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kopf_informers import selectors
from kopf_informers.errors import SelectorError
from kopf_informers.selectors import (
    FieldRequirement,
    FieldSelector,
    LabelSelector,
    Operator,
    Requirement,
    object_fields,
    parse_field_selector,
    parse_label_selector,
)

# ---------------------------------------------------------------------------------------------
# Label selector grammar


@pytest.mark.parametrize(("text", "canonical"), [
    pytest.param("", "", id="empty"),
    pytest.param("  \t ", "", id="only-whitespace"),
    pytest.param("app", "app", id="exists"),
    pytest.param("!app", "!app", id="does-not-exist"),
    pytest.param("! app", "!app", id="does-not-exist-spaced"),
    pytest.param("app=web", "app=web", id="equals"),
    pytest.param("app==web", "app=web", id="double-equals-is-equals"),
    pytest.param("app!=web", "app!=web", id="not-equals"),
    pytest.param("app=", "app=", id="equals-empty-value"),
    pytest.param("app!=", "app!=", id="not-equals-empty-value"),
    pytest.param("app in (web,db)", "app in (db,web)", id="in-sorted"),
    pytest.param("app in(web)", "app in (web)", id="in-without-spaces"),
    pytest.param("app notin ( web , db )", "app notin (db,web)", id="notin-spaced"),
    pytest.param("app in (web,web)", "app in (web)", id="in-deduplicated"),
    pytest.param("app in (web,)", "app in (,web)", id="in-trailing-comma-is-empty-value"),
    pytest.param("app in (,web)", "app in (,web)", id="in-leading-comma-is-empty-value"),
    pytest.param("app in (,)", "app in (,)", id="in-only-the-empty-value"),
    pytest.param("replicas>3", "replicas>3", id="greater-than"),
    pytest.param("replicas < 3", "replicas<3", id="less-than"),
    pytest.param(" b = 2 , a != 1 ", "a!=1,b=2", id="sorted-by-key"),
    pytest.param("example.com/app=web", "example.com/app=web", id="prefixed-key"),
    pytest.param("in=notin", "in=notin", id="keywords-as-key-and-value"),
    pytest.param("in in (in,notin)", "in in (in,notin)", id="keywords-in-a-set"),
    pytest.param("a.b_c-d=E.f_G-1", "a.b_c-d=E.f_G-1", id="punctuation-in-names"),
    pytest.param("tier in (a),!legacy,app", "app,!legacy,tier in (a)", id="mixed"),
])
def test_label_selector_parses_to_its_canonical_form(text: str, canonical: str) -> None:
    selector = LabelSelector.parse(text)
    assert str(selector) == canonical
    assert LabelSelector.parse(str(selector)) == selector


def test_a_set_of_only_the_empty_value_is_written_so_that_it_parses_back() -> None:
    selector = LabelSelector([Requirement("app", Operator.NOT_IN, ("",))])
    assert str(selector) == "app notin (,)"  # Kubernetes writes "()", which it cannot parse
    assert LabelSelector.parse(str(selector)) == selector
    assert selector.matches({"app": "web"})
    assert not selector.matches({"app": ""})


def test_requirements_are_sorted_named_tuples() -> None:
    selector = LabelSelector.parse("tier notin (b,a),app=web,!legacy")
    assert selector.requirements == (
        Requirement("app", Operator.EQUALS, ("web",)),
        Requirement("legacy", Operator.DOES_NOT_EXIST, ()),
        Requirement("tier", Operator.NOT_IN, ("a", "b")),
    )


@pytest.mark.parametrize(("text", "problem"), [
    pytest.param("a in (b", "unclosed parenthesis", id="unclosed-parenthesis"),
    pytest.param("a in (b,", "unclosed parenthesis", id="unclosed-after-comma"),
    pytest.param("a in ()", "values set of 'in' can't be empty", id="in-empty-set"),
    pytest.param("a notin ()", "values set of 'notin' can't be empty", id="notin-empty-set"),
    pytest.param("a in b", "expected '(' after 'in', found \"b\"", id="in-without-parenthesis"),
    pytest.param("a in (b c)", "expected a value, ',' or ')', found \"c\"", id="set-no-comma"),
    pytest.param("a in (b=c)", "found \"=\"", id="operator-in-set"),
    pytest.param("a b", "expected an operator", id="two-identifiers"),
    pytest.param("a!", "expected an operator", id="bang-after-key"),
    pytest.param("a=b c", "expected ',' or end of string, found \"c\"", id="value-then-junk"),
    pytest.param("a=b=c", "expected ',' or end of string, found \"=\"", id="two-operators"),
    pytest.param("a=(b)", "expected a value, found \"(\"", id="parenthesised-value"),
    pytest.param("a=b,", "expected a key, found end of string", id="trailing-comma"),
    pytest.param(",a=b", "expected a key, found \",\"", id="leading-comma"),
    pytest.param("a=b,,c=d", "expected a key, found \",\"", id="double-comma"),
    pytest.param("!a=b", "expected ',' or end of string, found \"=\"", id="not-exists-with-value"),
    pytest.param("!", "expected a key, found end of string", id="lone-bang"),
    pytest.param("(a)", "expected a key, found \"(\"", id="parenthesis-first"),
    pytest.param("a>b", "the value of 'gt' must be an integer, got \"b\"", id="gt-not-integer"),
    pytest.param("a<1.5", "the value of 'lt' must be an integer", id="lt-not-integer"),
    pytest.param("a>99999999999999999999", "must be an integer", id="gt-beyond-int64"),
    pytest.param("a/b/c=d", "key \"a/b/c\" must be a name with an optional", id="two-slashes"),
    pytest.param("/a=b", "the prefix before '/' must be non-empty", id="empty-prefix"),
    pytest.param("a/=b", "the name must be non-empty", id="empty-name"),
    pytest.param("Example.com/a=b", "lowercase RFC 1123 subdomain", id="uppercase-prefix"),
    pytest.param(f"{'p' * 254}/a=b", "no more than 253 characters", id="long-prefix"),
    pytest.param(f"{'a' * 64}=b", "the name must be no more than 63", id="long-name"),
    pytest.param("-a=b", "must start and end with an alphanumeric", id="name-starts-with-dash"),
    pytest.param("a_=b", "must start and end with an alphanumeric", id="name-ends-with-underscore"),
    pytest.param("a=-b", "value \"-b\" of key \"a\" must be empty or", id="bad-value"),
    pytest.param("a in (b,c!)", "found \"!\"", id="bang-in-set"),
    pytest.param(f"a={'v' * 64}", "must be no more than 63 characters", id="long-value"),
    pytest.param("a=b'c", "value \"b'c\" of key \"a\"", id="quote-in-value"),
])
def test_invalid_label_selectors_are_rejected_with_the_problem_named(
    text: str, problem: str,
) -> None:
    with pytest.raises(SelectorError) as excinfo:
        LabelSelector.parse(text)
    message = str(excinfo.value)
    assert message.startswith(f'invalid label selector "{text}": ')
    assert problem in message


def test_selector_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unclosed parenthesis"):
        LabelSelector.parse("a in (b")


def test_parsing_a_non_string_is_rejected() -> None:
    with pytest.raises(SelectorError, match="must be a string, got 42"):
        LabelSelector.parse(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Label selector semantics


@pytest.mark.parametrize(("text", "labels", "expected"), [
    pytest.param("", None, True, id="empty-selects-no-labels"),
    pytest.param("", {"a": "b"}, True, id="empty-selects-everything"),
    pytest.param("a", {"a": ""}, True, id="exists-with-empty-value"),
    pytest.param("a", {"b": "c"}, False, id="exists-without-the-key"),
    pytest.param("a", None, False, id="exists-with-no-labels"),
    pytest.param("!a", {"b": "c"}, True, id="does-not-exist-without-the-key"),
    pytest.param("!a", None, True, id="does-not-exist-with-no-labels"),
    pytest.param("!a", {"a": ""}, False, id="does-not-exist-with-the-key"),
    pytest.param("a=b", {"a": "b"}, True, id="equals-same"),
    pytest.param("a=b", {"a": "c"}, False, id="equals-different"),
    pytest.param("a=b", {}, False, id="equals-needs-the-key"),
    pytest.param("a=", {"a": ""}, True, id="equals-empty-value"),
    pytest.param("a=", {}, False, id="equals-empty-value-needs-the-key"),
    pytest.param("a!=b", {"a": "c"}, True, id="not-equals-different"),
    pytest.param("a!=b", {"a": "b"}, False, id="not-equals-same"),
    pytest.param("a!=", {}, True, id="not-equals-empty-without-the-key"),
    pytest.param("a in (b,c)", {"a": "c"}, True, id="in-member"),
    pytest.param("a in (b,c)", {"a": "d"}, False, id="in-non-member"),
    pytest.param("a in (b,c)", {}, False, id="in-needs-the-key"),
    pytest.param("a in (b,)", {"a": ""}, True, id="in-empty-value"),
    pytest.param("a notin (b,c)", {"a": "d"}, True, id="notin-non-member"),
    pytest.param("a notin (b,c)", {"a": "b"}, False, id="notin-member"),
    pytest.param("a>3", {"a": "4"}, True, id="gt-greater"),
    pytest.param("a>3", {"a": "3"}, False, id="gt-equal"),
    pytest.param("a>3", {"a": "x"}, False, id="gt-not-a-number"),
    pytest.param("a>3", {}, False, id="gt-needs-the-key"),
    pytest.param("a<3", {"a": "-7"}, True, id="lt-negative-label"),
    pytest.param("a<3", {"a": "3"}, False, id="lt-equal"),
    pytest.param("a<3", {"a": "٢"}, False, id="lt-non-ascii-digit"),
    pytest.param("a=b,c", {"a": "b", "c": "d"}, True, id="all-requirements-hold"),
    pytest.param("a=b,c", {"a": "b"}, False, id="one-requirement-fails"),
    pytest.param("a=b,a!=c", {"a": "b"}, True, id="two-requirements-on-one-key"),
])
def test_label_selector_matching(text: str, labels: dict[str, str] | None, expected: bool) -> None:
    assert LabelSelector.parse(text).matches(labels) is expected


def test_notin_matches_objects_without_the_key() -> None:
    assert LabelSelector.parse("tier notin (frontend)").matches({"app": "web"})


def test_not_equals_matches_objects_without_the_key() -> None:
    assert LabelSelector.parse("tier!=frontend").matches({"app": "web"})


def test_an_empty_selector_is_empty_and_a_non_empty_one_is_not() -> None:
    assert LabelSelector.parse("").is_empty
    assert LabelSelector().is_empty
    assert not LabelSelector.parse("a").is_empty


def test_equal_selectors_are_equal_and_hash_equal_regardless_of_order() -> None:
    one = LabelSelector.parse("a=b,c in (e,d)")
    two = LabelSelector.parse("c in (d,e,d), a==b")
    assert one == two
    assert hash(one) == hash(two)
    assert len({one, two}) == 1


def test_different_selectors_are_not_equal() -> None:
    assert LabelSelector.parse("a=b") != LabelSelector.parse("a in (b)")
    assert LabelSelector.parse("a=b") != "a=b"


def test_selectors_are_immutable() -> None:
    selector = LabelSelector.parse("a=b")
    with pytest.raises(AttributeError):
        selector.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        selector.requirements = ()  # type: ignore[misc]


def test_repr_shows_the_canonical_text() -> None:
    assert repr(LabelSelector.parse("b, a")) == "LabelSelector('a,b')"


def test_selector_is_built_from_requirements_and_validated() -> None:
    selector = LabelSelector([Requirement("a", Operator.IN, ("c", "b", "c"))])
    assert selector.requirements == (Requirement("a", Operator.IN, ("b", "c")),)
    with pytest.raises(SelectorError, match="values set must be empty for '!'"):
        LabelSelector([Requirement("a", Operator.DOES_NOT_EXIST, ("b",))])
    with pytest.raises(SelectorError, match="'=' requires exactly one value"):
        LabelSelector([Requirement("a", Operator.EQUALS, ("b", "c"))])
    with pytest.raises(SelectorError, match='"==" is not a label selector operator'):
        LabelSelector([Requirement("a", "==", ("b",))])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# metav1.LabelSelector dicts and label sets


def test_from_dict_combines_match_labels_and_match_expressions() -> None:
    selector = LabelSelector.from_dict({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "zone", "operator": "NotIn", "values": ["x"]},
            {"key": "team", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist", "values": []},
        ],
    })
    assert str(selector) == "app=web,!legacy,team,tier in (a,b),zone notin (x)"


@pytest.mark.parametrize("selector", [
    pytest.param({}, id="empty"),
    pytest.param({"matchLabels": None, "matchExpressions": None}, id="nulls"),
    pytest.param({"matchLabels": {}, "matchExpressions": []}, id="empty-fields"),
])
def test_from_dict_with_nothing_selects_everything(selector: dict[str, Any]) -> None:
    assert LabelSelector.from_dict(selector).is_empty


@pytest.mark.parametrize(("selector", "problem"), [
    pytest.param({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
                 '"Gt" is not a valid label selector operator; expected one of In, NotIn',
                 id="gt-operator"),
    pytest.param({"matchExpressions": [{"key": "a", "operator": "in", "values": ["b"]}]},
                 '"in" is not a valid label selector operator', id="lowercase-operator"),
    pytest.param({"matchExpressions": [{"key": "a"}]},
                 "None is not a valid label selector operator", id="missing-operator"),
    pytest.param({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["b"]}]},
                 "values set must be empty for 'exists', got ['b']", id="exists-with-values"),
    pytest.param({"matchExpressions": [{"key": "a", "operator": "DoesNotExist", "values": ["b"]}]},
                 "values set must be empty for '!'", id="does-not-exist-with-values"),
    pytest.param({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
                 "values set of 'in' can't be empty", id="in-without-values"),
    pytest.param({"matchExpressions": [{"key": "a", "operator": "In", "values": "b"}]},
                 'values must be a list of strings, got "b"', id="values-as-string"),
    pytest.param({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]},
                 'value 1 of key "a" must be a string', id="value-not-string"),
    pytest.param({"matchExpressions": [{"operator": "Exists"}]},
                 "key None must be a string", id="missing-key"),
    pytest.param({"matchExpressions": [{"key": "a", "operator": "Exists", "value": "b"}]},
                 "unknown field(s) value; expected only key, operator, values",
                 id="unknown-expression-field"),
    pytest.param({"matchExpressions": ["a"]}, "a match expression must be a mapping",
                 id="expression-not-mapping"),
    pytest.param({"matchExpressions": {"key": "a"}}, "matchExpressions must be a list",
                 id="expressions-not-list"),
    pytest.param({"matchLabels": [("a", "b")]}, "matchLabels must be a mapping",
                 id="labels-not-mapping"),
    pytest.param({"matchLabels": {"a": "-"}}, 'value "-" of key "a"', id="invalid-label-value"),
    pytest.param({"match_labels": {"a": "b"}}, "unknown field(s) match_labels",
                 id="snake-case-field"),
    pytest.param(["a"], "expected a mapping", id="not-a-mapping"),
])
def test_invalid_dict_selectors_are_rejected_with_the_problem_named(
    selector: Any, problem: str,
) -> None:
    with pytest.raises(SelectorError) as excinfo:
        LabelSelector.from_dict(selector)
    assert str(excinfo.value).startswith("invalid label selector ")
    assert problem in str(excinfo.value)


def test_from_labels_requires_each_label() -> None:
    selector = LabelSelector.from_labels({"app": "web", "tier": "db"})
    assert str(selector) == "app=web,tier=db"
    assert selector.matches({"app": "web", "tier": "db", "extra": "x"})
    assert not selector.matches({"app": "web"})


def test_from_labels_rejects_invalid_labels() -> None:
    with pytest.raises(SelectorError, match='value "not valid" of key "app"'):
        LabelSelector.from_labels({"app": "not valid"})


@pytest.mark.parametrize("given_", [
    pytest.param("app=web", id="string"),
    pytest.param({"matchLabels": {"app": "web"}}, id="dict"),
    pytest.param(LabelSelector.parse("app=web"), id="selector"),
])
def test_parse_label_selector_accepts_every_form(given_: Any) -> None:
    assert parse_label_selector(given_) == LabelSelector.parse("app=web")


def test_parse_label_selector_treats_none_as_everything() -> None:
    assert parse_label_selector(None).is_empty


@pytest.mark.parametrize("given_", [
    pytest.param(42, id="int"),
    pytest.param(["app=web"], id="list"),
    pytest.param(b"app=web", id="bytes"),
])
def test_parse_label_selector_rejects_other_types(given_: Any) -> None:
    with pytest.raises(SelectorError, match="must be a string, a mapping or None"):
        parse_label_selector(given_)


# ---------------------------------------------------------------------------------------------
# Field selectors


@pytest.mark.parametrize(("text", "requirements"), [
    pytest.param("", [], id="empty"),
    pytest.param("metadata.name=x", [("metadata.name", "=", "x")], id="equals"),
    pytest.param("metadata.name==x", [("metadata.name", "=", "x")], id="double-equals"),
    pytest.param("status.phase!=Running", [("status.phase", "!=", "Running")], id="not-equals"),
    pytest.param("spec.nodeName=", [("spec.nodeName", "=", "")], id="empty-value"),
    pytest.param("a=x y", [("a", "=", "x y")], id="space-in-value"),
    pytest.param("a=b,", [("a", "=", "b")], id="trailing-comma-skipped"),
    pytest.param("a=b,,c=d", [("a", "=", "b"), ("c", "=", "d")], id="empty-term-skipped"),
    pytest.param(r"a=b\,c", [("a", "=", "b,c")], id="escaped-comma"),
    pytest.param(r"a=b\=c", [("a", "=", "b=c")], id="escaped-equals"),
    pytest.param(r"a=b\\", [("a", "=", "b\\")], id="escaped-backslash"),
    pytest.param(r"a=b\\,c=d", [("a", "=", "b\\"), ("c", "=", "d")], id="backslash-then-comma"),
    pytest.param("b=2,a=1", [("a", "=", "1"), ("b", "=", "2")], id="sorted-by-key"),
])
def test_field_selector_grammar(text: str, requirements: list[tuple[str, str, str]]) -> None:
    selector = FieldSelector.parse(text)
    assert selector.requirements == tuple(
        FieldRequirement(key, Operator(op), value) for key, op, value in requirements
    )


def test_field_selector_escapes_values_in_its_canonical_form() -> None:
    selector = FieldSelector.parse(r"a==x\,y\=z\\,b!=")
    assert str(selector) == r"a=x\,y\=z\\,b!="
    assert FieldSelector.parse(str(selector)) == selector


@pytest.mark.parametrize(("text", "problem"), [
    pytest.param("a", '"a" is not key=value, key==value or key!=value', id="no-operator"),
    pytest.param("a=b,c", '"c" is not key=value', id="second-term-without-operator"),
    pytest.param("=b", 'field key "" must be a non-empty string', id="empty-key"),
    pytest.param("!=b", 'field key "" must be a non-empty string', id="empty-key-not-equals"),
    pytest.param("a b=c", 'field key "a b" must be a non-empty string without whitespace',
                 id="whitespace-in-key"),
    pytest.param(" a=b", 'field key " a"', id="leading-space-is-not-trimmed"),
    pytest.param(r"a\=b=c", r'field key "a\"', id="backslash-in-key"),
    pytest.param("a!b=c", 'field key "a!b"', id="bang-in-key"),
    pytest.param(r"a=b\x", r'invalid escape sequence "\x" in value "b\x"', id="bad-escape"),
    pytest.param("a=b\\", r'value "b\" ends with an unfinished escape', id="trailing-backslash"),
    pytest.param("a=b=c", 'unescaped "=" in value "b=c"; escape it with a backslash',
                 id="bare-equals"),
    pytest.param("a===b", r'unescaped "=" in value "=b"', id="triple-equals"),
    pytest.param("a!==b", r'unescaped "=" in value "=b"', id="not-double-equals"),
])
def test_invalid_field_selectors_are_rejected_with_the_problem_named(
    text: str, problem: str,
) -> None:
    with pytest.raises(SelectorError) as excinfo:
        FieldSelector.parse(text)
    message = str(excinfo.value)
    assert message.startswith(f'invalid field selector "{text}": ')
    assert problem in message


@pytest.mark.parametrize(("text", "fields", "expected"), [
    pytest.param("", {}, True, id="empty-selects-everything"),
    pytest.param("metadata.name=x", {"metadata.name": "x"}, True, id="equals-same"),
    pytest.param("metadata.name=x", {"metadata.name": "y"}, False, id="equals-different"),
    pytest.param("spec.nodeName=", {}, True, id="missing-field-equals-empty"),
    pytest.param("spec.nodeName!=", {}, False, id="missing-field-is-not-unequal-to-empty"),
    pytest.param("spec.nodeName!=n1", {}, True, id="missing-field-differs"),
    pytest.param("a=1,b!=2", {"a": "1", "b": "3"}, True, id="all-hold"),
    pytest.param("a=1,b!=2", {"a": "1", "b": "2"}, False, id="one-fails"),
])
def test_field_selector_matching(text: str, fields: dict[str, str], expected: bool) -> None:
    assert FieldSelector.parse(text).matches(fields) is expected


def test_field_selector_lists_the_keys_it_reads() -> None:
    selector = FieldSelector.parse("metadata.name=x,spec.nodeName!=n,metadata.name!=y")
    assert selector.keys == frozenset({"metadata.name", "spec.nodeName"})
    assert FieldSelector.parse("").keys == frozenset()


def test_field_selectors_compare_by_meaning_and_hash() -> None:
    one = FieldSelector.parse("b=2,a==1")
    two = FieldSelector.from_fields({"a": "1", "b": "2"})
    assert one == two
    assert hash(one) == hash(two)
    assert one != FieldSelector.parse("a=1")
    assert repr(one) == "FieldSelector('a=1,b=2')"
    assert not one.is_empty
    assert FieldSelector().is_empty


def test_field_selector_built_from_requirements_is_validated() -> None:
    with pytest.raises(SelectorError, match='"in" is not a field selector operator'):
        FieldSelector([FieldRequirement("a", Operator.IN, "b")])
    with pytest.raises(SelectorError, match='field key "a=b"'):
        FieldSelector.from_fields({"a=b": "c"})


def test_parse_field_selector_accepts_strings_selectors_and_none() -> None:
    assert parse_field_selector("a=b") == FieldSelector.parse("a=b")
    assert parse_field_selector(FieldSelector.parse("a=b")) == FieldSelector.parse("a=b")
    assert parse_field_selector(None).is_empty
    with pytest.raises(SelectorError, match="must be a string or None, got dict"):
        parse_field_selector({"a": "b"})  # type: ignore[arg-type]
    with pytest.raises(SelectorError, match="must be a string, got 1"):
        FieldSelector.parse(1)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Field sets of objects


def test_object_fields_always_have_name_and_namespace() -> None:
    assert object_fields({"metadata": {"name": "n", "namespace": "ns"}}) == {
        "metadata.name": "n", "metadata.namespace": "ns",
    }


def test_object_fields_of_cluster_scoped_objects_have_an_empty_namespace() -> None:
    assert object_fields({"metadata": {"name": "n"}})["metadata.namespace"] == ""


def test_object_fields_render_extra_paths_as_kubernetes_does() -> None:
    obj = {
        "metadata": {"name": "n"},
        "type": "Warning",
        "spec": {"unschedulable": True, "replicas": 3, "paused": False, "ratio": 2.0},
        "status": {"conditions": [{"type": "Ready"}]},
        "involvedObject": {"uid": "u-1"},
    }
    paths = ["type", "spec.unschedulable", "spec.replicas", "spec.paused", "spec.ratio",
             "status.conditions", "involvedObject.uid", "spec.nodeName", "type.nested"]
    assert object_fields(obj, paths) == {
        "metadata.name": "n",
        "metadata.namespace": "",
        "type": "Warning",
        "spec.unschedulable": "true",
        "spec.replicas": "3",
        "spec.paused": "false",
        "spec.ratio": "2",
        "status.conditions": "",  # not a scalar: not selectable
        "involvedObject.uid": "u-1",
        "spec.nodeName": "",  # missing
        "type.nested": "",  # a path through a scalar
    }


def test_object_fields_feed_field_selectors() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "status": {"phase": "Running"}}
    fields = object_fields(pod, ["status.phase", "spec.nodeName"])
    assert FieldSelector.parse("status.phase=Running,spec.nodeName=").matches(fields)
    assert not FieldSelector.parse("metadata.namespace!=ns").matches(fields)


def test_every_public_name_is_listed_and_exists() -> None:
    assert selectors.__all__ == sorted(selectors.__all__)
    assert all(hasattr(selectors, name) for name in selectors.__all__)


# ---------------------------------------------------------------------------------------------
# Properties

label_names = st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?", fullmatch=True)
label_keys = st.one_of(
    st.sampled_from(["app", "tier", "example.com/team", "in", "notin", "x"]),
    label_names,
    st.builds("{}/{}".format, st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,6}[a-z0-9])?", fullmatch=True)
              .filter(lambda p: ".." not in p and ".-" not in p and "-." not in p), label_names),
)
label_values = st.one_of(st.sampled_from(["", "web", "db", "1", "42", "in"]), label_names)
label_sets = st.dictionaries(label_keys, label_values, max_size=6)


@st.composite
def requirements(draw: st.DrawFn) -> Requirement:
    key = draw(label_keys)
    operator = draw(st.sampled_from(list(Operator)))
    if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        values: tuple[str, ...] = ()
    elif operator in (Operator.IN, Operator.NOT_IN):
        values = tuple(draw(st.lists(label_values, min_size=1, max_size=3)))
    elif operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
        values = (str(draw(st.integers(0, 100))),)
    else:
        values = (draw(label_values),)
    return Requirement(key, operator, values)


def naive_match(requirement: Requirement, labels: dict[str, str]) -> bool:
    """The semantics of k8s.io/apimachinery/pkg/labels, written plainly."""
    key, operator, values = requirement
    present, value = key in labels, labels.get(key)
    if operator in (Operator.EQUALS, Operator.IN):
        return present and value in values
    if operator in (Operator.NOT_EQUALS, Operator.NOT_IN):
        return not present or value not in values
    if operator is Operator.EXISTS:
        return present
    if operator is Operator.DOES_NOT_EXIST:
        return not present
    if value is None or not value.isdigit():
        return False
    bound = int(values[0])
    return int(value) > bound if operator is Operator.GREATER_THAN else int(value) < bound


@given(st.lists(requirements(), max_size=5), st.lists(label_sets, max_size=5))
def test_canonical_text_parses_back_to_an_equal_selector(
    reqs: list[Requirement], label_samples: list[dict[str, str]],
) -> None:
    selector = LabelSelector(reqs)
    again = LabelSelector.parse(str(selector))
    assert again == selector
    assert hash(again) == hash(selector)
    assert str(again) == str(selector)
    for labels in label_samples:
        assert again.matches(labels) == selector.matches(labels)


@given(st.lists(requirements(), max_size=5), label_sets)
def test_compiled_matching_agrees_with_the_plain_semantics(
    reqs: list[Requirement], labels: dict[str, str],
) -> None:
    expected = all(naive_match(requirement, labels) for requirement in reqs)
    assert LabelSelector(reqs).matches(labels) == expected


metav1_expressions = st.one_of(
    st.fixed_dictionaries({
        "key": label_keys,
        "operator": st.sampled_from(["In", "NotIn"]),
        "values": st.lists(label_values, min_size=1, max_size=3),
    }),
    st.fixed_dictionaries({
        "key": label_keys,
        "operator": st.sampled_from(["Exists", "DoesNotExist"]),
    }),
)
metav1_selectors = st.fixed_dictionaries({}, optional={
    "matchLabels": st.dictionaries(label_keys, label_values, max_size=3),
    "matchExpressions": st.lists(metav1_expressions, max_size=3),
})


def metav1_as_text(selector: dict[str, Any]) -> str:
    """The string form of a metav1.LabelSelector, written independently of the module."""
    parts = [f"{key}={value}" for key, value in selector.get("matchLabels", {}).items()]
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = ",".join(expression.get("values", [])) or ","  # "(,)" is the set of ""
        parts.append({
            "In": f"{key} in ({values})",
            "NotIn": f"{key} notin ({values})",
            "Exists": key,
            "DoesNotExist": f"!{key}",
        }[operator])
    return ",".join(parts)


@given(metav1_selectors, st.lists(label_sets, max_size=5))
def test_dict_selectors_match_exactly_like_their_string_form(
    selector: dict[str, Any], label_samples: list[dict[str, str]],
) -> None:
    from_dict = LabelSelector.from_dict(selector)
    from_text = LabelSelector.parse(metav1_as_text(selector))
    assert from_dict == from_text
    for labels in label_samples:
        assert from_dict.matches(labels) == from_text.matches(labels)


@given(label_sets)
def test_a_selector_from_labels_matches_those_labels(labels: dict[str, str]) -> None:
    assert LabelSelector.from_labels(labels).matches(labels)


field_keys = st.sampled_from(["metadata.name", "metadata.namespace", "status.phase", "type"])
field_values = st.text(alphabet="ab ,=\\!", max_size=6)
field_requirements = st.builds(
    FieldRequirement, field_keys, st.sampled_from([Operator.EQUALS, Operator.NOT_EQUALS]),
    field_values,
)


@given(st.lists(field_requirements, max_size=4), st.dictionaries(field_keys, field_values))
def test_field_selector_text_round_trips_through_escaping(
    reqs: list[FieldRequirement], fields: dict[str, str],
) -> None:
    selector = FieldSelector(reqs)
    again = FieldSelector.parse(str(selector))
    assert again == selector
    assert again.matches(fields) == selector.matches(fields)
    expected = all((fields.get(r.key, "") == r.value) == (r.operator is Operator.EQUALS)
                   for r in reqs)
    assert selector.matches(fields) == expected
