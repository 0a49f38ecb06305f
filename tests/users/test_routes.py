import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import PASSWORD, assert_problem, register, register_admin


async def test_me_update_changes_name_and_phone_only(client: httpx.AsyncClient) -> None:
    account = await register(client)
    response = await client.patch(
        "/users/me", headers=account.headers, json={"full_name": "New Name", "phone": "+1 555 0100"}
    )
    assert response.status_code == 200
    assert response.json()["full_name"] == "New Name"
    assert response.json()["phone"] == "+1 555 0100"
    for smuggled in ({"role": "admin"}, {"is_active": False}, {"email": "x@example.org"}):
        assert_problem(await client.patch("/users/me", headers=account.headers, json=smuggled), 422, "validation_error")
    assert (await client.get("/users/me", headers=account.headers)).json()["role"] == "citizen"


async def test_password_change_ends_other_logins_and_keeps_this_one(client: httpx.AsyncClient) -> None:
    account = await register(client)
    other = (await client.post("/auth/login", json={"email": account.email, "password": PASSWORD})).json()
    response = await client.post(
        "/users/me/password",
        headers=account.headers,
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
    )
    assert response.status_code == 204
    assert (await client.get("/users/me", headers=account.headers)).status_code == 200
    assert (
        await client.get("/users/me", headers={"Authorization": f"Bearer {other['access_token']}"})
    ).status_code == 401
    assert (await client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})).status_code == 401
    old = await client.post("/auth/login", json={"email": account.email, "password": PASSWORD})
    assert_problem(old, 401, "invalid_credentials")
    new = await client.post("/auth/login", json={"email": account.email, "password": "a brand new passphrase"})
    assert new.status_code == 200


async def test_password_change_with_wrong_current_password_is_422(client: httpx.AsyncClient) -> None:
    account = await register(client)
    response = await client.post(
        "/users/me/password", headers=account.headers, json={"current_password": "nope nope", "new_password": "x" * 12}
    )
    assert_problem(response, 422, "wrong_password")


async def test_wrong_current_passwords_share_the_sign_in_limit(client: httpx.AsyncClient) -> None:
    """A stolen access token cannot guess the password faster than the sign-in form allows."""
    account = await register(client)
    wrong = {"current_password": "nope nope", "new_password": "a brand new passphrase"}
    for _ in range(5):  # login_failures_per_account
        assert_problem(
            await client.post("/users/me/password", headers=account.headers, json=wrong), 422, "wrong_password"
        )
    right = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
    locked = await client.post("/users/me/password", headers=account.headers, json=right)
    assert_problem(locked, 429, "rate_limited")
    assert int(locked.headers["Retry-After"]) > 0
    signing_in = await client.post("/auth/login", json={"email": account.email, "password": PASSWORD})
    assert_problem(signing_in, 429, "rate_limited")


async def test_password_change_to_weak_password_is_422(client: httpx.AsyncClient) -> None:
    account = await register(client)
    response = await client.post(
        "/users/me/password", headers=account.headers, json={"current_password": PASSWORD, "new_password": "short"}
    )
    assert_problem(response, 422, "weak_password")


async def test_user_list_is_for_admins_only(client: httpx.AsyncClient, session: AsyncSession) -> None:
    citizen = await register(client)
    assert_problem(await client.get("/users", headers=citizen.headers), 403, "forbidden")
    assert_problem(await client.get("/users"), 401, "not_authenticated")


async def test_admin_lists_and_searches_users_with_pages(client: httpx.AsyncClient, session: AsyncSession) -> None:
    admin = await register_admin(client, session)
    for i in range(3):
        await register(client, email=f"findme{i}@example.org", full_name=f"Find Me {i}")
    response = await client.get("/users", headers=admin.headers, params={"q": "findme", "size": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3
    assert body["pages"] == 2
    assert body["size"] == 2
    assert len(body["items"]) == 2
    admins = (await client.get("/users", headers=admin.headers, params={"role": "admin"})).json()
    assert [u["id"] for u in admins["items"]] == [str(admin.id)]
    assert_problem(await client.get("/users", headers=admin.headers, params={"size": 101}), 422, "validation_error")


async def test_search_treats_percent_literally(client: httpx.AsyncClient, session: AsyncSession) -> None:
    admin = await register_admin(client, session)
    await register(client, full_name="Plain Name")
    body = (await client.get("/users", headers=admin.headers, params={"q": "%"})).json()
    assert body["total"] == 0


async def test_deactivation_kills_tokens_at_once(client: httpx.AsyncClient, session: AsyncSession) -> None:
    admin = await register_admin(client, session)
    citizen = await register(client)
    response = await client.patch(f"/users/{citizen.id}", headers=admin.headers, json={"is_active": False})
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert_problem(await client.get("/users/me", headers=citizen.headers), 401, "not_authenticated")
    assert (await client.post("/auth/refresh", json={"refresh_token": citizen.refresh_token})).status_code == 401


async def test_role_change_ends_sessions_and_grants_role(client: httpx.AsyncClient, session: AsyncSession) -> None:
    admin = await register_admin(client, session)
    citizen = await register(client)
    response = await client.patch(f"/users/{citizen.id}", headers=admin.headers, json={"role": "admin"})
    assert response.json()["role"] == "admin"
    assert (await client.get("/users/me", headers=citizen.headers)).status_code == 401
    relogin = (await client.post("/auth/login", json={"email": citizen.email, "password": PASSWORD})).json()
    users = await client.get("/users", headers={"Authorization": f"Bearer {relogin['access_token']}"})
    assert users.status_code == 200


async def test_admin_cannot_demote_or_deactivate_self(client: httpx.AsyncClient, session: AsyncSession) -> None:
    admin = await register_admin(client, session)
    response = await client.patch(f"/users/{admin.id}", headers=admin.headers, json={"role": "citizen"})
    assert_problem(response, 409, "cannot_change_self")


async def test_citizen_cannot_update_another_user(client: httpx.AsyncClient) -> None:
    citizen = await register(client)
    other = await register(client)
    response = await client.patch(f"/users/{other.id}", headers=citizen.headers, json={"is_active": False})
    assert_problem(response, 403, "forbidden")


async def test_admin_update_of_unknown_user_is_404(client: httpx.AsyncClient, session: AsyncSession) -> None:
    admin = await register_admin(client, session)
    response = await client.patch(
        "/users/00000000-0000-0000-0000-000000000000", headers=admin.headers, json={"role": "admin"}
    )
    assert_problem(response, 404, "not_found")
