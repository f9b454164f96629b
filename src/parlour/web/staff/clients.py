"""Staff pages about clients: the list (a page at a time, searched by name, e-mail or phone),
one client's bookings, figures and notes (an alert note shows on their appointments), their
details corrected and two records of one person merged (asked first, both audited), their data
exported or erased (admins; both audited), and a fresh manage link for a booking, to read out
or send (services/clients/records.py says why fresh)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.domain.events import Actor
from parlour.errors import Conflict, InvalidInput
from parlour.services.bookings.records import ClientDetails
from parlour.services.clients.service import ClientHistory
from parlour.web.forms import submitted
from parlour.web.pages import redirect, render, session_of
from parlour.web.parts import core, parts
from parlour.web.staff.audit import audit
from parlour.web.staff.confirm import ask_first, confirmed
from parlour.web.staff.guards import ADMIN, CLIENTS, STAFF, guarded, signed_in


async def client_list(request: Request) -> Response:
    query = request.query_params.get("q", "")[:100]
    after = request.query_params.get("after", "")[:64]
    found = await core(request).clients.page(query, after)
    alerts = (await core(request).clients.alerts()).by_client
    context = {
        "query": query,
        "after": after,
        "clients": found.clients,
        "next": found.next,
        "alerted": {row.id for row in found.clients if alerts.get(row.id)},
    }
    return await render(request, "admin/clients.html", context)


async def client_page(request: Request) -> Response:
    return await _client_page(request, await _client(request))


async def _client_page(
    request: Request,
    client: ClientHistory,
    errors: dict[str, str] | None = None,
    fields: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    business = await core(request).catalogue.business()
    wanted = request.query_params.get("merge", "")[:100].strip()
    found = (await core(request).clients.page(wanted)).clients if wanted else []
    context = {
        "business": business,
        "zone": business.rules.zone,
        "client": client,
        "merge": wanted,
        "candidates": [row for row in found if row.id != client.id],
        "now": core(request).clients.now(),
        "notes": await core(request).clients.notes(client),
        "names": {r.id: r.name for r in await core(request).catalogue.resources()},
        "errors": errors or {},
        "fields": fields or {},
    }
    return await render(request, "admin/client.html", context, status=status)


async def _client(request: Request) -> ClientHistory:
    return await core(request).clients.get(request.path_params["client_id"][:64])


async def add_note(request: Request) -> Response:
    me = signed_in(request)
    form = await submitted(request)
    client = await _client(request)
    text = form.text("note", 4000)
    alert = form.text("alert", 8) == "yes"
    try:
        note = await core(request).clients.add_note(client, text, me.email, alert=alert)
    except InvalidInput as exc:
        fields = {"note": text, "alert": "yes" if alert else ""}
        return await _client_page(request, client, exc.fields, fields, 422)
    await audit(request, "client.note", client.id, None, {"note": note.id, "alert": alert})
    session_of(request).flash(
        "Alert added: it shows on their appointments." if alert else "Note added."
    )
    return redirect(f"/admin/clients/{client.id}#notes")


async def remove_note(request: Request) -> Response:
    form = await submitted(request)
    client = await _client(request)
    note_id = form.text("note_id", 32)
    if not confirmed(form):
        return await ask_first(
            request,
            question=f"Remove this note on {client.name}?",
            details="It cannot be brought back.",
            action=f"/admin/clients/{client.id}/notes/remove",
            fields={"note_id": note_id},
            button="Yes, remove it",
            back=f"/admin/clients/{client.id}#notes",
        )
    removed = await core(request).clients.remove_note(client, note_id)
    await audit(request, "client.note_remove", client.id, {"note": note_id}, {"removed": removed})
    session_of(request).flash("Note removed." if removed else "That note was already gone.")
    return redirect(f"/admin/clients/{client.id}#notes")


def _details(client: ClientHistory) -> dict[str, str]:
    return {"name": client.name, "email": client.email, "phone": client.phone}


async def edit(request: Request) -> Response:
    form = await submitted(request)
    client = await _client(request)
    fields = {name: form.text(name, 300) for name in ("name", "email", "phone")}
    try:
        details = ClientDetails.from_fields(fields, by=Actor.STAFF)
        changed = await core(request).clients.edit(client, details)
    except InvalidInput as exc:
        return await _client_page(request, client, exc.fields, fields, 422)
    except Conflict as exc:
        return await _client_page(request, client, {"details": str(exc)}, fields, 409)
    after = {"name": details.name, "email": details.email, "phone": details.phone}
    await audit(request, "client.edit", changed, _details(client), after)
    count = len(client.bookings)
    session_of(request).flash(
        f"Saved {details.name}'s details on their {count} booking{'s' if count != 1 else ''}."
    )
    return redirect(f"/admin/clients/{changed}")


async def merge(request: Request) -> Response:
    form = await submitted(request)
    client = await _client(request)
    other = await core(request).clients.get(form.text("other", 64))
    back = f"/admin/clients/{client.id}"
    if other.id == client.id:
        session_of(request).flash("That is this client already: choose another to merge.")
        return redirect(back)
    if not confirmed(form):
        count = len(other.bookings)
        return await ask_first(
            request,
            question=f"Merge {other.name} into {client.name}?",
            details=(
                f"{other.name} ({_contact(other)}) has {count} booking{'s' if count != 1 else ''}"
                f". They and the notes on {other.name} become {client.name}'s, and every booking"
                f" of both will carry {client.name}'s name, e-mail address and phone (or"
                f" {other.name}'s where {client.name} has none). Only merge two records of one"
                " person: this cannot be undone."
            ),
            action=f"{back}/merge",
            fields={"other": other.id},
            button="Yes, merge them",
            back=back,
        )
    merged = await core(request).clients.merge(client, other)
    before = {
        "kept": _details(client),
        "merged": _details(other),
        "bookings": [b.id for b in other.bookings],
    }
    kept = await core(request).clients.get(merged)
    await audit(request, "client.merge", merged, before, _details(kept))
    session_of(request).flash(f"Merged {other.name} into {kept.name}.")
    return redirect(f"/admin/clients/{merged}")


def _contact(client: ClientHistory) -> str:
    return " · ".join(part for part in (client.email, client.phone) if part) or "no contact"


async def export(request: Request) -> Response:
    await submitted(request)
    client = await _client(request)
    data = await core(request).clients.export(client)
    await audit(request, "client.export", client.id, None, {"bookings": len(client.bookings)})
    day = str(data["exported_at"])[:10]  # the day on the service's clock
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={
            "content-disposition": f'attachment; filename="client-{client.id}-{day}.json"',
            "cache-control": "no-store",
        },
    )


async def erase_page(request: Request) -> Response:
    client = await _client(request)
    return await _confirm_erase(request, client)


async def _confirm_erase(request: Request, client: ClientHistory) -> Response:
    count = len(client.bookings)
    return await ask_first(
        request,
        question=f"Erase {client.name}'s personal data?",
        details=(
            f"Their name, e-mail address and phone number are removed from {count} "
            f"booking{'s' if count != 1 else ''} (kept for the books, anonymised), their "
            "manage links stop working, their reviews no longer carry their name, and the "
            "staff's notes on them are deleted. This cannot be undone."
        ),
        action=f"/admin/clients/{client.id}/erase",
        fields={},
        button="Yes, erase their data",
        back=f"/admin/clients/{client.id}",
    )


async def erase(request: Request) -> Response:
    form = await submitted(request)
    client = await _client(request)
    if not confirmed(form):
        return await _confirm_erase(request, client)
    try:
        erased = await core(request).clients.erase(client)
    except Conflict as exc:
        session_of(request).flash(str(exc))
        return redirect(f"/admin/clients/{client.id}")
    # The log keeps what was done, not to whom: the client's details are what was erased.
    await audit(request, "client.erase", client.id, None, erased)
    session_of(request).flash(
        f"Erased: {erased.bookings} booking(s) anonymised, {erased.reviews} review(s), "
        f"{erased.notes} note(s) removed."
    )
    return redirect("/admin/clients")


async def new_link(request: Request) -> Response:
    form = await submitted(request)
    booking = await core(request).bookings.get(request.path_params["booking_id"])
    if not confirmed(form):
        return await ask_first(
            request,
            question=f"Make a new link for {booking.client_name}?",
            details="The link they have now stops working; give them the new one.",
            action=f"/admin/bookings/{booking.id}/link",
            button="Yes, make a new link",
            back=f"/admin/bookings/{booking.id}",
            danger=False,
        )
    changed, token = await core(request).records.new_link(booking.id)
    await audit(request, "booking.link", booking.id, None, {"new_link": True})
    business = await core(request).catalogue.business()
    return await render(
        request,
        "admin/booking_link.html",
        {
            "business": business,
            "zone": business.rules.zone,
            "booking": changed,
            "link": parts(request).links.manage(token),
        },
        headers={"cache-control": "no-store"},
    )


routes = [  # under /admin
    *guarded(
        CLIENTS,
        [
            Route("/clients", client_list),
            Route("/clients/{client_id}", client_page),
            Route("/clients/{client_id}/notes", add_note, methods=["POST"]),
            Route("/clients/{client_id}/notes/remove", remove_note, methods=["POST"]),
            Route("/clients/{client_id}/details", edit, methods=["POST"]),
            Route("/clients/{client_id}/merge", merge, methods=["POST"]),
        ],
    ),
    *guarded(
        ADMIN,
        [
            Route("/clients/{client_id}/export", export, methods=["POST"]),
            Route("/clients/{client_id}/erase", erase_page, methods=["GET"]),
            Route("/clients/{client_id}/erase", erase, methods=["POST"]),
        ],
    ),
    *guarded(STAFF, [Route("/bookings/{booking_id}/link", new_link, methods=["POST"])]),
]
