"""JSON Schemas of the event contract, published in `events/` and in the OpenAPI document."""

from typing import Any

from pydantic import BaseModel

from rewards.events.schemas import DATA_MODELS, CloudEvent, CustomData

SCHEMA_BASE = "https://rewards.example/schemas/events/"


def _inline(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(ref_template="#/$defs/{model}")


def event_schema(event_type: str | None) -> dict[str, Any]:
    """The full schema of one event type (None: any other type, with `data` an open object)."""
    envelope = _inline(CloudEvent)
    data_model = DATA_MODELS.get(event_type, CustomData) if event_type else CustomData
    data = _inline(data_model)
    defs = {**envelope.pop("$defs", {}), **data.pop("$defs", {})}
    envelope["properties"]["data"] = data
    if event_type is not None:
        envelope["properties"]["type"] = {"const": event_type, "type": "string"}
    name = event_type or "custom"
    envelope["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    envelope["$id"] = f"{SCHEMA_BASE}{name}.schema.json"
    envelope["title"] = f"{name} event" if event_type else "Any other event type (data is an object)"
    if defs:
        envelope["$defs"] = defs
    return envelope


def all_event_schemas() -> dict[str, dict[str, Any]]:
    """File name -> schema, for every forum event type plus the open `custom` one."""
    schemas = {f"{event_type}.schema.json": event_schema(event_type) for event_type in DATA_MODELS}
    schemas["custom.schema.json"] = event_schema(None)
    return schemas


def openapi_components() -> dict[str, dict[str, Any]]:
    """Components for the OpenAPI document: one schema per event type, refs rewritten to components."""
    components: dict[str, dict[str, Any]] = {}
    for file_name, schema in all_event_schemas().items():
        schema = dict(schema)
        name = "Event_" + file_name.removesuffix(".schema.json").replace(".", "_")
        defs = schema.pop("$defs", {})
        for def_name, definition in defs.items():
            components[def_name] = _rewrite_refs(definition)
        schema.pop("$schema", None)
        schema.pop("$id", None)
        components[name] = _rewrite_refs(schema)
    return components


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (value.replace("#/$defs/", "#/components/schemas/") if key == "$ref" else _rewrite_refs(value))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    return node
