"""The second step of a staff action that cannot simply be undone: a page with the question
and a button that sends the form again with ``confirmed=yes``. It works without JavaScript
(parlour.js asks in a dialog instead, where a form has ``data-confirm``, and adds the field)."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from parlour.web.forms import Form
from parlour.web.pages import render


def confirmed(form: Form) -> bool:
    return form.text("confirmed", 3) == "yes"


async def ask_first(
    request: Request,
    *,
    question: str,
    action: str,
    button: str,
    back: str,
    details: str = "",
    fields: Mapping[str, str] | None = None,
    danger: bool = True,
) -> Response:
    context = {
        "question": question,
        "details": details,
        "action": action,
        "fields": dict(fields or {}),
        "button": button,
        "danger": danger,
        "back": back,
    }
    return await render(request, "admin/confirm.html", context)
