"""The route table: every endpoint, its access rule and its typed input and output.

A handler is an async function taking the :class:`Request` and, when the route reads a
body, the validated body model; it returns a model (sent as JSON), a :class:`Response`,
or ``None`` (204).  Models are read from the handler's annotations, so the table, the
validation and the OpenAPI document cannot disagree."""

from __future__ import annotations

import inspect
import re
import typing
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from server.http.messages import Request, Response

Handler = Callable[..., Awaitable[Any]]
HandlerT = TypeVar("HandlerT", bound=Handler)

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Public:
    """Anyone may call the route; ``reason`` records why that is acceptable."""

    reason: str


@dataclass(frozen=True)
class Requires:
    """Only a signed-in principal holding ``permission`` may call the route."""

    permission: str


Access = Public | Requires

_PARAM = re.compile(r"\{([a-z_][a-z0-9_]*)(?::(str|int|uuid))?\}")


def _convert_int(value: str) -> int:
    if not value.isdigit() or len(value) > 18:
        raise ValueError(value)
    return int(value)


def _convert_uuid(value: str) -> uuid.UUID:
    if len(value) != 36:
        raise ValueError(value)
    return uuid.UUID(value)


_CONVERTERS: dict[str, Callable[[str], Any]] = {"str": str, "int": _convert_int, "uuid": _convert_uuid}
_PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer", "minimum": 0},
    "uuid": {"type": "string", "format": "uuid"},
}


@dataclass(frozen=True)
class PathParam:
    name: str
    kind: str

    def schema(self) -> dict[str, Any]:
        return dict(_PARAM_SCHEMAS[self.kind])


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    access: Access
    summary: str
    name: str
    status: int = 200
    body_model: type[BaseModel] | None = None
    response_model: type[BaseModel] | None = None
    query_model: type[BaseModel] | None = None
    produces: str = "application/json"
    tags: tuple[str, ...] = ()
    params: tuple[PathParam, ...] = ()
    errors: tuple[int, ...] = ()

    @property
    def reads_body(self) -> bool:
        return self.body_model is not None


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_params: dict[str, Any]


@dataclass(frozen=True)
class RouteMiss:
    """No route: 404, or 405 when the path exists for other methods (``allow``)."""

    status: int
    allow: tuple[str, ...] = ()


@dataclass
class _Template:
    pattern: re.Pattern[str]
    params: tuple[PathParam, ...]
    by_method: dict[str, Route] = field(default_factory=dict)


def _compile(path: str) -> tuple[re.Pattern[str] | None, tuple[PathParam, ...]]:
    if not path.startswith("/"):
        raise ValueError(f"route path must start with '/': {path!r}")
    params: list[PathParam] = []
    regex = ""
    position = 0
    for found in _PARAM.finditer(path):
        regex += re.escape(path[position : found.start()])
        params.append(PathParam(found.group(1), found.group(2) or "str"))
        regex += f"(?P<{found.group(1)}>[^/]+)"
        position = found.end()
    if "{" in path[position:] or "}" in path[position:]:
        raise ValueError(f"malformed path parameter in {path!r}")
    if not params:
        return None, ()
    regex += re.escape(path[position:])
    return re.compile(regex), tuple(params)


def _allowed(by_method: dict[str, Route]) -> tuple[str, ...]:
    methods = set(by_method)
    if "GET" in methods:
        methods.add("HEAD")
    return tuple(method for method in METHODS if method in methods)


def _signature_models(handler: Handler) -> tuple[type[BaseModel] | None, Any]:
    """The body model (second parameter) and the return annotation of a handler."""
    hints = typing.get_type_hints(handler)
    parameters = list(inspect.signature(handler).parameters.values())
    if not parameters or hints.get(parameters[0].name) is not Request:
        raise TypeError(f"{handler.__qualname__}: first parameter must be annotated Request")
    if len(parameters) > 2:
        raise TypeError(f"{handler.__qualname__}: takes (request) or (request, body)")
    body_model: type[BaseModel] | None = None
    if len(parameters) == 2:
        annotation = hints.get(parameters[1].name)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            raise TypeError(f"{handler.__qualname__}: body parameter must be a pydantic model")
        body_model = annotation
    if "return" not in hints:
        raise TypeError(f"{handler.__qualname__}: return type must be annotated")
    return body_model, hints["return"]


class Router:
    """The one route table of a listener."""

    def __init__(self) -> None:
        self._routes: list[Route] = []
        self._static: dict[str, dict[str, Route]] = {}
        self._templates: dict[str, _Template] = {}

    def __iter__(self) -> Iterator[Route]:
        return iter(self._routes)

    def __len__(self) -> int:
        return len(self._routes)

    def add(self, route: Route) -> None:
        pattern, params = _compile(route.path)
        if pattern is None:
            by_method = self._static.setdefault(route.path, {})
        else:
            template = self._templates.setdefault(route.path, _Template(pattern, params))
            by_method = template.by_method
        if route.method in by_method:
            raise ValueError(f"duplicate route {route.method} {route.path}")
        if any(existing.name == route.name for existing in self._routes):
            raise ValueError(f"duplicate route name {route.name}")
        by_method[route.method] = route
        self._routes.append(route)

    def route(
        self,
        method: str,
        path: str,
        *,
        access: Access,
        summary: str,
        status: int = 200,
        query: type[BaseModel] | None = None,
        produces: str = "application/json",
        response: type[BaseModel] | None = None,
        tags: Sequence[str] = (),
        errors: Sequence[int] = (),
    ) -> Callable[[HandlerT], HandlerT]:
        """Register the decorated handler.  ``response`` documents the model behind a
        handler that returns a :class:`Response` itself; ``errors`` lists the error
        statuses the handler may raise beyond those every route can give."""
        if method not in METHODS or method == "HEAD":
            raise ValueError(f"unsupported method {method}")

        def register(handler: HandlerT) -> HandlerT:
            body_model, returns = _signature_models(handler)
            response_model = response
            if isinstance(returns, type) and issubclass(returns, BaseModel):
                response_model = returns
            elif returns is type(None):
                if status != 204:
                    raise TypeError(f"{handler.__qualname__}: returns None, so status must be 204")
            elif returns is not Response:
                raise TypeError(f"{handler.__qualname__}: must return a model, Response or None")
            _, params = _compile(path)
            self.add(
                Route(
                    method=method,
                    path=path,
                    handler=handler,
                    access=access,
                    summary=summary,
                    name=handler.__name__,
                    status=status,
                    body_model=body_model,
                    response_model=response_model,
                    query_model=query,
                    produces=produces,
                    tags=tuple(tags),
                    params=params,
                    errors=tuple(errors),
                )
            )
            return handler

        return register

    def get(self, path: str, **options: Any) -> Callable[[HandlerT], HandlerT]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[HandlerT], HandlerT]:
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[HandlerT], HandlerT]:
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[HandlerT], HandlerT]:
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[HandlerT], HandlerT]:
        return self.route("DELETE", path, **options)

    def include(self, other: Router) -> None:
        for route in other:
            self.add(route)

    def match(self, method: str, path: str) -> RouteMatch | RouteMiss:
        by_method = self._static.get(path)
        params: dict[str, Any] = {}
        if by_method is None:
            for template in self._templates.values():
                found = template.pattern.fullmatch(path)
                if found is None:
                    continue
                try:
                    params = {
                        param.name: _CONVERTERS[param.kind](found.group(param.name))
                        for param in template.params
                    }
                except ValueError:
                    continue
                by_method = template.by_method
                break
            else:
                return RouteMiss(404)
        route = by_method.get("GET" if method == "HEAD" else method)
        if route is None:
            return RouteMiss(405, _allowed(by_method))
        return RouteMatch(route, params)
