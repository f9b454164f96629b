from __future__ import annotations

import time

import pytest

from parlour.services.accounts import AccountError, AccountService
from parlour.storage import KVStore
from parlour.storage.memory import MemoryBackend

PASSWORD = "correct horse battery"


@pytest.fixture
def accounts() -> AccountService:
    return AccountService(KVStore(MemoryBackend(), "users"))


async def test_create_and_authenticate(accounts: AccountService) -> None:
    created = await accounts.create_user(" Zoe@Example.COM ", "admin", PASSWORD)
    assert created.email == "zoe@example.com"
    assert created.password_hash.startswith("$argon2id$")
    assert PASSWORD not in created.password_hash
    assert await accounts.authenticate("ZOE@example.com", PASSWORD) == created
    assert await accounts.authenticate("zoe@example.com", PASSWORD + "!") is None
    assert await accounts.authenticate("nobody@example.com", PASSWORD) is None


async def test_an_unknown_email_costs_what_a_wrong_password_costs(accounts: AccountService) -> None:
    await accounts.create_user("zoe@example.com", "staff", PASSWORD)
    await accounts.authenticate("warm@example.com", PASSWORD)  # the decoy hash is made once

    async def seconds(email: str) -> float:
        start = time.perf_counter()
        await accounts.authenticate(email, "wrong password")
        return time.perf_counter() - start

    wrong, unknown = await seconds("zoe@example.com"), await seconds("nobody@example.com")
    # Both run one argon2 verification; neither answers in a fraction of the other's time.
    assert unknown > wrong / 3
    assert wrong > unknown / 3


@pytest.mark.parametrize(
    ("email", "role", "password", "field"),
    [
        ("not-an-email", "staff", PASSWORD, "email"),
        ("a@example.com", "owner", PASSWORD, "role"),
        ("a@example.com", "staff", "short", "password"),
        ("a@example.com", "staff", "x" * 1025, "password"),
        ("longpassword@example.com", "staff", "LongPassword@example.com", "password"),
    ],
    ids=["bad-email", "bad-role", "short", "huge", "password-is-email"],
)
async def test_invalid_accounts_are_refused_with_the_field_named(
    accounts: AccountService, email: str, role: str, password: str, field: str
) -> None:
    with pytest.raises(AccountError) as caught:
        await accounts.create_user(email, role, password)
    assert caught.value.field == field
    assert await accounts.list_users() == []


async def test_duplicate_accounts_are_refused(accounts: AccountService) -> None:
    await accounts.create_user("zoe@example.com", "staff", PASSWORD)
    with pytest.raises(AccountError, match="already an account"):
        await accounts.create_user("ZOE@example.com", "admin", PASSWORD)


async def test_change_password_and_role(accounts: AccountService) -> None:
    await accounts.create_user("zoe@example.com", "staff", PASSWORD)
    with pytest.raises(AccountError, match="current password"):
        await accounts.change_password("zoe@example.com", "guess", "a new long password")
    changed = await accounts.change_password("zoe@example.com", PASSWORD, "a new long password")
    assert await accounts.authenticate("zoe@example.com", PASSWORD) is None
    assert await accounts.authenticate("zoe@example.com", "a new long password") == changed
    assert (await accounts.set_role("zoe@example.com", "admin")).role == "admin"
    with pytest.raises(AccountError):
        await accounts.set_role("zoe@example.com", "owner")
