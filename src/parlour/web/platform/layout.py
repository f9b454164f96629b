"""The platform's pages in the platform's own layout, those it borrows from a salon's too.

The operators' login, second step, password reset and two-factor set-up are the staff pages'
own (``operators.py``), and the error pages are every host's; their templates extend
``base.html``, a salon's layout (its treatments, its booking). On the platform's host,
:func:`platform_templates` reads ``base.html`` as ``platform/_base.html``.
"""

from __future__ import annotations

from collections.abc import Callable

from jinja2 import BaseLoader, Environment
from starlette.templating import Jinja2Templates

from parlour.web.templating import StaticAssets, build_templates


class PlatformLayout(BaseLoader):
    def __init__(self, inner: BaseLoader) -> None:
        self.inner = inner

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        wanted = "platform/_base.html" if template == "base.html" else template
        return self.inner.get_source(environment, wanted)

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()


def platform_templates(assets: StaticAssets) -> Jinja2Templates:
    templates = build_templates(assets)
    assert templates.env.loader is not None
    templates.env.loader = PlatformLayout(templates.env.loader)
    return templates
