"""The parameter caches (`app/core/param_cache.py`) change how often FastAPI asks about a parameter's
declaration, never the answer."""

import gc
from collections.abc import Iterator
from typing import Any

import httpx
from fastapi import FastAPI, params
from fastapi.dependencies import utils as fastapi_utils
from fastapi.utils import create_model_field

from app.core import param_cache


def _parameters(app: FastAPI) -> Iterator[Any]:
    for route in app.router.routes:
        for context in getattr(route, "effective_route_contexts", list)():
            if context.dependant is not None:  # Starlette routes have none
                yield from fastapi_utils.get_flat_params(context.dependant)


def test_the_app_installs_the_caches_on_what_fastapi_calls(app: FastAPI) -> None:
    """Fails when a FastAPI upgrade renames or drops a wrapped function (the speed-up would be lost
    without a sign)."""
    assert param_cache.installed()


def test_every_parameter_of_the_app_gets_fastapis_own_answers(app: FastAPI) -> None:
    checked = 0
    for field in _parameters(app):
        for name in param_cache.PER_FIELD:
            cached, original = getattr(fastapi_utils, name), param_cache.uncached(name)
            assert cached(field) == original(field), (name, field.name)
            assert cached(field) == original(field), (name, field.name)  # and again, from the cache
        aliases, original = fastapi_utils._get_param_aliases, param_cache.uncached("_get_param_aliases")
        assert aliases(field, convert_underscores=True) == original(field, convert_underscores=True)
        annotation = field.field_info.annotation
        is_sequence, original = (
            fastapi_utils.field_annotation_is_sequence,
            param_cache.uncached("field_annotation_is_sequence"),
        )
        assert is_sequence(annotation) == original(annotation)
        checked += 1
    assert checked > 300  # the app's routes have hundreds of parameters


def test_a_fields_answers_leave_with_it(app: FastAPI) -> None:
    """FastAPI builds fields per request under a dependency override (the tests' clock): their
    entries must not pile up."""
    model_of = fastapi_utils._get_param_model
    answers = next(cell.cell_contents for cell in model_of.__closure__ if isinstance(cell.cell_contents, dict))
    field = create_model_field(name="probe", type_=int | None, field_info=params.Query())
    key = id(field)
    assert model_of(field) is None
    assert key in answers
    del field
    gc.collect()
    assert key not in answers


async def test_a_bad_query_value_is_still_a_problem_naming_it(client: httpx.AsyncClient) -> None:
    bad = await client.get("/services", params={"page": "zero"})
    assert bad.status_code == 422
    assert [error["loc"] for error in bad.json()["errors"]] == [["query", "page"]]
