"""Skip the routers that cannot match a request's path, before Starlette tries their routes.

Starlette (and FastAPI's included routers) find a request's route by trying every route in order,
each a regular expression behind a few layers of FastAPI's scope bookkeeping: about 4 µs a route
on this machine. With 190 routes, a request to one of the last features' routers spent 300-800 µs
finding its route, more than its whole database round trip (`bench/README.md`, "Where the time goes").

Each included router's paths have a shape: how many segments and which of them are literal
(`/api/v1/tickets/{ticket_id}` is five segments, four of them fixed). A request whose path fits
none of a router's shapes cannot match any of its routes, so `install` gives each router a guard
that answers "no match" at once in that case and leaves every other case (a fit, a route with a
`{name:path}` parameter, anything that is not a plain route) to the router itself. Order,
405 answers for a path that fits with another method, and everything else stay FastAPI's.
"""

from collections.abc import Callable

from fastapi import FastAPI
from starlette._utils import get_route_path
from starlette.convertors import PathConvertor
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

_PARAM = object()  # a trie edge for a `{name}` segment, which any one segment matches
_FITTING = "queueless.routers_fitting"  # the scope key of a request's fitting routers


class _Node:
    __slots__ = ("children", "routers")

    def __init__(self) -> None:
        self.children: dict[object, _Node] = {}
        self.routers: set[int] = set()  # routers with a path ending here


def _segments(path_format: str) -> list[object]:
    return [_PARAM if text.startswith("{") and text.endswith("}") else text for text in path_format.split("/")]


def _templates(route: BaseRoute) -> list[str] | None:
    """An included router's effective path templates (prefix included); None for anything else
    or for a router with a parameter spanning several segments (`{name:path}`): always tried."""
    contexts = getattr(route, "effective_route_contexts", None)
    if contexts is None:
        return None
    templates = []
    for context in contexts():
        target = context.starlette_route or context
        path_format, convertors = getattr(target, "path_format", None), getattr(target, "param_convertors", None)
        if path_format is None or convertors is None:
            return None
        if any(isinstance(convertor, PathConvertor) for convertor in convertors.values()):
            return None
        templates.append(path_format)
    return templates


class RouteIndex:
    """A trie of the included routers' path templates, segment by segment."""

    def __init__(self) -> None:
        self._root = _Node()

    def add(self, router: int, path_format: str) -> None:
        node = self._root
        for segment in _segments(path_format):
            node = node.children.setdefault(segment, _Node())
        node.routers.add(router)

    def fitting(self, path: str) -> set[int]:
        """The routers with a template of `path`'s shape: its segment count, its literal segments."""
        found: set[int] = set()
        nodes = [self._root]
        for segment in path.split("/"):
            following = []
            for node in nodes:
                if (child := node.children.get(segment)) is not None:
                    following.append(child)
                if (child := node.children.get(_PARAM)) is not None and segment:
                    following.append(child)
            if not following:
                return found
            nodes = following
        for node in nodes:
            found |= node.routers
        return found


def _guarded(
    matches: Callable[[Scope], tuple[Match, Scope]], router: int, index: RouteIndex
) -> Callable[[Scope], tuple[Match, Scope]]:
    def guarded_matches(scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] in ("http", "websocket"):
            fitting = scope.get(_FITTING)
            if fitting is None:
                fitting = scope[_FITTING] = index.fitting(get_route_path(scope))
            if router not in fitting:
                return Match.NONE, {}
        return matches(scope)

    return guarded_matches


def install(app: FastAPI) -> None:
    """Guard each of the app's included routers by its paths' shapes (after all routers are in)."""
    index = RouteIndex()
    guarded = []
    for number, route in enumerate(app.router.routes):
        templates = _templates(route)
        if templates is None:
            continue
        for template in templates:
            index.add(number, template)
        guarded.append((number, route))
    for number, route in guarded:
        route.matches = _guarded(route.matches, number, index)  # type: ignore[method-assign,assignment]
