"""The catalogue: the business's profile and rules, its treatments, and its resources' hours."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from parlour.domain.addresses import parse_email
from parlour.domain.catalogue import UNIT_MINUTES, BookingRules, Resource, Treatment
from parlour.domain.schedule import Block, Hours, Schedule
from parlour.domain.text import HIDDEN, hidden_characters
from parlour.errors import InvalidInput, NotFound
from parlour.services.cache import NamespaceCache, NoCache
from parlour.services.money import (
    DEFAULT_LOCALE,
    amount_example,
    check_currency,
    check_locale,
    parse_amount,
)
from parlour.services.schedule_form import parse_schedule_form
from parlour.storage.base import KVStore

PROFILE = "profile"
CLOSURES = "salon-closures"
"""The salon's closures, kept in the resources' namespace: they change what every resource's
schedule says, so one change event (and one cached read) covers both."""


@dataclass(frozen=True, slots=True)
class Business:
    name: str = "Parlour"
    currency: str = "GBP"
    address: str = ""
    phone: str = ""
    email: str = ""
    """Where replies to the salon's e-mails go (their Reply-To); none: replies are not asked for."""
    rules: BookingRules = field(default_factory=BookingRules)
    locale: str = DEFAULT_LOCALE
    """How prices are written (CLDR), e.g. ``en_GB``: ``£45.00``; ``ja_JP``: ``￥2,800``."""


# -- JSON --------------------------------------------------------------------------------------


def schedule_to_json(schedule: Schedule) -> dict[str, Any]:
    return {
        "weekly": [[str(hours) for hours in day] for day in schedule.weekly],
        "closed": sorted(day.isoformat() for day in schedule.closed),
        "exceptions": {
            day.isoformat(): [str(h) for h in hours] for day, hours in schedule.exceptions
        },
        "blocks": [block_to_json(block) for block in schedule.blocks],
    }


def block_to_json(block: Block) -> dict[str, Any]:
    return {
        "first": block.first.isoformat(),
        "last": None if block.last is None else block.last.isoformat(),
        "hours": None if block.hours is None else str(block.hours),
        "weekly": block.weekly,
        "label": block.label,
    }


def block_from_json(data: dict[str, Any]) -> Block:
    return Block(
        first=date.fromisoformat(data["first"]),
        last=None if data["last"] is None else date.fromisoformat(data["last"]),
        hours=None if data["hours"] is None else Hours.parse(data["hours"]),
        weekly=bool(data["weekly"]),
        label=str(data["label"]),
    )


def schedule_from_json(data: dict[str, Any]) -> Schedule:
    return Schedule(
        weekly=tuple(tuple(Hours.parse(text) for text in day) for day in data["weekly"]),
        closed=frozenset(date.fromisoformat(day) for day in data["closed"]),
        exceptions=tuple(
            (date.fromisoformat(day), tuple(Hours.parse(text) for text in hours))
            for day, hours in sorted(data["exceptions"].items())
        ),
        blocks=tuple(block_from_json(block) for block in data.get("blocks", ())),
    )


def treatment_from_json(data: dict[str, Any]) -> Treatment:
    return Treatment(**{**data, "resource_ids": tuple(data["resource_ids"])})


def resource_to_json(resource: Resource) -> dict[str, Any]:
    data = {f.name: getattr(resource, f.name) for f in fields(Resource)}
    return {**data, "schedule": schedule_to_json(resource.schedule)}


def resource_from_json(data: dict[str, Any]) -> Resource:
    return Resource(**{**data, "schedule": schedule_from_json(data["schedule"])})


_BUSINESS_FIELDS = tuple(f.name for f in fields(Business))
_RULES_FIELDS = tuple(f.name for f in fields(BookingRules))


def business_to_json(business: Business) -> dict[str, Any]:
    # Flat fields, as dataclasses.asdict gives them, without its deep copy: every message a
    # booking stages carries the business, and asdict was a quarter of staging one.
    data = {name: getattr(business, name) for name in _BUSINESS_FIELDS}
    data["rules"] = {name: getattr(business.rules, name) for name in _RULES_FIELDS}
    return data


def business_from_json(data: dict[str, Any]) -> Business:
    return Business(**{**data, "rules": BookingRules(**data["rules"])})


# -- validation ---------------------------------------------------------------------------------


def _reply_address(fields: dict[str, str], problems: dict[str, str]) -> str:
    typed = fields.get("email", "").strip()
    if not typed:
        return ""
    try:
        return parse_email(typed).typed
    except InvalidInput as exc:
        problems.update(exc.fields)
        return typed


def _text(
    fields: dict[str, str],
    problems: dict[str, str],
    name: str,
    label: str,
    maximum: int,
    *,
    required: bool = True,
    multiline: bool = False,
) -> str:
    """A text field, trimmed. Control characters are refused (line breaks too, unless
    ``multiline``): names and the address reach calendar files and e-mail headers, where a
    carriage return starts a new line of the attacker's choosing."""
    raw = fields.get(name, "")
    value = raw.strip()
    if required and not value:
        problems[name] = f"Enter the {label}."
    elif len(value) > maximum:
        problems[name] = f"Keep the {label} under {maximum} characters."
    elif hidden_characters(raw, multiline=multiline):
        problems[name] = HIDDEN
    return value[:maximum]


def _minutes(
    fields: dict[str, str],
    problems: dict[str, str],
    name: str,
    label: str,
    lowest: int,
    highest: int,
) -> int:
    raw = fields.get(name, "").strip() or "0"
    try:
        value = int(raw)
    except ValueError:
        problems[name] = f"Enter the {label} as a whole number of minutes."
        return 0
    if not lowest <= value <= highest or value % UNIT_MINUTES:
        problems[name] = (
            f"The {label} is {lowest} to {highest} minutes, in steps of {UNIT_MINUTES}."
        )
    return value


async def business_in(store: KVStore) -> Business:
    """The business details a salon's ``business`` namespace holds, read now (the delivery
    worker's way to what a salon says today, without building the salon's services)."""
    data = await store.get_item(PROFILE)
    return Business() if data is None else business_from_json(data)


class CatalogueService:
    def __init__(
        self,
        business: KVStore,
        treatments: KVStore,
        resources: KVStore,
        *,
        cache: NamespaceCache | None = None,
    ) -> None:
        self._business = business
        self._treatments = treatments
        self._resources = resources
        self._cache = cache or NoCache()

    async def business(self) -> Business:
        return await self._cache.get(
            self._business.namespace, PROFILE, lambda: business_in(self._business)
        )

    async def save_business(self, fields: dict[str, str]) -> Business:
        problems: dict[str, str] = {}
        name = _text(fields, problems, "name", "business name", 100)
        currency = check_currency(fields.get("currency", "GBP")) or ""
        if not currency:
            problems["currency"] = "Enter an ISO 4217 currency code in use, like GBP, EUR or JPY."
        locale = check_locale(fields.get("locale", "") or DEFAULT_LOCALE) or ""
        if not locale:
            problems["locale"] = "Enter a locale like en_GB, fr_FR or ja_JP."
        timezone = fields.get("timezone", "").strip()
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems["timezone"] = "Enter a time zone like Europe/London or America/New_York."
        rules = BookingRules(
            timezone=timezone,
            slot_step=_minutes(fields, problems, "slot_step", "step between times", 5, 120),
            min_notice=_minutes(fields, problems, "min_notice", "minimum notice", 0, 10080),
            horizon_days=_bounded(fields, problems, "horizon_days", "booking horizon", 1, 730),
            cancel_cutoff_hours=_bounded(
                fields, problems, "cancel_cutoff_hours", "cancellation cut-off", 0, 720
            ),
        )
        business = Business(
            name=name,
            currency=currency,
            address=_text(fields, problems, "address", "address", 300, required=False),
            phone=_text(fields, problems, "phone", "phone number", 40, required=False),
            email=_reply_address(fields, problems),
            rules=rules,
            locale=locale,
        )
        if problems:
            raise InvalidInput(problems)
        await self.put_business(business)
        return business

    async def treatments(self, *, active_only: bool = False) -> list[Treatment]:
        async def load() -> list[Treatment]:
            items = await self._treatments.get_all_items()
            found = [treatment_from_json(v) for v in items.values()]
            return sorted(found, key=lambda t: (t.category.casefold(), t.name.casefold()))

        every = await self._cache.get(self._treatments.namespace, "all", load)
        return [t for t in every if t.active or not active_only]

    async def treatment(self, treatment_id: str) -> Treatment:
        for treatment in await self.treatments():
            if treatment.id == treatment_id:
                return treatment
        raise NotFound("There is no such treatment.")

    async def save_treatment(
        self, fields: dict[str, str], resource_ids: list[str], treatment_id: str | None = None
    ) -> Treatment:
        problems: dict[str, str] = {}
        known = {resource.id for resource in await self.resources()}
        chosen = tuple(r for r in dict.fromkeys(resource_ids) if r in known)
        if not chosen:
            problems["resource_ids"] = "Choose who (or which room) performs it."
        currency = (await self.business()).currency
        price = parse_amount(fields.get("price", ""), currency)
        if price is None:
            problems["price"] = f"Enter the price in {currency}: {amount_example(currency)}."
        treatment = Treatment(
            id=treatment_id or f"t_{secrets.token_hex(5)}",
            name=_text(fields, problems, "name", "name", 100),
            description=_text(
                fields, problems, "description", "description", 2000, required=False, multiline=True
            ),
            category=_text(fields, problems, "category", "category", 60, required=False),
            duration=_minutes(fields, problems, "duration", "duration", 5, 480),
            buffer_before=_minutes(fields, problems, "buffer_before", "time before", 0, 120),
            buffer_after=_minutes(fields, problems, "buffer_after", "time after", 0, 120),
            price=price or 0,
            resource_ids=chosen,
            active=fields.get("active", "") in ("on", "true", "1"),
        )
        if problems:
            raise InvalidInput(problems)
        await self.put_treatment(treatment)
        return treatment

    async def resources(self) -> list[Resource]:
        """Every therapist and room, each schedule with the salon's closures filled in."""

        async def load() -> list[Resource]:
            items = await self._resources.get_all_items()
            closures = tuple(block_from_json(b) for b in items.pop(CLOSURES, None) or ())
            found = [resource_from_json(v) for v in items.values()]
            return sorted(
                (replace(r, schedule=replace(r.schedule, closures=closures)) for r in found),
                key=lambda r: r.name.casefold(),
            )

        return await self._cache.get(self._resources.namespace, "all", load)

    async def closures(self) -> tuple[Block, ...]:
        """The salon's closures, by first day."""
        every = await self.resources()
        if every:
            return every[0].schedule.closures
        stored = await self._resources.get_item(CLOSURES)
        return tuple(block_from_json(b) for b in stored or ())

    async def put_closures(self, closures: tuple[Block, ...]) -> None:
        ordered = sorted(dict.fromkeys(closures), key=lambda b: (b.first, str(b)))
        await self._resources.set_item(CLOSURES, [block_to_json(b) for b in ordered])
        self._cache.forget(self._resources.namespace)

    async def resource(self, resource_id: str) -> Resource:
        for resource in await self.resources():
            if resource.id == resource_id:
                return resource
        raise NotFound("There is no such therapist or room.")

    async def save_resource(
        self, fields: dict[str, str], resource_id: str | None = None
    ) -> Resource:
        resource = self.parse_resource(fields, resource_id)
        await self.put_resource(resource)
        return resource

    def parse_resource(self, fields: dict[str, str], resource_id: str | None = None) -> Resource:
        """The resource a form describes, not yet saved; ``InvalidInput`` if it describes none."""
        problems: dict[str, str] = {}
        kind = fields.get("kind") or "therapist"
        if kind not in ("therapist", "room"):
            problems["kind"] = "Choose therapist or room."
        resource = Resource(
            id=resource_id or f"r_{secrets.token_hex(5)}",
            name=_text(fields, problems, "name", "name", 100),
            kind=kind,
            schedule=parse_schedule_form(fields, problems),
            active=fields.get("active", "") in ("on", "true", "1"),
        )
        if problems:
            raise InvalidInput(problems)
        return resource

    async def put_treatment(self, treatment: Treatment) -> None:
        """Store a treatment as given (after validation, or for demo data and tests)."""
        await self._treatments.set_item(treatment.id, asdict(treatment))
        self._cache.forget(self._treatments.namespace)

    async def put_resource(self, resource: Resource) -> None:
        await self._resources.set_item(resource.id, resource_to_json(resource))
        self._cache.forget(self._resources.namespace)

    async def put_business(self, business: Business) -> None:
        await self._business.set_item(PROFILE, business_to_json(business))
        self._cache.forget(self._business.namespace)


def _bounded(
    fields: dict[str, str],
    problems: dict[str, str],
    name: str,
    label: str,
    lowest: int,
    highest: int,
) -> int:
    raw = fields.get(name, "").strip()
    try:
        value = int(raw)
    except ValueError:
        problems[name] = f"Enter the {label} as a whole number."
        return lowest
    if not lowest <= value <= highest:
        problems[name] = f"The {label} is {lowest} to {highest}."
    return value
