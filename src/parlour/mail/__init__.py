"""E-mail: the messages Parlour sends (typed data, their own templates), the SMTP transport,
and the worker that delivers what the outbox holds.

    messages.py   typed message data, stored in the outbox and rendered when it is sent
    render.py     data -> an e-mail (plain text and HTML, an .ics where it helps)
    transport.py  SMTP through aiosmtplib, configured by PARLOUR_SMTP_URL
    delivery.py   the worker: lease, send, mark sent; retries with backoff; dead letters
"""
