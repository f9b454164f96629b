"""The platform's home page: what it is, and where a salon signs up."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parlour.web.pages import render


async def home(request: Request) -> Response:
    return await render(request, "platform/home.html")


routes = [Route("/", home, methods=["GET", "HEAD"])]
