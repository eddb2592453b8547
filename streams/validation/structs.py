"""The interaction event and the post record as msgspec structs generated from their JSON Schemas (the
contract in ``schemas/``), so that decoding and validating a message is one pass in C, and the schema
stays the only field list.

One struct class per value of the property the schema's ``allOf`` conditions test (``type``): msgspec
picks the class by that tag, and each class requires what the schema requires of that type (``post_id``
on post-level types, ``dwell_ms`` on dwell, ``in_reply_to`` on reply). Bounds become msgspec
constraints; ``format`` becomes fastjsonschema's own pattern for it; an optional field's default is
None while its type excludes None, so an explicit null is still refused. A keyword this module does not
translate makes the import fail, rather than accept too much. The translation is checked against the
JSON Schema by a property test (tests/unit/validation/test_structs.py).

Where msgspec refuses what the schema admits (an integral float such as 1.7e12 where the schema says
integer; a post record with a field the contract does not name, which the post book keeps whole), the
caller falls back to the full validator; msgspec never accepts what the schema refuses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import msgspec
from fastjsonschema.draft07 import CodeGeneratorDraft07

from ..contract import EVENT_SCHEMA, POST_SCHEMA

_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "examples", "default", "$comment"})
_FORMAT_PATTERNS = CodeGeneratorDraft07.FORMAT_REGEXS  # the patterns the full validator checks
_BOUNDS = {"minLength": "min_length", "maxLength": "max_length", "minimum": "ge", "maximum": "le"}
_TYPES = {"string": (str,), "integer": (int,), "number": (int, float)}  # number: an int stays an int


def _unknown(schema: dict, known: set[str], where: str) -> None:
    extra = set(schema) - _ANNOTATIONS - known
    if extra:
        raise ValueError(f"structs: {where} has keywords not translated: {sorted(extra)}")


def field_type(schema: dict, where: str) -> Any:
    """The msgspec type of one property's subschema."""
    if "enum" in schema:
        _unknown(schema, {"enum"}, where)
        if not all(isinstance(v, str) for v in schema["enum"]):
            raise ValueError(f"structs: {where}: only string enums are translated")
        return Literal[tuple(schema["enum"])]
    if "anyOf" in schema:
        _unknown(schema, {"anyOf"}, where)
        return Union[tuple(field_type(alt, f"{where}/anyOf") for alt in schema["anyOf"])]
    _unknown(schema, {"type", "format", *_BOUNDS}, where)
    if schema.get("type") not in _TYPES:
        raise ValueError(f"structs: {where}: type {schema.get('type')!r} is not translated")
    meta = {_BOUNDS[k]: v for k, v in schema.items() if k in _BOUNDS}
    if "format" in schema:
        meta["pattern"] = _FORMAT_PATTERNS[schema["format"]]  # KeyError: a format not translated
    kinds = [Annotated[kind, msgspec.Meta(**meta)] if meta else kind for kind in _TYPES[schema["type"]]]
    return kinds[0] if len(kinds) == 1 else Union[tuple(kinds)]


def _required_by_tag(schema: dict) -> tuple[str, dict[str, set[str]]]:
    """The tag property and, per tag value, what the ``allOf`` conditions require beyond ``required``."""
    tags = set()
    for rule in schema.get("allOf", []):
        _unknown(rule, {"if", "then"}, "allOf")
        condition, then = rule["if"], rule["then"]
        _unknown(condition, {"properties", "required"}, "allOf/if")
        _unknown(then, {"required"}, "allOf/then")
        ((tag, test),) = condition["properties"].items()
        if condition.get("required") != [tag]:
            raise ValueError("event structs: an allOf condition must require the property it tests")
        tags.add(tag)
    if len(tags) > 1:
        raise ValueError(f"event structs: allOf conditions test more than one property: {sorted(tags)}")
    tag = tags.pop() if tags else "type"
    values = schema["properties"][tag]["enum"]
    extra: dict[str, set[str]] = {value: set() for value in values}
    for rule in schema.get("allOf", []):
        test = rule["if"]["properties"][tag]
        _unknown(test, {"enum", "const"}, "allOf/if/properties")
        matching = test["enum"] if "enum" in test else [test["const"]]
        for value in matching:
            extra[value] |= set(rule["then"]["required"])
    return tag, extra


def event_structs(schema: dict) -> tuple[type, dict[str, type]]:
    """(the base struct, {tag value: its struct class}) of an event schema."""
    _unknown(schema, {"type", "required", "properties", "allOf"}, "the event schema")
    if schema.get("type") != "object":
        raise ValueError("event structs: the event schema must describe an object")
    tag, extra = _required_by_tag(schema)
    required = set(schema["required"]) - {tag}
    types = {name: field_type(sub, f"properties/{name}") for name, sub in schema["properties"].items() if name != tag}
    base = msgspec.defstruct(
        "InteractionEvent",
        [(name, kind) if name in required else (name, kind, None) for name, kind in types.items()],
        tag_field=tag,
        kw_only=True,
        omit_defaults=True,
        gc=False,  # fields hold str, int and float only
        module=__name__,
    )
    classes = {}
    for index, value in enumerate(schema["properties"][tag]["enum"]):
        own = [(name, types[name]) for name in sorted(extra[value] - required)]
        classes[value] = msgspec.defstruct(
            f"{value.capitalize()}Event",
            own,
            bases=(base,),
            tag=value,
            module=__name__,
            namespace={"type": value, "type_index": index},
        )  # the tag, readable as a class attribute
    return base, classes


def record_struct(schema: dict, name: str) -> type:
    """The struct of a flat record schema that requires all its properties. A field the schema does
    not name is refused (the schema admits it): the caller validates such a record in full."""
    _unknown(schema, {"type", "required", "properties"}, name)
    if schema.get("type") != "object" or set(schema.get("required", ())) != set(schema["properties"]):
        raise ValueError(f"structs: {name} must describe an object that requires all its properties")
    fields = [(field, field_type(sub, f"properties/{field}")) for field, sub in schema["properties"].items()]
    return msgspec.defstruct(name, fields, forbid_unknown_fields=True, gc=False, module=__name__)


if TYPE_CHECKING:  # classes generated at run time from the schema, the only field list: Any to the type checker
    InteractionEvent = Any
    AnyEvent = Any
    EVENT_CLASSES: dict[str, type]
    PostRecord = Any
else:
    InteractionEvent, EVENT_CLASSES = event_structs(EVENT_SCHEMA)
    AnyEvent = Union[tuple(EVENT_CLASSES.values())]
    PostRecord = record_struct(POST_SCHEMA, "PostRecord")
# A message: one event, or a JSON array of them (``decode_lines``: a slice of messages).
message_decoder = msgspec.json.Decoder(Union[AnyEvent, list[AnyEvent]])


def event_from(data: dict) -> InteractionEvent:
    """The struct of an event the full validator accepted (its ``ts`` already in epoch ms)."""
    return msgspec.convert(data, AnyEvent, strict=False)


post_decoder = msgspec.json.Decoder(PostRecord)
