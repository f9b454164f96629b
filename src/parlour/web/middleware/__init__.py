"""The ASGI middlewares ``web/app.py`` stacks around every route: request ids and metrics,
hang-ups, security headers, header size, allowed hosts, the serving gate, sessions, RateLimit
headers and closing submitted forms. Each module holds one (and what only it uses)."""
