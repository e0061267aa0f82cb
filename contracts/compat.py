"""Compatibility check between a committed event schema and the current model's schema.

A new schema is compatible with an old one when every consumer written against either can read the
events the other describes, with the exceptions the contract rules allow:

- breaking: a field removed or renamed, a field's type changed (including enum values removed or
  a field becoming nullable), an optional field made required, a new required field, a constraint
  tightened (a higher minimum, a new pattern...);
- compatible: a new optional field, a new enum value, a constraint loosened, descriptions, titles
  and defaults changed.

Consumers must therefore tolerate enum values they do not know yet (log and skip, or map to a
fallback). Schemas are pydantic's JSON Schema output: ``$ref`` into ``$defs`` (or any local JSON
pointer), ``anyOf`` for unions and optionals, ``enum``/``const`` for enums and literals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any]

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_EXACT_CONSTRAINTS = ("pattern", "multipleOf")
_MAX_DEPTH = 32
_ANY = "any"


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """Human-readable breaking changes from ``old`` (committed) to ``new`` (current); [] if none."""
    return _Comparison(old, new).run()


def is_compatible(old: Schema, new: Schema) -> bool:
    """Whether ``new`` may replace ``old`` under the same event version."""
    return not breaking_changes(old, new)


class _Comparison:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.old_root = old_root
        self.new_root = new_root
        self.problems: list[str] = []

    def run(self) -> list[str]:
        self._compare(self.old_root, self.new_root, "")
        return self.problems

    def _compare(self, old: Schema, new: Schema, path: str) -> None:
        if path.count(".") + path.count("[]") > _MAX_DEPTH:
            return  # a recursive shape: everything above this depth was compared already
        old_alts = _group_by_type(_alternatives(old, self.old_root))
        new_alts = _group_by_type(_alternatives(new, self.new_root))
        if _ANY in new_alts and len(new_alts) == 1:
            return
        if set(old_alts) != set(new_alts):
            self._problem(
                path,
                f"type changed from {_describe(old_alts)} to {_describe(new_alts)}",
            )
            return
        for kind, old_schema in old_alts.items():
            self._compare_same_type(kind, old_schema, new_alts[kind], path)

    def _compare_same_type(self, kind: str, old: Schema, new: Schema, path: str) -> None:
        old_values, new_values = _enum_values(old), _enum_values(new)
        if new_values is not None:
            if old_values is None:
                self._problem(path, f"restricted to the values {_show(new_values)}")
            else:
                removed = [v for v in old_values if v not in new_values]
                if removed:
                    self._problem(path, f"enum values removed: {_show(removed)}")
        self._compare_constraints(old, new, path)
        if kind == "object":
            self._compare_objects(old, new, path)
        elif kind == "array":
            old_items, new_items = old.get("items"), new.get("items")
            if isinstance(old_items, Mapping) and isinstance(new_items, Mapping):
                self._compare(old_items, new_items, f"{path}[]")

    def _compare_objects(self, old: Schema, new: Schema, path: str) -> None:
        old_props: Mapping[str, Schema] = old.get("properties", {})
        new_props: Mapping[str, Schema] = new.get("properties", {})
        old_required = set(old.get("required", ()))
        new_required = set(new.get("required", ()))

        added = [name for name in new_props if name not in old_props]
        renamed_to: set[str] = set()
        for name in old_props:
            if name in new_props:
                continue
            twin = self._same_shape(old_props[name], added, new_props, renamed_to)
            if twin is not None:
                renamed_to.add(twin)
                self._problem(_join(path, name), f"field renamed to `{twin}`")
            else:
                self._problem(_join(path, name), "field removed")
        for name in added:
            if name in new_required and name not in renamed_to:
                self._problem(_join(path, name), "new required field added")
        for name, old_prop in old_props.items():
            if name not in new_props:
                continue
            if name in new_required and name not in old_required:
                self._problem(_join(path, name), "optional field made required")
            self._compare(old_prop, new_props[name], _join(path, name))

        old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
        if isinstance(old_extra, Mapping) and isinstance(new_extra, Mapping):
            self._compare(old_extra, new_extra, _join(path, "*"))

    def _same_shape(
        self,
        old_prop: Schema,
        candidates: list[str],
        new_props: Mapping[str, Schema],
        taken: set[str],
    ) -> str | None:
        """The added field that looks like ``old_prop`` under a new name, if exactly one does."""
        matches = []
        for name in candidates:
            if name in taken:
                continue
            probe = _Comparison(self.old_root, self.new_root)
            probe._compare(old_prop, new_props[name], name)
            if not probe.problems:
                matches.append(name)
        return matches[0] if len(matches) == 1 else None

    def _compare_constraints(self, old: Schema, new: Schema, path: str) -> None:
        for key in _LOWER_BOUNDS:
            if key in new and (key not in old or new[key] > old[key]):
                self._problem(path, _constraint_change(key, old.get(key), new[key]))
        for key in _UPPER_BOUNDS:
            if key in new and (key not in old or new[key] < old[key]):
                self._problem(path, _constraint_change(key, old.get(key), new[key]))
        for key in _EXACT_CONSTRAINTS:
            if key in new and new[key] != old.get(key):
                self._problem(path, _constraint_change(key, old.get(key), new[key]))

    def _problem(self, path: str, message: str) -> None:
        where = f"`{path}`" if path else "the payload"
        self.problems.append(f"{where}: {message}")


def _alternatives(schema: Schema, root: Schema) -> list[Schema]:
    """The schema as a flat list of union members, with local ``$ref``s resolved."""
    schema = _resolve(schema, root)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return [alt for member in schema[key] for alt in _alternatives(member, root)]
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        return _alternatives(all_of[0], root)
    types = schema.get("type")
    if isinstance(types, list):
        return [{**schema, "type": t} for t in types]
    return [schema]


def _resolve(schema: Schema, root: Schema) -> Schema:
    seen: set[str] = set()
    while "$ref" in schema:
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/") or ref in seen:
            break
        seen.add(ref)
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **siblings}
    return schema


def _type_of(schema: Schema) -> str:
    """The JSON type of a union member, with its format: `string (date-time)`."""
    if "type" in schema:
        kind = str(schema["type"])
        return f"{kind} ({schema['format']})" if "format" in schema else kind
    if "const" in schema:
        return _json_type(schema["const"])
    if schema.get("enum"):
        return _json_type(schema["enum"][0])
    if "properties" in schema:
        return "object"
    return _ANY


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _group_by_type(alternatives: list[Schema]) -> dict[str, Schema]:
    grouped: dict[str, Schema] = {}
    for alt in alternatives:
        kind = _type_of(alt)
        if kind in grouped:
            # Two members of one JSON type (e.g. two object shapes) are compared as their merge.
            grouped[kind] = _merge(grouped[kind], alt)
        else:
            grouped[kind] = alt
    return grouped


def _merge(a: Schema, b: Schema) -> Schema:
    merged = dict(a)
    merged["properties"] = {**a.get("properties", {}), **b.get("properties", {})}
    merged["required"] = sorted(set(a.get("required", ())) & set(b.get("required", ())))
    values_a, values_b = _enum_values(a), _enum_values(b)
    if values_a is not None and values_b is not None:
        merged.pop("const", None)
        merged["enum"] = [*values_a, *(v for v in values_b if v not in values_a)]
    return merged


def _enum_values(schema: Schema) -> list[Any] | None:
    if "enum" in schema:
        return list(schema["enum"])
    if "const" in schema:
        return [schema["const"]]
    return None


def _describe(grouped: Mapping[str, Schema]) -> str:
    parts = []
    for kind, schema in grouped.items():
        label = kind
        values = _enum_values(schema)
        if values is not None:
            label += f" {_show(values)}"
        parts.append(label)
    return " | ".join(parts)


def _show(values: list[Any]) -> str:
    return "[" + ", ".join(repr(v) for v in values) + "]"


def _constraint_change(key: str, old: Any, new: Any) -> str:
    if old is None:
        return f"constraint `{key}` added ({new!r})"
    return f"constraint `{key}` tightened from {old!r} to {new!r}"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
