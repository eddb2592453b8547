"""A fast, exception-free acceptance check generated from a JSON Schema (the contract in ``schemas/``).

fastjsonschema's generated validator raises and catches exceptions inside ``if``/``anyOf`` even for
valid input and checks keyword by keyword; it was half of the engine's CPU per event. The check built
here is one Python expression per schema, compiled once. It answers True only when the schema
certainly accepts the value; False means "not sure": the caller then runs the full validator, which
also says what is wrong. So the schema stays the only field list, and a keyword this module does not
know makes ``compile_acceptor`` fail loudly instead of accepting too much.

Only exact built-in types pass (orjson produces exactly str, int, float, bool, None, list and dict);
an integral float where the schema says integer, or a ``format`` keyword, answers "not sure".
"""

from __future__ import annotations

from typing import Any, Callable

# Keywords that do not constrain the value.
_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "examples", "default", "$comment"})
_TYPE_TESTS = {
    "string": "type({v}) is str",
    "integer": "type({v}) is int",
    "number": "(type({v}) is int or type({v}) is float)",
    "boolean": "type({v}) is bool",
    "null": "{v} is None",
    "object": "type({v}) is dict",
    "array": "type({v}) is list",
}

# The type each of these keywords constrains.
_KEYWORD_TYPES = {"minLength": "string", "maxLength": "string", "minimum": "number", "maximum": "number",
                  "required": "object", "properties": "object"}


class _Generator:
    def __init__(self) -> None:
        self.constants: dict[str, Any] = {}
        self._names = 0

    def _name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    def constant(self, value: Any) -> str:
        name = self._name("_c")
        self.constants[name] = value
        return name

    def expression(self, schema: dict | bool, v: str) -> str:
        """A Python expression over the variable named ``v``: True only if ``schema`` accepts it."""
        if schema is True:
            return "True"
        if schema is False:
            return "False"
        unknown = set(schema) - _ANNOTATIONS - {
            "type", "enum", "const", "minLength", "maxLength", "minimum", "maximum", "required",
            "properties", "anyOf", "allOf", "if", "then", "else", "format"}
        if unknown:
            raise ValueError(f"compile_acceptor does not know the keywords {sorted(unknown)}")
        terms: list[str] = []
        kind = schema.get("type")
        if kind is not None:
            kinds = [kind] if isinstance(kind, str) else list(kind)
            terms.append("(" + " or ".join(_TYPE_TESTS[k].format(v=v) for k in kinds) + ")")
        if "format" in schema:
            return "False"  # not checked here: the full validator decides
        if "enum" in schema or "const" in schema:
            members = schema["enum"] if "enum" in schema else [schema["const"]]
            if not all(isinstance(m, str) for m in members):
                raise ValueError("compile_acceptor supports string enum and const values only")
            terms.append(f"type({v}) is str and {v} in {self.constant(frozenset(members))}")
        for keyword, applies_to in _KEYWORD_TYPES.items():
            if keyword in schema:
                # A keyword constrains only values of its own type; others pass it (JSON Schema rules).
                test = _TYPE_TESTS[applies_to].format(v=v)
                terms.append(f"(not {test} or ({self._keyword(keyword, schema[keyword], v)}))")
        if "anyOf" in schema:
            terms.append("(" + " or ".join(f"({self.expression(s, v)})" for s in schema["anyOf"]) + ")")
        for sub in schema.get("allOf", ()):
            terms.append(f"({self.expression(sub, v)})")
        if "if" in schema:
            condition = self.expression(schema["if"], v)
            then = self.expression(schema.get("then", True), v)
            otherwise = self.expression(schema.get("else", True), v)
            terms.append(f"(({then}) if ({condition}) else ({otherwise}))")
        return " and ".join(terms) if terms else "True"

    def _keyword(self, keyword: str, value: Any, v: str) -> str:
        if keyword == "minLength":
            return f"len({v}) >= {int(value)}"
        if keyword == "maxLength":
            return f"len({v}) <= {int(value)}"
        if keyword == "minimum":
            return f"{v} >= {value!r}"
        if keyword == "maximum":
            return f"{v} <= {value!r}"
        if keyword == "required":
            return " and ".join(f"{name!r} in {v}" for name in value) or "True"
        # properties: each present property satisfies its schema (absent ones are not checked)
        parts = []
        for name, sub in value.items():
            item = self._name("_p")
            parts.append(f"(({item} := {v}.get({name!r}, _MISSING)) is _MISSING or ({self.expression(sub, item)}))")
        return " and ".join(parts) or "True"


_MISSING = object()


def compile_acceptor(schema: dict) -> Callable[[Any], bool]:
    """A function of one decoded JSON value: True only if ``schema`` accepts it (see the module)."""
    generator = _Generator()
    body = generator.expression(schema, "value")
    namespace = {"_MISSING": _MISSING, **generator.constants}
    exec(compile(f"def accepts(value):\n    return bool({body})\n", "<acceptor>", "exec"), namespace)
    return namespace["accepts"]
