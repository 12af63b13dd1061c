"""Post-processing of the generated OpenAPI schema (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""

from __future__ import annotations

from typing import Any


def reject_unknown_fields(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Every request body is read by a StrictSerializer, which refuses fields it does not know:
    say so in the schema (`additionalProperties: false`), so clients and fuzzers know it too.

    With COMPONENT_SPLIT_REQUEST, the request-side components are exactly those named *Request.
    """
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    return result
