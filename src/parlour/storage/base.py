"""The contract every storage backend keeps, and the behaviour they share.

A :class:`Backend` stores encoded JSON text under ``(namespace, key)`` and reports every write to
its :class:`~parlour.storage.events.ChangeHub`. :class:`KVStore` is what the rest of Parlour sees:
one namespace of one backend, speaking JSON values. Validation and encoding happen here, once, so
every backend accepts and refuses exactly the same things.
"""

from __future__ import annotations

import abc
import enum
import json
import math
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from parlour.errors import CorruptValue, InvalidKey, InvalidValue, StorageError
from parlour.storage.events import ChangeHub, ChangeKind, Prefixes, Subscription

JSON = Any
"""A JSON document: ``None``, ``bool``, ``int``, ``float``, ``str``, ``list`` or ``dict``."""

T = TypeVar("T")

MAX_KEY_BYTES = 512
MAX_VALUE_BYTES = 16 * 1024 * 1024
MAX_TTL_SECONDS = 10 * 365 * 24 * 3600.0
_WORD = r"[a-z][a-z0-9_]{0,31}"
_SALON = r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?"
_NAMESPACE = re.compile(rf"{_WORD}(?:@{_SALON})?")
SALON_MARK = "@"
"""Between a namespace's kind and its salon: ``bookings@maya`` is salon maya's bookings."""


def salon_namespace(namespace: str, salon: str | None) -> str:
    """``namespace`` of ``salon`` (``bookings@maya``); the namespace itself for ``None``, the
    salon of a single-salon deployment (and the first salon of a multi-tenant one, which keeps
    the keys it had: docs/tenancy.md)."""
    return namespace if salon is None else f"{namespace}{SALON_MARK}{salon}"


def split_namespace(namespace: str) -> tuple[str, str | None]:
    """``(kind, salon)`` of a namespace: ``("bookings", "maya")``, ``("bookings", None)``."""
    kind, mark, salon = namespace.partition(SALON_MARK)
    return kind, (salon if mark else None)


class _Marker(enum.Enum):
    ABSENT = "absent"
    DELETE = "delete"


ABSENT = _Marker.ABSENT
"""In ``transact(expect=...)``: nothing may be stored at the key."""
DELETE = _Marker.DELETE
"""In ``transact(writes=...)``: remove the key."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One key of an atomic :meth:`Backend.transact`, already validated and encoded."""

    key: str
    expect: str | _Marker | None = None
    """Stored text the key must hold, ABSENT, or None for no condition."""
    write: str | _Marker | None = None
    """New text, DELETE, or None to leave the key as it is."""
    ttl: float | None = None
    merge: Mapping[str, str | None] | None = None
    """Fields to set (text) or remove (None) in the JSON object at the key: see
    :func:`merged`. An operation has a ``write`` or a ``merge``, never both."""
    announce: ChangeKind | None = None
    """How subscribers hear of the write; None: the usual (see :func:`announcement`).
    ``REMOVED`` on a text write: the write stands for a removal (dual-write's tombstone), so it
    is announced as one, and only if it replaced something other than its own text."""


def announcement(operation: Operation, current: str | None) -> ChangeKind | None:
    """The event an applied ``operation`` publishes where the key held ``current`` (None:
    nothing), or None for no event: a delete that found nothing, like a removal written over
    nothing or over itself, changed nothing a subscriber could see."""
    if operation.write is DELETE or operation.announce is ChangeKind.REMOVED:
        if current is None or current == operation.write:
            return None
        return ChangeKind.REMOVED
    if operation.write is None and operation.merge is None:
        return None
    return ChangeKind.SET


class Condition(enum.Enum):
    """When a write takes effect."""

    ALWAYS = "always"
    IF_ABSENT = "if_absent"
    IF_PRESENT = "if_present"
    IF_VALUE = "if_value"
    """Only if the stored text is exactly ``expected``: compare-and-set."""


def expectation_holds(operation: Operation, current: str | None) -> bool:
    if operation.expect is None:
        return True
    if operation.expect is ABSENT:
        return current is None
    return current == operation.expect


def condition_holds(condition: Condition, current: str | None, expected: str | None) -> bool:
    """Whether a write under ``condition`` may replace ``current`` (None: nothing stored)."""
    if condition is Condition.IF_ABSENT:
        return current is None
    if condition is Condition.IF_PRESENT:
        return current is not None
    if condition is Condition.IF_VALUE:
        return current is not None and current == expected
    return True


def merged(current: str | None, fields: Mapping[str, str | None], *, backend: str = "") -> str:
    """The text a merge leaves at a key that holds ``current`` (None: nothing, read as ``{}``).

    A merged key holds a JSON object whose values are all text: an index that independent
    writers update without reading it first (a booking adds its line to its day, a cancellation
    removes it), so they never conflict the way a read-modify-write under an expectation does.
    The text is canonical (keys sorted, compact, UTF-8 as is), and the Redis script writes the
    very same bytes, so a merged value read from any backend can serve as an expectation.
    """
    document: Any = {} if current is None else decode(current, backend=backend)
    if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
        raise CorruptValue(
            "a merge needs a JSON object of text values at its key, and found something else",
            backend=backend,
        )
    for field, value in fields.items():
        if value is None:
            document.pop(field, None)
        else:
            document[field] = value
    return canonical(document)


def canonical(document: Mapping[str, str]) -> str:
    """The text of an object of text values as every backend writes it after a merge."""
    raw = json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    if len(raw.encode("utf-8")) > MAX_VALUE_BYTES:
        raise InvalidValue(f"a merge would make the value larger than {MAX_VALUE_BYTES} bytes")
    return raw


def _check_fields(key: str, fields: Mapping[str, str | _Marker]) -> dict[str, str | None]:
    checked: dict[str, str | None] = {}
    for field, value in fields.items():
        if not isinstance(field, str) or not (value is DELETE or isinstance(value, str)):
            raise InvalidValue(f"merge into {key!r}: fields are text, set to text or DELETE")
        try:
            field.encode("utf-8")
            if isinstance(value, str):
                value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidValue(f"merge into {key!r}: text that is not valid unicode") from exc
        checked[field] = value if isinstance(value, str) else None
    return checked


def check_namespace(namespace: str) -> str:
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        raise InvalidKey(
            f"namespace {namespace!r} must be 1-32 of a-z, 0-9 and _, starting with a letter, "
            "then @ and a salon's slug if it is a salon's"
        )
    return namespace


def check_key(key: str) -> str:
    if not isinstance(key, str):
        raise InvalidKey(f"keys are text, not {type(key).__name__}")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidKey("key is not valid unicode (it holds a lone surrogate)") from exc
    if size > MAX_KEY_BYTES:
        raise InvalidKey(f"key is {size} bytes; the most is {MAX_KEY_BYTES}")
    return key


def check_ttl(ttl: float | None) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise InvalidValue(f"ttl must be a number of seconds, not {type(ttl).__name__}")
    if not math.isfinite(ttl) or ttl <= 0 or ttl > MAX_TTL_SECONDS:
        raise InvalidValue(f"ttl must be more than 0 and at most {MAX_TTL_SECONDS:.0f} seconds")
    return float(ttl)


def encode(value: JSON) -> str:
    try:
        raw = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        size = len(raw.encode("utf-8"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidValue(f"value is not a JSON document: {exc}") from exc
    except UnicodeEncodeError as exc:
        raise InvalidValue("value holds text that is not valid unicode") from exc
    if size > MAX_VALUE_BYTES:
        raise InvalidValue(f"value is {size} bytes; the most is {MAX_VALUE_BYTES}")
    return raw


def decode(raw: str | bytes, *, backend: str = "") -> JSON:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise CorruptValue(f"a stored value is not JSON: {exc}", backend=backend) from exc


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading for ``/metrics``, from :meth:`Backend.metrics`."""

    name: str
    """The full metric name, e.g. ``parlour_redis_up``; counters without ``_total``."""
    documentation: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()
    counter: bool = False


class Backend(abc.ABC):
    """One storage technology. Subclasses translate their native errors at this boundary.

    All methods take already validated namespaces and keys and already encoded values.
    """

    name: ClassVar[str]

    def __init__(self) -> None:
        self.changes = ChangeHub()

    async def open(self) -> None:
        """Acquire what the backend needs. Must not fail because a server is briefly down."""

    async def close(self) -> None:
        """Release every connection, thread and task the backend holds."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Return if the backend answers; raise ``StorageUnavailable`` with a reason if not."""

    def describe(self) -> str:
        """Where the data lives, for ``parlour check`` (no secrets)."""
        return self.name

    @abc.abstractmethod
    async def get(self, namespace: str, key: str) -> str | None: ...

    @abc.abstractmethod
    async def set(
        self,
        namespace: str,
        key: str,
        raw: str,
        ttl: float | None,
        condition: Condition = Condition.ALWAYS,
        expected: str | None = None,
    ) -> bool:
        """Write unless ``condition`` fails; return whether it wrote. A write clears any old TTL.

        ``expected`` is the stored text that :attr:`Condition.IF_VALUE` compares with.
        """

    @abc.abstractmethod
    async def remove(self, namespace: str, key: str) -> bool: ...

    @abc.abstractmethod
    async def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, str]:
        """The keys that live, with their text; in one round trip where the backend can."""

    @abc.abstractmethod
    async def transact(self, namespace: str, operations: Sequence[Operation]) -> bool:
        """Apply every write if every expectation holds, all at once; else change nothing."""

    @abc.abstractmethod
    async def touch(self, namespace: str, key: str, ttl: float) -> bool:
        """Give a live item a new TTL. Not a change of value, so no change event."""

    async def get_and_touch(self, namespace: str, key: str, ttl: float) -> str | None:
        """Read and slide the TTL. Backends that can do both in one step override this."""
        raw = await self.get(namespace, key)
        if raw is not None and not await self.touch(namespace, key, ttl):
            return None
        return raw

    @abc.abstractmethod
    def scan(self, namespace: str, batch_size: int) -> AsyncIterator[list[tuple[str, str]]]:
        """Every live item of the namespace, in batches; costs O(namespace), not O(all data).

        Items present for the whole scan are returned exactly once; items written or removed
        during it may or may not be.
        """

    @abc.abstractmethod
    async def ttls(self, namespace: str, keys: Sequence[str]) -> dict[str, float | None]:
        """Seconds left for those keys that live (``None``: no expiry)."""

    async def entries(
        self, namespace: str, batch_size: int = 500
    ) -> AsyncIterator[list[tuple[str, str, float | None]]]:
        """Like :meth:`scan`, with each item's TTL: what a copy to another backend needs."""
        async for batch in self.scan(namespace, batch_size):
            ttls = await self.ttls(namespace, [key for key, _ in batch])
            yield [(key, raw, ttls[key]) for key, raw in batch if key in ttls]

    async def start_events(self) -> None:
        """Return once writes from any process are being fed into :attr:`changes`."""

    async def ready_to_serve(self) -> None:
        """Raise ``ConfigurationError`` if the store needs an operator's step before serving
        (a schema to upgrade). A server that does not answer is not this method's concern."""

    async def upgrade_schema(self) -> str | None:
        """Apply what ``parlour db upgrade`` applies; what was done, or None if nothing to do."""
        return None

    async def about(self) -> str | None:
        """The server's version and the like, for ``parlour check``."""
        return None

    async def metrics(self) -> list[Sample]:
        """What only this backend knows (its server's memory, its pool), read at scrape time.

        Never raises: a server that does not answer is reported down by a sample.
        """
        return []


class KVStore:
    """One namespace of one backend, holding JSON documents."""

    __slots__ = ("backend", "namespace")

    def __init__(self, backend: Backend, namespace: str) -> None:
        self.backend = backend
        self.namespace = check_namespace(namespace)

    def __repr__(self) -> str:
        return f"<KVStore {self.namespace!r} on {self.backend.name}>"

    async def get_item(self, key: str, default: T | None = None) -> JSON | T | None:
        """The value at ``key``, or ``default`` if there is none (a stored ``null`` is ``None``)."""
        raw = await self.backend.get(self.namespace, check_key(key))
        return default if raw is None else decode(raw, backend=self.backend.name)

    async def set_item(self, key: str, value: JSON, ttl: float | None = None) -> None:
        await self.backend.set(self.namespace, check_key(key), encode(value), check_ttl(ttl))

    async def set_if_absent(self, key: str, value: JSON, ttl: float | None = None) -> bool:
        """Write only if nothing lives at ``key``; ``True`` if this call wrote it. Atomic."""
        return await self.backend.set(
            self.namespace, check_key(key), encode(value), check_ttl(ttl), Condition.IF_ABSENT
        )

    async def replace_item(self, key: str, value: JSON, ttl: float | None = None) -> bool:
        """Write only if something lives at ``key``; ``True`` if this call wrote it. Atomic.

        This is how a request saves a record that a parallel request may have deleted: the delete
        wins, and the stale copy is not written back.
        """
        return await self.backend.set(
            self.namespace, check_key(key), encode(value), check_ttl(ttl), Condition.IF_PRESENT
        )

    async def update(
        self,
        key: str,
        change: Callable[[JSON | None], JSON],
        ttl: float | None = None,
        *,
        attempts: int = 32,
    ) -> JSON:
        """Replace the value at ``key`` with ``change(value)`` (``None`` when there is none),
        atomically: if another writer got in between, read again and apply ``change`` again.

        ``change`` must be a pure function of the value it is given. Returns the value written.
        """
        checked_key, checked_ttl = check_key(key), check_ttl(ttl)
        for _ in range(attempts):
            raw = await self.backend.get(self.namespace, checked_key)
            value = change(None if raw is None else decode(raw, backend=self.backend.name))
            if raw is None:
                condition, expected = Condition.IF_ABSENT, None
            else:
                condition, expected = Condition.IF_VALUE, raw
            if await self.backend.set(
                self.namespace, checked_key, encode(value), checked_ttl, condition, expected
            ):
                return value
        raise StorageError(
            f"{self.namespace}/{key} changed under {attempts} attempts to update it",
            backend=self.backend.name,
        )

    async def get_many(self, keys: Sequence[str]) -> dict[str, JSON]:
        """The values of those ``keys`` that exist, in one round trip on Redis."""
        if not keys:
            return {}
        found = await self.backend.get_many(self.namespace, [check_key(key) for key in keys])
        return {key: decode(raw, backend=self.backend.name) for key, raw in found.items()}

    async def transact(
        self,
        writes: Mapping[str, JSON | _Marker],
        *,
        expect: Mapping[str, JSON | _Marker] | None = None,
        ttl: Mapping[str, float] | None = None,
        merge: Mapping[str, Mapping[str, str | _Marker]] | None = None,
    ) -> bool:
        """Write every value of ``writes`` (``DELETE`` removes) and apply every ``merge`` if, at
        that moment, every key of ``expect`` holds exactly the value given (``ABSENT``:
        nothing); otherwise change nothing. Atomic across processes: a Lua script on Redis, a
        transaction in SQLite.

        ``merge`` maps a key to fields to set (text) or remove (``DELETE``) in the JSON object
        of text values stored there (nothing there counts as ``{}``); the key is written even
        when it becomes ``{}``. Merges carry no expectation, so two transacts that merge into
        one key both succeed, in either order. ``ttl`` applies to written and merged keys.

        ``True`` if it wrote. An expected value must be one as read from the store. Every
        expectation is decided before any merge: when one fails the answer is ``False``, even
        if a merge could not have applied. Otherwise raises ``CorruptValue`` (changing nothing)
        if a merged key holds anything but such an object.
        """
        expect = expect or {}
        ttl = ttl or {}
        merge = merge or {}
        both = set(merge) & set(writes)
        if both:
            raise InvalidValue(f"{sorted(both)[0]!r} is both written and merged in one transact")
        operations = []
        for key in dict.fromkeys([*expect, *writes, *merge]):
            condition = expect.get(key)
            if key in expect and condition is not ABSENT:
                condition = encode(condition)
            elif key not in expect:
                condition = None
            value = writes.get(key)
            if key not in writes:
                write: str | _Marker | None = None
            elif value is DELETE:
                write = DELETE
            else:
                write = encode(value)
            fields = _check_fields(key, merge[key]) if key in merge else None
            operations.append(
                Operation(check_key(key), condition, write, check_ttl(ttl.get(key)), fields)
            )
        return await self.backend.transact(self.namespace, operations)

    async def remove_item(self, key: str) -> bool:
        """Delete ``key``; ``True`` if it was there."""
        return await self.backend.remove(self.namespace, check_key(key))

    async def touch(self, key: str, ttl: float) -> bool:
        """Set a new TTL on a live item; ``False`` if there is none."""
        checked = check_ttl(ttl)
        if checked is None:
            raise InvalidValue("touch needs a ttl")
        return await self.backend.touch(self.namespace, check_key(key), checked)

    async def get_and_touch(
        self, key: str, ttl: float, default: T | None = None
    ) -> JSON | T | None:
        """Read ``key`` and slide its TTL in one step (one round trip on Redis)."""
        checked = check_ttl(ttl)
        if checked is None:
            raise InvalidValue("get_and_touch needs a ttl")
        raw = await self.backend.get_and_touch(self.namespace, check_key(key), checked)
        return default if raw is None else decode(raw, backend=self.backend.name)

    async def items(self, batch_size: int = 1000) -> AsyncIterator[tuple[str, JSON]]:
        """Iterate over ``(key, value)`` without holding the whole namespace in memory."""
        async for batch in self.backend.scan(self.namespace, batch_size):
            for key, raw in batch:
                yield key, decode(raw, backend=self.backend.name)

    async def get_all_items(self) -> dict[str, JSON]:
        everything: dict[str, JSON] = {}
        # Whole batches, not items(): an async generator step per item cost a fifth of the time.
        async for batch in self.backend.scan(self.namespace, 1000):
            everything.update((key, decode(raw, backend=self.backend.name)) for key, raw in batch)
        return everything

    def subscribe(self, prefixes: Prefixes = None) -> Subscription:
        """Change events for this namespace, from every process sharing the backend; with
        ``prefixes``, only those of keys starting with one of them (and every RESYNC)."""
        return Subscription(
            self.backend.changes, self.namespace, self.backend.start_events, prefixes
        )
