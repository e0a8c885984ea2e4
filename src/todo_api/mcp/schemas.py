"""The tools' JSON Schemas, made from the API's own models (`TaskCreate`, `TaskPatch`,
`ListParams`, `TaskPublic`): a field added to one of them appears in the tools with nothing here
to update.

What changes on the way is only what a model filling the arguments needs: references are
inlined (some clients and model APIs do not follow `$ref`), enumerations too long to be useful
are left to the description, a few descriptions that speak of HTTP (a `Link` header) speak of
the tool's result instead, and a parameter that takes a list takes one item too (models often
send `"tag": "work"` for `["work"]`), which `listed` turns into that list before validation.
"""

from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel

# An enumeration longer than this is dropped from the published schema (the server still checks
# the value): the ~600 IANA time zones alone would add some 13 KB to each tool that takes a
# `timezone`, in every conversation that lists the tools.
MAX_ENUM = 32
# Listed last in every tool's parameters: rarely given, it only has to match the token.
USER_ID = "user_id"
# What describes a list itself, rather than the parameter (its description, title, default).
_LIST_KEYWORDS = frozenset({"type", "items", "minItems", "maxItems", "uniqueItems"})


def input_schema(
    own: type[BaseModel],
    fields: type[BaseModel],
    *,
    wording: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One object schema: the tool's own parameters (`task_id`), then the API model's fields,
    then `user_id`; no other property is accepted."""
    own_schema = model_schema(own)
    fields_schema = model_schema(fields)
    own_properties = dict(own_schema.get("properties", {}))
    user_id = own_properties.pop(USER_ID, None)
    # A field the API only reads back (`id` in a task body) is no argument a tool takes.
    fields_properties = {
        name: value
        for name, value in fields_schema.get("properties", {}).items()
        if not value.get("readOnly")
    }
    properties = {**own_properties, **fields_properties}
    if user_id is not None:
        properties[USER_ID] = user_id
    for name, description in (wording or {}).items():
        if name in properties:
            properties[name] = {**properties[name], "description": description}
    properties = {name: _one_or_many(schema) for name, schema in properties.items()}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    required = [*own_schema.get("required", []), *fields_schema.get("required", [])]
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    # Keywords of the model's own (such as "a due_time needs a due_date"), kept as they are.
    schema.update(
        (key, value)
        for key, value in fields_schema.items()
        if key not in ("title", "description", "properties", "required", "type")
    )
    return schema


def _one_or_many(schema: dict[str, Any]) -> dict[str, Any]:
    """A list parameter's schema, as a list or one of its items."""
    if schema.get("type") != "array" or not isinstance(schema.get("items"), dict):
        return schema
    many = {key: value for key, value in schema.items() if key in _LIST_KEYWORDS}
    around = {key: value for key, value in schema.items() if key not in _LIST_KEYWORDS}
    return {"anyOf": [many, schema["items"]], **around}


def list_parameters(schema: Mapping[str, Any]) -> frozenset[str]:
    """The parameters of a tool's input schema that take a list or one item of it."""
    return frozenset(
        name
        for name, parameter in schema["properties"].items()
        if any(option.get("type") == "array" for option in parameter.get("anyOf", ()))
    )


def listed(arguments: Mapping[str, Any], lists: Collection[str]) -> dict[str, Any]:
    """The arguments, with one item given for a list parameter made a list of that item. A null
    is left as it is: it is never an item, and a patch refuses it for a list in its own words."""
    return {
        name: [value]
        if name in lists and value is not None and not isinstance(value, list)
        else value
        for name, value in arguments.items()
    }


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema, self-contained and without oversized enumerations."""
    schema = model.model_json_schema()
    definitions: dict[str, Any] = schema.pop("$defs", {})
    result: dict[str, Any] = _simplified(schema, definitions)
    return result


def _simplified(node: Any, definitions: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_simplified(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    reference = node.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/$defs/"):
        # The field's own keywords (its description, its default) win over the definition's.
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        node = {**definitions[reference.removeprefix("#/$defs/")], **siblings}
    enum = node.get("enum")
    if isinstance(enum, list) and len(enum) > MAX_ENUM:
        node = {key: value for key, value in node.items() if key != "enum"}
    return {key: _simplified(value, definitions) for key, value in node.items()}
