"""From a parsed request to a response: routing, access, negotiation, validation and
the handler call.  No sockets here; :mod:`server.http.connection` feeds it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from server.http.errors import ErrorDetail, HTTPError
from server.http.messages import Request, Response
from server.http.negotiation import accepts, is_json
from server.http.routing import Requires, Route, RouteMatch, Router

logger = logging.getLogger("kluis.http")

Authorizer = Callable[[Request, Route], Awaitable[None]]


async def deny_protected_routes(request: Request, route: Route) -> None:
    """The authorizer until authentication is configured: protected routes stay shut."""
    if isinstance(route.access, Requires):
        raise HTTPError(401, "unauthenticated", "Sign in to use this endpoint.")


def validation_details(error: ValidationError, prefix: str) -> list[ErrorDetail]:
    """Field paths and messages of a pydantic error, never the offending input itself."""
    return [
        ErrorDetail(
            loc=".".join([prefix, *(str(part) for part in item["loc"])]),
            msg=item["msg"],
            type=item["type"],
        )
        for item in error.errors(include_url=False, include_input=False, include_context=False)
    ]


def _is_list_field(annotation: Any) -> bool:
    if get_origin(annotation) in (list, tuple, set, frozenset):
        return True
    return any(_is_list_field(arg) for arg in get_args(annotation))


def parse_query(request: Request, model: type[BaseModel]) -> BaseModel:
    values: dict[str, Any] = {}
    list_fields = {name for name, field in model.model_fields.items() if _is_list_field(field.annotation)}
    for name, value in request.query_params():
        if name in list_fields:
            values.setdefault(name, []).append(value)
        else:
            values[name] = value
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise HTTPError(
            422,
            "invalid_query",
            "The query parameters are invalid.",
            details=validation_details(exc, "query"),
        ) from None


@dataclass(slots=True)
class Plan:
    """What to do once a request's head is in: answer at once, or read the body and call
    the handler."""

    route: Route | None
    response: Response | None = None

    @property
    def reads_body(self) -> bool:
        return self.response is None and self.route is not None and self.route.reads_body


def error_response(error: HTTPError, request_id: str) -> Response:
    return Response(status=error.status, body=error.body(request_id), headers=list(error.headers))


class Dispatcher:
    def __init__(self, router: Router, *, max_body_bytes: int, authorizer: Authorizer | None = None) -> None:
        self.router = router
        self.max_body_bytes = max_body_bytes
        self.authorizer = authorizer or deny_protected_routes

    async def plan(self, request: Request, content_length: int | None) -> Plan:
        """Decide from the head alone: routing, access, negotiation and body limits."""
        matched = self.router.match(request.method, request.path)
        if not isinstance(matched, RouteMatch):
            if matched.status == 405:
                error = HTTPError(
                    405,
                    "method_not_allowed",
                    f"{request.method} is not allowed here.",
                    headers=[("allow", ", ".join(matched.allow))],
                )
            else:
                error = HTTPError(404, "not_found", "No such resource.")
            return Plan(None, error_response(error, request.request_id))
        route = matched.route
        request.path_params = matched.path_params
        try:
            await self.authorizer(request, route)
            if not accepts(request.header(b"accept"), route.produces):
                raise HTTPError(
                    406, "not_acceptable", f"This resource is only available as {route.produces}."
                )
            if route.reads_body:
                if not is_json(request.header(b"content-type")):
                    raise HTTPError(415, "unsupported_media_type", "Send the body as application/json.")
                if content_length is not None and content_length > self.max_body_bytes:
                    raise self.body_too_large()
            if route.query_model is not None:
                request.query = parse_query(request, route.query_model)
        except HTTPError as error:
            return Plan(route, error_response(error, request.request_id))
        return Plan(route)

    def body_too_large(self) -> HTTPError:
        return HTTPError(413, "body_too_large", f"The body exceeds {self.max_body_bytes} bytes.")

    async def respond(self, plan: Plan, request: Request, body: bytes) -> Response:
        """Validate the body, call the handler and turn its result into a response."""
        if plan.response is not None:
            return plan.response
        route = plan.route
        assert route is not None
        try:
            if route.body_model is not None:
                try:
                    model = route.body_model.model_validate_json(body)
                except ValidationError as exc:
                    raise HTTPError(
                        422,
                        "invalid_body",
                        "The request body is invalid.",
                        details=validation_details(exc, "body"),
                    ) from None
                result = await route.handler(request, model)
            else:
                result = await route.handler(request)
        except HTTPError as error:
            return error_response(error, request.request_id)
        except Exception:
            logger.exception(
                "handler failed", extra={"fields": {"request_id": request.request_id, "route": route.path}}
            )
            return error_response(
                HTTPError(500, "internal_error", "The server could not complete the request."),
                request.request_id,
            )
        if isinstance(result, Response):
            return result
        if isinstance(result, BaseModel):
            return Response(status=route.status, body=result.model_dump_json().encode())
        return Response(status=204, body=b"", content_type=None)
