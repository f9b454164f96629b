"""Live updates for the staff desk: server-sent events fed by the storage layer's change events.

A booking made, cancelled or moved on any instance reaches every open desk: through Redis
pub/sub between instances, or the SQLite change log between processes of one host. After a lost
connection, to the browser or to Redis, the page is told to re-read instead of trusting deltas:
``hello`` on every (re)connection, ``resync`` when events may have been missed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from parlour.services.bookings.keys import BOOKING_RECORDS, booking_id_of, is_booking
from parlour.storage import ChangeKind, Subscription
from parlour.web.parts import parts
from parlour.web.staff.guards import STAFF, guarded

KEEPALIVE = 15.0


async def events(request: Request) -> Response:
    subscription = parts(request).stores.kv("bookings").subscribe(BOOKING_RECORDS)
    await subscription.__aenter__()  # the feed is live before the answer starts (or a 503)
    return StreamingResponse(
        _stream(subscription),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


async def _stream(subscription: Subscription) -> AsyncIterator[str]:
    try:
        yield "retry: 2000\nevent: hello\ndata: {}\n\n"
        while True:
            event = await subscription.next(timeout=KEEPALIVE)
            if event is None:
                yield ": keep-alive\n\n"
            elif event.kind is ChangeKind.RESYNC:
                yield "event: resync\ndata: {}\n\n"
            elif is_booking(event.key):
                yield f"event: booking\ndata: {json.dumps({'id': booking_id_of(event.key)})}\n\n"
    finally:
        await subscription.__aexit__(None, None, None)


routes = guarded(STAFF, [Route("/events", events)])  # under /admin
