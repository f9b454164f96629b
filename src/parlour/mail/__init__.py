"""E-mail: the messages Parlour sends (typed data, their own templates), the SMTP transport,
and the worker that delivers what the outbox holds.

    messages.py   typed message data, stored in the outbox and rendered when it is sent
    render.py     data -> an e-mail (plain text and HTML, an .ics where it helps)
    addresses.py  an address as the envelope and the To header carry it (IDNA A-labels)
    transport.py  SMTP through aiosmtplib, configured by PARLOUR_SMTP_URL
    delivery.py   the worker: lease, send, mark sent; retries with backoff; dead letters
    leases.py     a message's lease, renewed while its send waits for the server's answer
    limits.py     the mail limits: a place reserved before a send, given back if it fails
    outage.py     the worker's pause while the server is in trouble, ended by a probe
"""
