"""E-mail: the messages Parlour sends rendered (their templates), the SMTP transport, and the
worker that delivers what the outbox holds. What a message says, as typed data, is
services.notices.messages: services make it and mail renders it, so mail imports services and
never the other way round.

    render.py     data -> an e-mail (plain text and HTML, an .ics where it helps)
    addresses.py  an address as the envelope and the To header carry it (IDNA A-labels)
    transport.py  SMTP through aiosmtplib, configured by PARLOUR_SMTP_URL
    delivery.py   the worker: lease, send, mark sent; retries with backoff; dead letters
    leases.py     a message's lease, renewed while its send waits for the server's answer
    limits.py     the mail limits: a place reserved before a send, given back if it fails
    outage.py     the worker's pause while the server is in trouble, ended by a probe
    setup.py      the worker and the message setup a process runs, as its settings say
"""
