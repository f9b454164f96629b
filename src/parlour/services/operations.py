"""The operator's work on whole salons: create, suspend, resume, domains, usage, export, erase.

Used by ``parlour tenant`` (cli/tenant.py) and by the operator console on the platform host;
every change is written to the platform's audit log with the operator who made it.

A salon's data is every item of every namespace of its space (``SalonStores.namespaces``):
``bookings@maya``, ``users@maya``, ... or, for the salon that adopted a single-salon
deployment (space ``None``), the unqualified ``bookings``, ``users``, ... So erasing a salon
never reaches the platform's own namespaces (``tenants``, ``ratelimit``, ``*@platform``) nor any
other salon's, whatever its space.

What is not erased: a salon's rate-limit windows (keyed hashes of addresses, never listed by
the store) expire by themselves within the longest limit's window (docs/tenancy.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from parlour.config import NAMESPACES, PLATFORM_NAMESPACES
from parlour.errors import Conflict, InvalidInput, InvalidKey
from parlour.services.accounts import AccountError, AccountService, check_email, check_password
from parlour.services.audit import Actor, AuditService
from parlour.services.bookings.keys import is_booking
from parlour.services.outbox.keys import is_message
from parlour.services.outbox.outboxes import OUTBOX_NAMESPACES
from parlour.services.tenants import Salon, Status, Tenants, check_slug
from parlour.storage.base import (
    DELETE,
    SALON_MARK,
    Condition,
    KVStore,
    check_key,
    check_namespace,
    split_namespace,
)
from parlour.storage.dual import TOMBSTONE

BATCH = 1000
REMOVE_BATCH = 200
ERASE_PASSES = 3
"""Removal passes over a namespace at most: a request in flight while its salon was being
erased may write once more; a later pass takes that too."""

CLI = Actor("cli", "cli", "local")
"""Who ran an action from the command line (the audit log's actor)."""


class SalonSpace(Protocol):
    """One salon's namespaces (``storage.SalonStores``)."""

    space: str | None

    def kv(self, namespace: str) -> KVStore: ...

    def namespaces(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Usage:
    bookings: int = 0
    staff: int = 0
    """Staff accounts (admins included)."""
    stored_bytes: int = 0
    """The JSON text of every item of the salon, in bytes."""
    messages: int = 0
    """Messages in its outboxes, sent ones kept for the record included."""
    items: int = 0
    """Every item of every namespace of the salon."""


@dataclass(frozen=True, slots=True)
class Erased:
    slug: str
    removed: int
    remaining: dict[str, int] = field(default_factory=dict)
    """What a scan found after erasing (``Operations.remaining``): empty when nothing is left."""


class Operations:
    def __init__(
        self,
        tenants: Tenants,
        stores: Callable[[str | None], SalonSpace],
        audit: AuditService,
        accounts: Callable[[Salon], AccountService],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``stores(space)``: a salon's namespaces (``Storage.salon``); ``audit``: the
        platform's log; ``accounts(salon)``: the salon's staff accounts."""
        self.tenants = tenants
        self._stores = stores
        self._audit = audit
        self._accounts = accounts
        self._clock = clock

    # -- the directory ----------------------------------------------------------------------

    async def create(
        self,
        slug: str,
        name: str,
        owner_email: str,
        password: str | None,
        *,
        actor: Actor,
        adopt: bool = False,
    ) -> Salon:
        """A new salon and its owner's admin account (in the salon's own ``users``). With
        ``adopt``, the salon keeps the single-salon deployment's data: an owner account that
        is there already is kept as it is, and then no password is needed."""
        owner = check_email(owner_email)
        check_slug(slug)
        existing = None
        if adopt:
            kept = Salon(slug, name, owner, Status.ACTIVE, 0.0, adopted=True)
            existing = await self._accounts(kept).get(owner)
        if existing is None:
            if password is None:
                raise InvalidInput({"password": "The owner has no account yet: give a password"})
            check_password(password, owner)
        salon = await self.tenants.create(slug, name, owner, adopt=adopt)
        if existing is None:
            assert password is not None
            try:
                await self._accounts(salon).create_user(owner, "admin", password)
            except AccountError:
                await self.tenants.forget(slug)  # a salon nobody can log in to is no salon
                raise
        await self._audit.record(
            actor, "tenant.create", slug, None, {**salon.to_json(), "owner_kept": bool(existing)}
        )
        return salon

    async def set_status(self, slug: str, status: Status, *, actor: Actor) -> Salon:
        before = await self.tenants.require(slug)
        after = await self.tenants.set_status(slug, status)
        action = {Status.SUSPENDED: "tenant.suspend", Status.ACTIVE: "tenant.resume"}.get(
            status, f"tenant.{status.value}"
        )
        await self._audit.record(
            actor, action, slug, {"status": before.status}, {"status": after.status}
        )
        return after

    async def add_host(self, slug: str, host: str, *, actor: Actor) -> Salon:
        before = await self.tenants.require(slug)
        after = await self.tenants.add_host(slug, host)
        await self._audit.record(
            actor, "tenant.domain.add", slug, {"hosts": before.hosts}, {"hosts": after.hosts}
        )
        return after

    async def remove_host(self, slug: str, host: str, *, actor: Actor) -> Salon:
        before = await self.tenants.require(slug)
        name = host.strip().lower().rstrip(".")
        if name not in before.hosts:
            raise Conflict(f"{slug} is not served at {name}; its domains: {_listed(before)}.")
        after = await self.tenants.remove_host(slug, name)
        await self._audit.record(
            actor, "tenant.domain.remove", slug, {"hosts": before.hosts}, {"hosts": after.hosts}
        )
        return after

    # -- what a salon holds -----------------------------------------------------------------

    def _namespaces(self, salon: Salon) -> list[KVStore]:
        stores = self._stores(salon.space)
        return [stores.kv(split_namespace(name)[0]) for name in stores.namespaces()]

    async def usage(self, salon: Salon) -> Usage:
        """What the salon holds, counted from its stores (one scan of each namespace)."""
        bookings = staff = size = messages = items = 0
        for store in self._namespaces(salon):
            kind = split_namespace(store.namespace)[0]
            async for batch in store.backend.scan(store.namespace, BATCH):
                for key, raw in batch:
                    if raw == TOMBSTONE:
                        continue
                    items += 1
                    size += len(raw.encode())
                    if kind == "bookings" and is_booking(key):
                        bookings += 1
                    elif kind == "users" and "@" in key:  # accounts: keyed by their address
                        staff += 1
                    if kind in OUTBOX_NAMESPACES and is_message(key):
                        messages += 1
        return Usage(bookings, staff, size, messages, items)

    async def export_lines(self, salon: Salon) -> AsyncIterator[str]:
        """Every item of the salon as ``parlour export`` writes it (one JSON object a line:
        namespace, key, value as stored, expiry as wall-clock time). Namespaces are written
        without the salon (``bookings``, not ``bookings@maya``), so the file is a single-salon
        backup: ``parlour import`` reads it into a deployment of its own."""
        for store in self._namespaces(salon):
            kind = split_namespace(store.namespace)[0]
            async for batch in store.backend.entries(store.namespace, BATCH):
                wall = self._clock()
                for key, raw, ttl in batch:
                    if raw == TOMBSTONE:
                        continue
                    expires = None if ttl is None else wall + ttl
                    line = {"namespace": kind, "key": key, "value": raw, "expires": expires}
                    yield json.dumps(line, ensure_ascii=False)

    async def exporting(self, slug: str, *, actor: Actor) -> AsyncIterator[str]:
        """:meth:`export_lines` of salon ``slug``, the export recorded in the audit log before
        the first line (for a download served as it is read)."""
        salon = await self.tenants.require(slug)
        await self._audit.record(actor, "tenant.export", slug, None, {"streamed": True})
        async for line in self.export_lines(salon):
            yield line

    async def export(self, slug: str, path: Path, *, actor: Actor) -> int:
        """Write the salon's items to ``path`` (readable by its owner only); how many."""
        salon = await self.tenants.require(slug)
        fresh = path.with_name(f"{path.name}.{secrets.token_hex(4)}.new")
        count = 0
        descriptor = os.open(fresh, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                async for line in self.export_lines(salon):
                    out.write(line + "\n")
                    count += 1
            fresh.replace(path)
        except BaseException:
            fresh.unlink(missing_ok=True)
            raise
        await self._audit.record(actor, "tenant.export", slug, None, {"items": count})
        return count

    async def import_file(self, slug: str, path: Path, *, actor: Actor) -> tuple[int, int]:
        """Read a salon's export (or a single-salon deployment's ``parlour export``) into salon
        ``slug``, never overwriting; (copied, already there). Refuses a whole multi-tenant
        deployment's export, whose namespaces name their salons."""
        salon = await self.tenants.require(slug)
        stores = self._stores(salon.space)
        lines = await asyncio.to_thread(_read_lines, path)
        if any(SALON_MARK in line["namespace"] for line in lines):
            raise InvalidInput(
                {
                    "file": f"{path} is a whole deployment's export (its namespaces name their "
                    "salons), not one salon's: read it with `parlour import`."
                }
            )
        copied = present = 0
        wall = self._clock()
        for line in lines:
            kind, expires = line["namespace"], line.get("expires")
            if kind in PLATFORM_NAMESPACES or (expires is not None and expires <= wall):
                continue  # the platform's, never a salon's; or expired since the export
            store = stores.kv(kind)
            ttl = None if expires is None else expires - wall
            raw = str(line["value"])
            if await store.backend.set(store.namespace, line["key"], raw, ttl, Condition.IF_ABSENT):
                copied += 1
            else:
                present += 1
        await self._audit.record(
            actor, "tenant.import", slug, None, {"copied": copied, "present": present}
        )
        return copied, present

    # -- erasure ----------------------------------------------------------------------------

    async def erase(self, slug: str, *, actor: Actor) -> Erased:
        """Remove every item of every namespace of the salon, then its record and hosts.

        The salon is suspended first (its pages stop taking writes), its data removed, its
        record forgotten (its hosts answer 404), and its namespaces swept once more for what a
        request in flight wrote meanwhile; then :meth:`remaining` says what is left.
        """
        salon = await self.tenants.require(slug)
        before = await self.usage(salon)
        if salon.status is not Status.SUSPENDED:
            await self.tenants.set_status(slug, Status.SUSPENDED)
        removed = await self._remove_items(salon)
        await self.tenants.forget(slug)
        removed += await self._remove_items(salon)
        await self._forget_stray_hosts(salon)
        left = await self.remaining(salon)
        await self._audit.record(
            actor,
            "tenant.erase",
            slug,
            {**salon.to_json(), "usage": before},
            {"removed": removed, "remaining": left},
        )
        return Erased(slug, removed, left)

    async def _remove_items(self, salon: Salon) -> int:
        removed = 0
        for store in self._namespaces(salon):
            for _ in range(ERASE_PASSES):
                # Keys first, removal after: no backend is asked to scan what it is changing.
                keys = [
                    key
                    async for batch in store.backend.scan(store.namespace, BATCH)
                    for key, _raw in batch
                ]
                if not keys:
                    break
                for start in range(0, len(keys), REMOVE_BATCH):  # one transaction per batch
                    chunk = keys[start : start + REMOVE_BATCH]
                    await store.transact(dict.fromkeys(chunk, DELETE))
                    removed += len(chunk)
        return removed

    async def _forget_stray_hosts(self, salon: Salon) -> None:
        """Remove what the directory still holds of the forgotten salon: a domain's claim left
        by an interrupted ``add_host`` (the claim is written before the salon lists it)."""
        directory = self.tenants.store
        for key in [key async for key, value in directory.items() if _names(value, salon)]:
            await directory.remove_item(key)
            self.tenants.forget_key(key)

    async def remaining(self, salon: Salon) -> dict[str, int]:
        """What a scan of the salon's namespaces and of the directory finds of it: namespace
        -> items (the directory's record and host entries under ``tenants``). Empty: nothing."""
        left: dict[str, int] = {}
        for store in self._namespaces(salon):
            count = sum([len(batch) async for batch in store.backend.scan(store.namespace, BATCH)])
            if count:
                left[store.namespace] = count
        directory = self.tenants.store
        mine = [key async for key, value in directory.items() if _names(value, salon)]
        if mine:
            left[directory.namespace] = len(mine)
        return left


def _read_lines(path: Path) -> list[dict[str, Any]]:
    """The items of a JSON-lines export; :class:`InvalidInput` for a file that is not one."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise InvalidInput({"file": f"cannot read {path}: {exc.strerror}"}) from None
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not (isinstance(item, dict) and {"namespace", "key", "value"} <= item.keys()):
                raise ValueError
            check_key(item["key"])
            if split_namespace(check_namespace(item["namespace"]))[0] not in NAMESPACES:
                raise ValueError
        except (ValueError, TypeError, InvalidKey):
            raise InvalidInput(
                {"file": f"{path}, line {number}, is not an item as `parlour export` writes it"}
            ) from None
        items.append(item)
    return items


def _names(entry: object, salon: Salon) -> bool:
    """Whether a directory entry (the salon's record, or a domain's claim) is the salon's."""
    return isinstance(entry, dict) and entry.get("slug") == salon.slug


def _listed(salon: Salon) -> str:
    return ", ".join(salon.hosts) or "none but its platform name"
