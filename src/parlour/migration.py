"""``parlour migrate``, ``verify``, ``export`` and ``import``: moving data between stores.

A store is named as in PARLOUR_MIGRATION_FROM (``memory``, ``sqlite``, ``sqlite:PATH``,
``file:PATH``, a ``redis://`` URL) or ``configured``: for each namespace, the backend the
settings give it. Rate-limit windows never move: they restart empty, and last minutes.

With ``PARLOUR_TENANCY=multi`` a namespace named on the command line (``bookings``) stands for
that namespace of every salon the source's directory lists (``bookings@maya``, ...), of the
salon that kept a single-salon deployment's keys (``bookings``) and of the platform itself
(``bookings@platform``: its sign-up mail); the directory (``tenants``) moves too.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from parlour.config import NAMESPACES, PLATFORM_NAMESPACES, Settings
from parlour.services.tenants import PLATFORM, Tenants
from parlour.services.transfer import Copied, compare, copy
from parlour.storage import Backend, KVStore, Storage, backend_for_spec
from parlour.storage.base import salon_namespace
from parlour.storage.memory import MemoryBackend

MOVABLE = tuple(name for name in NAMESPACES if name != "ratelimit")
SHOWN = 10


Route = Callable[[str], Backend]
"""The backend that holds a namespace (``bookings``, ``bookings@maya``) in one store."""


@asynccontextmanager
async def opened(spec: str, settings: Settings) -> AsyncIterator[Route]:
    """Where each namespace lives for ``spec``, open for as long as the block runs."""
    async with AsyncExitStack() as stack:
        if spec == "configured":
            storage = await stack.enter_async_context(Storage.from_settings(settings))
            yield storage.backend_for
            return
        backend = backend_for_spec(spec, settings)
        await backend.open()
        stack.push_async_callback(backend.close)
        yield lambda namespace: backend


async def every_namespace(settings: Settings, route: Route, kinds: Sequence[str]) -> list[str]:
    """The namespaces ``kinds`` stand for in the store ``route`` reaches: themselves with one
    salon; with many, each of the platform's and each salon's that its directory lists."""
    if settings.tenancy != "multi":
        return list(kinds)
    directory = Tenants(KVStore(route("tenants"), "tenants"), settings.platform_domain or "")
    spaces: list[str | None] = [None, PLATFORM]  # the adopted salon's keys have no salon
    spaces += [salon.slug for salon in await directory.all() if salon.space is not None]
    return [
        salon_namespace(kind, space)
        for kind in kinds
        for space in ([None] if kind in PLATFORM_NAMESPACES else spaces)
    ]


@asynccontextmanager
async def both(
    settings: Settings, source: str, target: str, kinds: Sequence[str]
) -> AsyncIterator[tuple[dict[str, Backend], dict[str, Backend]]]:
    """The backends of every namespace ``kinds`` stand for, at the source and the target."""
    async with opened(source, settings) as sources, opened(target, settings) as targets:
        namespaces = await every_namespace(settings, sources, kinds)
        yield (
            {namespace: sources(namespace) for namespace in namespaces},
            {namespace: targets(namespace) for namespace in namespaces},
        )


def _progress(namespace: str, counts: Copied) -> None:
    if sys.stderr.isatty():
        print(
            f"\r  {namespace:<12} {counts.seen:>9,} read  {counts.copied:>9,} copied",
            end="",
            file=sys.stderr,
            flush=True,
        )


def _report(results: dict[str, Copied], dry_run: bool) -> None:
    if sys.stderr.isatty():
        print(file=sys.stderr)
    verb = "would copy" if dry_run else "copied"
    for namespace, counts in results.items():
        print(
            f"  {namespace:<12} {counts.seen:>7,} read, {counts.copied:>7,} {verb}, "
            f"{counts.present:>7,} already there, {counts.expired:>5,} expired"
        )
    total = sum(counts.copied for counts in results.values())
    print(
        f"{'Would copy' if dry_run else 'Copied'} {total:,} items; nothing at the destination "
        "was overwritten."
    )


async def migrate(
    settings: Settings, source: str, target: str, namespaces: Sequence[str], dry_run: bool
) -> int:
    async with both(settings, source, target, namespaces) as (sources, targets):
        results = await copy(sources, targets, dry_run=dry_run, progress=_progress)
    _report(results, dry_run)
    return 0


async def verify(settings: Settings, source: str, target: str, namespaces: Sequence[str]) -> int:
    async with both(settings, source, target, namespaces) as (sources, targets):
        results = await compare(sources, targets)
    differences = 0
    for namespace, result in results.items():
        verdict = "same" if result.same else "DIFFERENT"
        print(
            f"  {namespace:<12} {result.source:>7,} at the source, {result.target:>7,} at the "
            f"target: {verdict}"
        )
        for label, keys in (
            ("missing at the target", result.missing),
            ("only at the target", result.extra),
            ("different", result.different),
        ):
            for key in keys[:SHOWN]:
                print(f"      {label}: {key!r}")
            if len(keys) > SHOWN:
                print(f"      ... and {len(keys) - SHOWN:,} more {label}")
            differences += len(keys)
    print("The stores hold the same items." if not differences else f"{differences:,} differences.")
    return 1 if differences else 0


async def export(settings: Settings, path: Path, namespaces: Sequence[str]) -> int:
    target = MemoryBackend(snapshot=path)  # not opened: the file is written afresh on close
    async with opened("configured", settings) as route:
        every = await every_namespace(settings, route, namespaces)
        sources = {namespace: route(namespace) for namespace in every}
        results = await copy(sources, dict.fromkeys(every, target), progress=_progress)
    await target.close()
    _report(results, dry_run=False)
    print(f"Wrote {path}.")
    return 0


async def import_(settings: Settings, path: Path, namespaces: Sequence[str]) -> int:
    source = MemoryBackend(snapshot=path)
    await source.open()  # loads the file; never closed, so the file is never written back
    async with opened("configured", settings) as route:
        if await _one_salon_for_none(settings, source, route, namespaces):
            print(
                f"parlour: {path} holds one salon's data and no salon here keeps a single "
                f"salon's: read it into a salon with `parlour tenant import --slug S {path}`",
                file=sys.stderr,
            )
            return 1
        every = await every_namespace(settings, lambda namespace: source, namespaces)
        targets = {namespace: route(namespace) for namespace in every}
        results = await copy(dict.fromkeys(every, source), targets, progress=_progress)
    _report(results, dry_run=False)
    return 0


async def _one_salon_for_none(
    settings: Settings, source: Backend, route: Route, kinds: Sequence[str]
) -> bool:
    """Whether, with many salons, a file holds a salon's items without naming the salon
    (``bookings``, not ``bookings@maya``) while neither the file nor this deployment has a
    salon that keeps such keys (the adopted one): they would belong to nobody."""
    if settings.tenancy != "multi":
        return False
    unnamed = [kind for kind in kinds if kind not in PLATFORM_NAMESPACES]
    if not [kind for kind in unnamed if await _holds_items(source, kind)]:
        return False
    for directory in (source, route("tenants")):
        salons = await Tenants(KVStore(directory, "tenants"), "").all()
        if any(salon.adopted for salon in salons):
            return False
    return True


async def _holds_items(backend: Backend, namespace: str) -> bool:
    async for batch in backend.scan(namespace, 1):
        if batch:
            return True
    return False
