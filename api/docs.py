"""The OpenAPI document's finishing touch, and an API docs page that needs no CDN (one HTML
page rendering /schema/openapi.json)."""

from __future__ import annotations

import inspect
from typing import Any

import msgspec
import msgspec.inspect
from litestar import Litestar, Request
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.openapi.spec import Schema

from api import schemas


def document_strict_bodies(app: Litestar) -> None:
    """Say in the document what Litestar 2.25 leaves out of a body's schema and the server
    still enforces, so a schema-valid body is never refused for its shape:

    - msgspec's `forbid_unknown_fields`: `additionalProperties: false` (an unknown field is
      a 400);
    - the constraints of a list's string items (`excluded: list[Account]`): Litestar
      documents the items as any string.

    Done once, on the cached document, after every route is registered."""
    components = app.openapi_schema.components.schemas or {}
    for name, cls in inspect.getmembers(schemas, inspect.isclass):
        if not issubclass(cls, msgspec.Struct) or name not in components:
            continue
        schema = components[name]
        if not isinstance(schema, Schema):
            continue
        if cls.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False
        _document_list_items(cls, schema)


def _bare(kind: msgspec.inspect.Type) -> msgspec.inspect.Type:
    while isinstance(kind, msgspec.inspect.Metadata):
        kind = kind.type
    return kind


def _document_list_items(cls: type[msgspec.Struct], schema: Schema) -> None:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    for field in info.fields:
        kind = _bare(field.type)
        item = _bare(kind.item_type) if isinstance(kind, msgspec.inspect.ListType) else None
        if isinstance(item, msgspec.inspect.StrType):
            prop = (schema.properties or {}).get(field.encode_name)
            if isinstance(prop, Schema) and isinstance(prop.items, Schema):
                prop.items.pattern = item.pattern
                prop.items.min_length = item.min_length
                prop.items.max_length = item.max_length

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
