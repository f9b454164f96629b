"""The ASGI middlewares ``web/app.py`` stacks around every route, one per module (with what only
it uses), in the stack's order from the outside in:

    request_metrics.py    RequestMetrics: each request's id, log line, count and time by route
    hang_ups.py           HangUps: a client that left before its request was read is no error
    security.py           SecurityHeaders: what browsers are told this site never does
    header_limit.py       HeaderLimit: 431 for oversized headers, before any is parsed
    hosts.py              AllowedHosts: 400 for a Host this deployment does not answer to
    serving_gate.py       ServingGate: 503 while Redis's durable data is lost or at risk
    sessions.py           SessionMiddleware (and Session): the signed-in session of a request
    ratelimit_headers.py  RateLimitHeaders: the RateLimit headers of a route's decision
    close_forms.py        CloseForms: the files of a submitted form closed after the answer

Names are imported from the module that defines them; this package re-exports nothing.
"""
