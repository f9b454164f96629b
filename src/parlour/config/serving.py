"""What `parlour serve` binds, its deadlines (for slow clients, and for stopping), /metrics
access and the logs.

:class:`ServingSettings` contributes its fields to :class:`parlour.config.Settings`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from parlour.config.values import Bind, empty_is_unset


class ServingSettings(BaseModel):
    """The web server: address, port, request deadlines, metrics and logging."""

    host: str = Field("127.0.0.1", description="Address `parlour serve` listens on")
    port: int = Field(8000, ge=1, le=65535, description="Port `parlour serve` listens on")
    request_header_timeout: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Seconds `parlour serve` gives a request's headers to arrive, from its first "
        "byte (or from the connection); a slower client is answered 408 and cut off",
    )
    request_body_timeout: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="Seconds `parlour serve` gives a request's body to arrive after its "
        "headers; a slower client is cut off",
    )
    shutdown_grace: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="Seconds `parlour serve`, told to stop, lets requests in flight finish "
        "before it ends them (the staff desk's live feeds are closed at once, and reconnect)",
    )
    metrics_token: SecretStr | None = Field(
        None,
        min_length=16,
        description="Bearer token that /metrics asks for (Prometheus: authorization.credentials); "
        "unset, and without PARLOUR_METRICS_BIND, /metrics answers loopback clients only",
    )
    metrics_bind: Bind = Field(
        None,
        description="HOST:PORT of a separate listener for /metrics that `parlour serve` starts "
        "(e.g. 127.0.0.1:9100); /metrics then leaves the main port",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Least severe log level written"
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text for people, json for one object per line with a request id"
    )

    _serving_empty_is_unset = empty_is_unset("metrics_token")
