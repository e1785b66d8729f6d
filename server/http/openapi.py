"""The OpenAPI 3.1 document, generated from the route table and its pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from server.http.errors import ErrorBody
from server.http.routing import Public, Requires, Route, Router

BEARER_SCHEME = "bearerAuth"
_PARAM_TYPE = re.compile(r"\{([a-z_][a-z0-9_]*):[a-z]+\}")
REF_TEMPLATE = "#/components/schemas/{model}"

_COMMON_ERRORS = {
    400: "Malformed request.",
    404: "No such resource.",
    405: "Method not allowed here.",
    406: "The client does not accept the response type.",
    408: "The request took too long to arrive.",
    431: "Request headers too large.",
    500: "The server failed.",
    503: "At capacity or shutting down.",
}


def openapi_path(path: str) -> str:
    """``/customers/{id:uuid}`` as OpenAPI writes it: ``/customers/{id}``."""
    return _PARAM_TYPE.sub(r"{\1}", path)


def _error_statuses(route: Route) -> dict[int, str]:
    statuses = dict(_COMMON_ERRORS)
    if isinstance(route.access, Requires):
        statuses[401] = "Not signed in, or the token is invalid or expired."
        statuses[403] = f"The principal lacks the permission {route.access.permission}."
    if route.reads_body:
        statuses[413] = "The body is too large."
        statuses[415] = "The body is not application/json."
    if route.reads_body or route.query_model is not None:
        statuses[422] = "The body or query failed validation; details locate each field."
    for status in route.errors:
        statuses.setdefault(status, "See the error code.")
    return dict(sorted(statuses.items()))


def _schemas(router: Router) -> tuple[dict[str, Any], dict[Any, dict[str, Any]]]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for route in router:
        if route.body_model is not None:
            wanted.append((route.body_model, "validation"))
        if route.query_model is not None:
            wanted.append((route.query_model, "validation"))
        if route.response_model is not None:
            wanted.append((route.response_model, "serialization"))
    refs, top = models_json_schema(list(dict.fromkeys(wanted)), ref_template=REF_TEMPLATE)
    return top.get("$defs", {}), dict(refs)


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {key: value for key, value in prop.items() if key != "title"},
            **({"description": prop["description"]} if "description" in prop else {}),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _operation(route: Route, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    error_ref = refs[(ErrorBody, "serialization")]
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "tags": list(route.tags),
    }
    parameters = [
        {"name": param.name, "in": "path", "required": True, "schema": param.schema()}
        for param in route.params
    ]
    if route.query_model is not None:
        parameters.extend(_query_parameters(route.query_model))
    if parameters:
        operation["parameters"] = parameters
    if route.body_model is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(route.body_model, "validation")]}},
        }
    success: dict[str, Any] = {"description": route.summary}
    if route.status != 204:
        media = route.produces.split(";")[0]
        if route.response_model is not None:
            success["content"] = {media: {"schema": refs[(route.response_model, "serialization")]}}
        else:
            success["content"] = {media: {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(route.status): success}
    for status, description in _error_statuses(route).items():
        responses[str(status)] = {
            "description": description,
            "content": {"application/json": {"schema": error_ref}},
        }
    operation["responses"] = responses
    if isinstance(route.access, Requires):
        operation["security"] = [{BEARER_SCHEME: []}]
        operation["x-kluis-permission"] = route.access.permission
    else:
        assert isinstance(route.access, Public)
        operation["security"] = []
        operation["x-kluis-public"] = route.access.reason
    return operation


def openapi_document(router: Router, *, title: str, version: str, description: str = "") -> dict[str, Any]:
    schemas, refs = _schemas(router)
    paths: dict[str, dict[str, Any]] = {}
    for route in router:
        paths.setdefault(openapi_path(route.path), {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                BEARER_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An access token from the sign-in or refresh endpoint.",
                }
            },
        },
    }
