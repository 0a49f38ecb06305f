"""Remember what FastAPI works out about a query, path or header parameter, instead of working it out
again on every request.

For each parameter of each request, FastAPI asks of the parameter's declaration whether it is a
model, which names it may arrive under, whether it is JSON and whether its type is a sequence: walks
over typing objects whose answers depend on the declaration alone, which never changes after start-up.
On the ticket queue (ten query parameters, validation included) the parameters cost 15 % of the
server's CPU, 13 of them in those questions and under 2 in validating the values
(`bench/README.md`, "Where the time goes").

`install` wraps those four functions, in the one FastAPI module that calls them, with caches keyed
by the declaration: a `ModelField`'s identity (an entry leaves with its field, so that the fields
FastAPI builds per request under a dependency override do not pile up) or a type annotation. What
FastAPI does with the answers, validation and error messages included, is unchanged.
`tests/core/test_param_cache.py` fails if a FastAPI upgrade renames what is wrapped.
"""

import weakref
from collections.abc import Callable
from typing import Any

from fastapi.dependencies import utils as fastapi_utils

# The per-field questions, by their names in `fastapi.dependencies.utils`.
PER_FIELD = ("_get_param_model", "_get_param_aliases", "_is_json_field")
# The per-annotation one.
PER_ANNOTATION = ("field_annotation_is_sequence",)
_INSTALLED = "__queueless_cached__"


def _per_field(function: Callable[..., Any]) -> Callable[..., Any]:
    # By the field's identity; an entry leaves with its field (a plain dict, as a weak-keyed one
    # cost as much per lookup as half the questions saved).
    answers: dict[int, dict[tuple[Any, ...], Any]] = {}

    def cached(field: Any, **options: Any) -> Any:
        by_options = answers.get(id(field))
        if by_options is None:
            by_options = answers[id(field)] = {}
            weakref.finalize(field, answers.pop, id(field), None)
        key = tuple(options.items()) if options else ()
        try:
            return by_options[key]
        except KeyError:
            answer = by_options[key] = function(field, **options)
            return answer

    setattr(cached, _INSTALLED, function)
    return cached


def _per_annotation(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    answers: dict[Any, Any] = {}

    def cached(annotation: Any) -> Any:
        try:
            return answers[annotation]
        except KeyError:
            answer = answers[annotation] = function(annotation)
            return answer
        except TypeError:  # an annotation that cannot be hashed: asked every time, as FastAPI does
            return function(annotation)

    setattr(cached, _INSTALLED, function)
    return cached


def install() -> None:
    """Wrap the questions once per process (calling it again changes nothing)."""
    for names, wrap in ((PER_FIELD, _per_field), (PER_ANNOTATION, _per_annotation)):
        for name in names:
            function = getattr(fastapi_utils, name)
            if not hasattr(function, _INSTALLED):
                setattr(fastapi_utils, name, wrap(function))


def installed() -> bool:
    return all(hasattr(getattr(fastapi_utils, name), _INSTALLED) for name in (*PER_FIELD, *PER_ANNOTATION))


def uncached(name: str) -> Callable[..., Any]:
    """FastAPI's own function behind the cached one of that name."""
    function: Callable[..., Any] = getattr(getattr(fastapi_utils, name), _INSTALLED)
    return function
