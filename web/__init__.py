"""The admin panel: server-rendered pages (Jinja2 + htmx) on the same Litestar app as the API."""
