"""Reading a submitted form: CSRF is verified first, so no handler can read an unverified one."""

from __future__ import annotations

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from parlour.web.csrf import FIELD, verify_csrf

MAX_FIELDS = 100
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class Form:
    """The fields of one submitted form, read as bounded text."""

    def __init__(self, data: FormData) -> None:
        self._data = data

    def text(self, name: str, max_length: int = 1000) -> str:
        """The field as text, cut to ``max_length`` (missing: empty). A file is not text."""
        value = self._data.get(name)
        if not isinstance(value, str):
            return ""
        return value[:max_length]

    def texts(self, name: str, max_length: int = 1000) -> list[str]:
        return [value[:max_length] for value in self._data.getlist(name) if isinstance(value, str)]

    def file(self, name: str) -> UploadFile | None:
        value = self._data.get(name)
        return value if isinstance(value, UploadFile) else None


async def submitted(request: Request) -> Form:
    """The request's form, after proving it came from one of Parlour's own pages.

    Every handler of an unsafe method starts here (a test posts to every such route without a
    token and expects 403). Raises ``CsrfRejected``.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data = await request.form(max_fields=MAX_FIELDS) if content_type in _FORM_TYPES else FormData()
    request.state.form = data  # closed by CloseForms once the response is sent
    form = Form(data)
    await verify_csrf(request, form.text(FIELD, 200))
    return form
