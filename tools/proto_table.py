"""Derive the embedded API server's protobuf field table from Kubernetes' ``generated.proto`` files.

client-go sends built-in kinds as ``application/vnd.kubernetes.protobuf``. The server decodes
them with a generic wire decoder (``apimachinery/_protobuf.py``) driven by a table of field
numbers, names and types, checked in as ``apimachinery/_protobuf_table.json``; this script
writes that table. It reads ``.proto`` files only (no network, no protoc) and keeps just the
messages reachable from the kinds the server serves (``registry/_builtins.py``), the
``autoscaling/v1`` Scale of their ``/scale`` subresources, ``DeleteOptions``, and the
``runtime.Unknown`` envelope that carries them all.

Where the JSON form of a message differs from its protobuf form, the .proto files do not say
so; the differences are listed here, as read from the Go types (``types.go``) of the same
release:

* ``INLINE``: embedded Go structs (``json:""`` / ``json:",inline"``), whose fields JSON puts
  into the parent object while protobuf nests them in a field of their own;
* ``JSON_NAMES``: the few fields whose protobuf name is not their JSON name.

Protobuf cannot tell an unset field from one set to its zero value, and Go writes every
non-pointer field, zero or not. Which zero values JSON would leave out (a non-pointer Go field
tagged ``omitempty``: ``hostPort: 0``, ``namespace: ""``) the .proto files do not say either;
the Go files beside them do (``types.go``: the field's type and its ``json`` and ``protobuf``
tags). Where they are found, such scalar fields are marked ``"omitempty"`` in the table, and the
decoder drops their zero values; where they are not, empty strings and bytes are marked so,
as the next best guess (the script says so on stderr).

The special types with a JSON form of their own (Time, Quantity, IntOrString, RawExtension...)
are handled by name in the decoder; the table only describes their wire fields.

Usage (the table checked in was made from the sources named in its ``source`` key)::

    # a directory holding the .proto files of k8s.io/api, k8s.io/apimachinery and
    # k8s.io/apiextensions-apiserver, in any layout, e.g. their repositories side by side
    python tools/proto_table.py PROTO_DIR \\
        --source "k8s.io/api@<commit> k8s.io/apimachinery@<commit> ..." \\
        [--out kopf_informers/testing/apiserver/apimachinery/_protobuf_table.json]

The checked-in table: kubernetes/api 10b39a39bcee995dfe7cd5e8e7b922be5e46f1e2,
kubernetes/apimachinery eed236ceee2c19c2753a3d93ac0631dc20750454,
kubernetes/apiextensions-apiserver 1aa2717a552ee6ca1e2a18f1f8ffccde981db923,
kubernetes/kube-aggregator 232ca687ab24bc9f9a378cba74716b5f7d6b82eb (APIService), all of July 2026
(1.37 alpha; the wire format of the served kinds is stable across releases: fields are only
ever added, never renumbered).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "kopf_informers/testing/apiserver/apimachinery/_protobuf_table.json"

# Package prefixes shortened in the table: "k8s.io.api.core.v1.Pod" is "core.v1.Pod".
_PREFIXES = (
    "k8s.io.api.",
    "k8s.io.apimachinery.pkg.apis.",
    "k8s.io.apimachinery.pkg.",
    "k8s.io.apiextensions_apiserver.pkg.apis.",
)

# (message, field): embedded Go structs, inlined in JSON (grep types.go for `json:""`).
INLINE = {
    ("core.v1.Volume", "volumeSource"),
    ("core.v1.PersistentVolumeSpec", "persistentVolumeSource"),
    ("core.v1.Probe", "handler"),
    ("core.v1.EphemeralContainer", "ephemeralContainerCommon"),
    ("core.v1.ConfigMapEnvSource", "localObjectReference"),
    ("core.v1.ConfigMapKeySelector", "localObjectReference"),
    ("core.v1.ConfigMapProjection", "localObjectReference"),
    ("core.v1.ConfigMapVolumeSource", "localObjectReference"),
    ("core.v1.SecretEnvSource", "localObjectReference"),
    ("core.v1.SecretKeySelector", "localObjectReference"),
    ("core.v1.SecretProjection", "localObjectReference"),
    ("networking.v1.IngressRule", "ingressRuleValue"),
    ("admissionregistration.v1.RuleWithOperations", "rule"),
    ("admissionregistration.v1.NamedRuleWithOperations", "ruleWithOperations"),
}

# (message, protobuf name): JSON name, where the two differ (compare the tags in types.go).
JSON_NAMES = {
    ("networking.v1.IngressClassParametersReference", "aPIGroup"): "apiGroup",
    ("admissionregistration.v1.Validation", "Expression"): "expression",
    ("admissionregistration.v1.Variable", "Name"): "name",
    ("admissionregistration.v1.Variable", "Expression"): "expression",
    ("apiextensions.v1.JSONSchemaProps", "schema"): "$schema",
    ("apiextensions.v1.JSONSchemaProps", "ref"): "$ref",
    **{("apiextensions.v1.JSONSchemaProps", "xKubernetes" + name): "x-kubernetes-" + dashed
       for name, dashed in [("PreserveUnknownFields", "preserve-unknown-fields"),
                            ("EmbeddedResource", "embedded-resource"),
                            ("IntOrString", "int-or-string"),
                            ("ListMapKeys", "list-map-keys"),
                            ("ListType", "list-type"),
                            ("MapType", "map-type")]},
}

EXTRA_KINDS = {  # apiVersion/kind: message, besides the served kinds
    "autoscaling/v1/Scale": "autoscaling.v1.Scale",
    "meta.k8s.io/v1/DeleteOptions": "meta.v1.DeleteOptions",
    # the body of serviceaccounts/token (kubectl create token)
    "authentication.k8s.io/v1/TokenRequest": "authentication.v1.TokenRequest",
}
ENVELOPE = "runtime.Unknown"  # what every body is wrapped in, after the "k8s\0" magic

SCALARS = {"double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
           "fixed32", "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes"}

_FIELD = re.compile(
    r"^\s*(?:(optional|repeated|required)\s+)?"
    r"(map\s*<\s*([\w.]+)\s*,\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)\s*(?:\[[^]]*\])?;")


def short(name: str) -> str:
    name = name.lstrip(".")
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def parse(text: str) -> tuple[str, str, dict[str, list[tuple[str, str, int, str, str]]]]:
    """A generated.proto file: its package, go_package, and messages as lists of fields
    ``(label, type, number, name, map value type)``. Only what go-to-protobuf emits is parsed:
    top-level messages of plain and map fields, no nesting, enums or oneofs."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    package = re.search(r"^\s*package\s+([\w.]+)\s*;", text, re.M)
    go_package = re.search(r'^\s*option\s+go_package\s*=\s*"([^"]+)"', text, re.M)
    messages: dict[str, list[tuple[str, str, int, str, str]]] = {}
    current: list[tuple[str, str, int, str, str]] | None = None
    for line in text.splitlines():
        if m := re.match(r"^\s*message\s+(\w+)\s*\{", line):
            current = messages.setdefault(m.group(1), [])
        elif re.match(r"^\s*}", line):
            current = None
        elif current is not None and (m := _FIELD.match(line)):
            label, type_, key, value, name, number = m.groups()
            if key is not None:
                current.append(("map", key, int(number), name, value))
            else:
                current.append((label or "optional", type_, int(number), name, ""))
        elif current is not None and line.strip():
            raise SystemExit(f"unparsed line in message: {line.strip()!r}")
    return (package.group(1) if package else "", go_package.group(1) if go_package else "",
            messages)


def resolve(type_: str, package: str, known: set[str]) -> str:
    """A field's type as a full message name (or a scalar's name)."""
    if type_ in SCALARS:
        return type_
    if type_.startswith("."):
        return type_[1:]
    for scope in (package, *(package.rsplit(".", i)[0] for i in range(1, package.count(".")))):
        if f"{scope}.{type_}" in known:
            return f"{scope}.{type_}"
    if type_ in known:
        return type_
    raise SystemExit(f"unknown type {type_} in package {package}")


_GO_STRUCT = re.compile(r"^type (\w+) struct \{$(.*?)^\}", re.M | re.S)
_GO_FIELD = re.compile(
    r'^\s+(?:\w+\s+)?([\w.*\[\]]+)\s+`json:"([^"]*)"[^`]*?\bprotobuf:"\w+,(\d+),', re.M)


def go_omitempty(directory: Path) -> dict[tuple[str, int], bool]:
    """From the Go files of a package: ``(struct, field number)``: whether JSON omits the
    field's zero value (a non-pointer field tagged ``omitempty``)."""
    fields = {}
    for path in sorted(directory.glob("*.go")):
        if path.name.startswith("zz_generated") or path.name.endswith(("_test.go", ".pb.go")):
            continue
        for struct, body in _GO_STRUCT.findall(path.read_text()):
            for go_type, json_tag, number in _GO_FIELD.findall(body):
                omitempty = "omitempty" in json_tag.split(",")[1:]
                fields[struct, int(number)] = omitempty and not go_type.startswith("*")
    return fields


def load(proto_dir: Path) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """All messages under ``proto_dir`` by full name, each go_package's proto package, and
    per package the omitempty fields of its Go files (if they are beside its .proto file)."""
    paths = sorted(proto_dir.rglob("*.proto"))
    parsed = [parse(path.read_text()) for path in paths]
    omitempty = {pkg: go_omitempty(path.parent) for path, (pkg, _, _) in zip(paths, parsed,
                                                                           strict=True)}
    known = {f"{pkg}.{name}" for pkg, _, messages in parsed for name in messages}
    messages: dict[str, Any] = {}
    packages: dict[str, str] = {}
    for pkg, go_pkg, msgs in parsed:
        packages[go_pkg] = pkg
        for name, fields in msgs.items():
            messages[f"{pkg}.{name}"] = [
                (label, resolve(type_, pkg, known), number, field,
                 resolve(value, pkg, known) if value else "")
                for label, type_, number, field, value in fields
            ]
    return messages, packages, omitempty


def served_kinds() -> list[tuple[str, str, str]]:
    sys.path.insert(0, str(REPO))
    from kopf_informers.testing.apiserver.registry._builtins import BUILTIN_RESOURCES

    return [(info.group, info.version, info.kind) for info in BUILTIN_RESOURCES]


def kind_messages(kinds: Iterable[tuple[str, str, str]], packages: dict[str, str],
                  messages: dict[str, Any]) -> dict[str, str]:
    """``apiVersion/kind``: the full name of its message. The Go package of a group is named
    after its first DNS label (``rbac.authorization.k8s.io`` → ``.../rbac/v1``), core's ``core``."""
    found = {}
    for group, version, kind in kinds:
        directory = group.split(".")[0] if group else "core"
        suffix = f"/{directory}/{version}"
        package = next((pkg for go, pkg in packages.items() if go.endswith(suffix)), None)
        if package is None or f"{package}.{kind}" not in messages:
            raise SystemExit(f"no message for {group}/{version} {kind} (looked in *{suffix})")
        api_version = f"{group}/{version}" if group else version
        found[f"{api_version}/{kind}"] = f"{package}.{kind}"
    return found


def closure(roots: Iterable[str], messages: dict[str, Any]) -> list[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for _, type_, _, _, value in messages[name]:
            todo.extend(t for t in (type_, value) if t in messages)
    return sorted(seen, key=short)


def table(proto_dir: Path, source: str) -> dict[str, Any]:
    messages, packages, omitempty = load(proto_dir)
    kinds = kind_messages(served_kinds(), packages, messages)
    kinds = {key: short(name) for key, name in kinds.items()}
    kinds.update(EXTRA_KINDS)
    by_short = {short(name): name for name in messages}
    out: dict[str, Any] = {}
    guessed: set[str] = set()
    roots = [by_short[k] for k in [*kinds.values(), ENVELOPE]]
    for name in closure(roots, messages):
        fields: dict[str, list[str]] = {}
        package, _, struct = name.rpartition(".")
        go_fields = omitempty.get(package, {})
        for label, type_, number, field, value in messages[name]:
            key = (short(name), field)
            json_name = JSON_NAMES.get(key, field)
            if label == "map":
                fields[str(number)] = [json_name, "map", short(type_), short(value)]
            elif key in INLINE:
                fields[str(number)] = [json_name, short(type_), "inline"]
            elif label == "repeated":
                fields[str(number)] = [json_name, short(type_), "repeated"]
            elif type_ in SCALARS and (
                go_fields[struct, number] if (struct, number) in go_fields
                else guessed.add(name) or type_ in ("string", "bytes")
            ):
                fields[str(number)] = [json_name, short(type_), "omitempty"]
            else:
                fields[str(number)] = [json_name, short(type_)]
        out[short(name)] = fields
    for message, field in [*INLINE, *JSON_NAMES]:
        if not any(f[0] in (field, JSON_NAMES.get((message, field))) for f in
                   out.get(message, {}).values()):
            print(f"note: {message}.{field} is not in the table", file=sys.stderr)
    if guessed:
        print(f"note: no Go fields for {len(guessed)} messages (e.g. {short(min(guessed))}): "
              "their empty strings and bytes are taken as unset", file=sys.stderr)
    return {"source": source, "kinds": dict(sorted(kinds.items())), "messages": out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("proto_dir", type=Path)
    parser.add_argument("--source", required=True,
                        help="where the .proto files came from (recorded in the table)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    data = table(args.proto_dir, args.source)
    # One message per line: compact, and a regenerated table diffs message by message.
    lines = [f"  {json.dumps(name)}: {json.dumps(fields, separators=(',', ':'))}"
             for name, fields in data["messages"].items()]
    text = ("{\n"
            f'"source": {json.dumps(data["source"])},\n'
            f'"kinds": {json.dumps(data["kinds"], indent=1)},\n'
            '"messages": {\n' + ",\n".join(lines) + "\n}}\n")
    json.loads(text)  # it is JSON
    args.out.write_text(text)
    print(f"{len(data['kinds'])} kinds, {len(data['messages'])} messages: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
