"""The OpenAPI document's finishing touch, and an API docs page that needs no CDN (one HTML
page rendering /schema/openapi.json)."""

from __future__ import annotations

import inspect
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.openapi.spec import Schema

from api import schemas


def document_strict_bodies(app: Litestar) -> None:
    """Litestar does not carry msgspec's `forbid_unknown_fields` into the document: say
    `additionalProperties: false` for those bodies, so clients know an unknown field is a
    400. Done once, on the cached document, after every route is registered."""
    components = app.openapi_schema.components.schemas or {}
    for name, cls in inspect.getmembers(schemas, inspect.isclass):
        if issubclass(cls, msgspec.Struct) and cls.__struct_config__.forbid_unknown_fields \
                and name in components:
            schema = components[name]
            if isinstance(schema, Schema):
                schema.additional_properties = False

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Mass Payout API</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}
h2{border-bottom:1px solid #ccc}code{background:#f4f4f4;padding:1px 4px}
.m{display:inline-block;width:4.5em;font-weight:bold}.op{margin:.6em 0}
pre{background:#f8f8f8;padding:.6em;overflow:auto;display:none}.op:hover pre{display:block}
</style></head><body><h1 id="t">Mass Payout API</h1>
<p>OpenAPI document: <a href="__JSON__">__JSON__</a>. Hover an operation for its schema.</p>
<div id="ops"></div><script>
fetch("__JSON__").then(r => r.json()).then(doc => {
  document.getElementById("t").textContent = doc.info.title + " " + doc.info.version;
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(item))
      (byTag[(op.tags || ["other"])[0]] ||= []).push([method, path, op]);
  const root = document.getElementById("ops");
  for (const [tag, ops] of Object.entries(byTag)) {
    const h = document.createElement("h2"); h.textContent = tag; root.append(h);
    for (const [method, path, op] of ops) {
      const d = document.createElement("div"); d.className = "op";
      const m = document.createElement("span"); m.className = "m";
      m.textContent = method.toUpperCase();
      const c = document.createElement("code"); c.textContent = path;
      const s = document.createElement("div"); s.textContent = op.summary || "";
      const p = document.createElement("pre");
      p.textContent = JSON.stringify({parameters: op.parameters, requestBody: op.requestBody,
                                      responses: op.responses}, null, 1);
      d.append(m, c, s, p); root.append(d);
    }
  }
});
</script></body></html>"""


class OfflineDocs(OpenAPIRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return PAGE.replace("__JSON__", self.get_openapi_json_route(request)).encode()
