"""`/docs` describes every operation: its text, its errors as problems with an example per code, and
an example of every JSON body it takes."""

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.openapi import declared_codes, error_catalogue
from app.core.schemas import InputSchema
from tests.helpers import assert_problem

Operation = tuple[str, str, dict[str, Any]]


@pytest.fixture
def schema(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def api_operations(schema: dict[str, Any]) -> list[Operation]:
    return [
        (path, method, operation)
        for path, operations in schema["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in operations.items()
    ]


def errors_of(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {status: r for status, r in operation["responses"].items() if status.startswith("4")}


def test_every_operation_has_a_summary_and_a_description(schema: dict[str, Any]) -> None:
    operations = [(path, method, op) for path, ops in schema["paths"].items() for method, op in ops.items()]
    assert len(operations) > 60
    missing = [
        f"{method} {path}" for path, method, op in operations if not (op.get("summary") and op.get("description"))
    ]
    assert missing == []


def test_every_operation_declares_its_errors(schema: dict[str, Any]) -> None:
    gaps = []
    for path, method, operation in api_operations(schema):
        errors = errors_of(operation)
        needed = set()
        if operation.get("security"):
            needed.add("401")
        if re.search(r"\{\w+\}", path):
            needed.add("404")
        if operation.get("parameters") or operation.get("requestBody"):
            needed.add("422")
        if not errors:
            gaps.append(f"{method} {path}: no 4xx at all")
        if missing := needed - set(errors):
            gaps.append(f"{method} {path}: {sorted(missing)}")
    assert gaps == []


def test_every_error_is_a_problem_with_an_example_of_each_declared_code(schema: dict[str, Any]) -> None:
    catalogue = error_catalogue()
    wrong = []
    for path, method, operation in api_operations(schema):
        for status, response in errors_of(operation).items():
            where = f"{method} {path} {status}"
            content = response.get("content", {})
            if list(content) != ["application/problem+json"]:
                wrong.append(f"{where}: content {list(content)}")
                continue
            assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
            examples = content["application/problem+json"]["examples"]
            if not examples:
                wrong.append(f"{where}: no example")
            for code in declared_codes(response["description"]):
                # A backticked word with an underscore (or a known code) must be a code of this status.
                if ("_" in code or code in catalogue) and int(status) not in catalogue.get(code, {}):
                    wrong.append(f"{where}: `{code}` is not a {status} of any AppError")
            for code, example in examples.items():
                assert example["value"]["code"] == code
                assert example["value"]["status"] == int(status)
    assert wrong == []


def test_every_json_body_has_an_example(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    missing = []
    for path, method, operation in api_operations(schema):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is None:
            continue
        ref = body["schema"].get("$ref", "")
        model = components[ref.rsplit("/", 1)[-1]] if ref else body["schema"]
        if not model.get("examples"):
            missing.append(f"{method} {path}")
    assert missing == []


def test_fastapis_own_validation_body_is_replaced_by_the_problem(schema: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in str(schema)
    assert "Problem" in schema["components"]["schemas"]


def test_the_description_explains_the_conventions_and_the_websocket(schema: dict[str, Any]) -> None:
    description = schema["info"]["description"]
    for needle in ("application/problem+json", "Authorization: Bearer", "?page=", "`/api/v1/ws/chat`"):
        assert needle in description


async def test_an_error_example_is_what_the_server_answers(client: httpx.AsyncClient, schema: dict[str, Any]) -> None:
    response = await client.post("/auth/login", json={"email": "nobody@example.org", "password": "wrong password"})
    body = assert_problem(response, 401, "invalid_credentials")
    examples = schema["paths"]["/api/v1/auth/login"]["post"]["responses"]["401"]["content"]["application/problem+json"]
    assert examples["examples"]["invalid_credentials"]["value"] == body


def input_schemas() -> list[type[InputSchema]]:
    found, pending = [], list(InputSchema.__subclasses__())
    while pending:
        model = pending.pop()
        found.append(model)
        pending.extend(model.__subclasses__())
    return found


def test_every_body_example_is_a_valid_request_and_keeps_the_input_rules(schema: dict[str, Any]) -> None:
    with_examples = [model for model in input_schemas() if (model.model_config.get("json_schema_extra") or {})]
    assert len(with_examples) >= 25
    for model in with_examples:
        assert model.model_config["extra"] == "forbid", model
        assert model.model_config["str_strip_whitespace"] is True, model
        for example in model.model_config["json_schema_extra"]["examples"]:  # type: ignore[index]
            model.model_validate(example)
