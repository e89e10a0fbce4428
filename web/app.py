"""The panel's routes under `/panel`, its templates and its static files.

`panel()` is handed to `api.app.create_app` by the wiring (`runtime.bootstrap`), so the panel
runs in the API's process on the API's ledger, read models and queue: one write path, one
set of read models, the same roles.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from api.problems import HANDLERS
from web.auth import panel_guard
from web.controllers.assets import AssetPanel
from web.controllers.dashboard import DashboardController
from web.controllers.distribution_actions import DistributionActions
from web.controllers.distributions import DistributionPages
from web.controllers.new_distribution import NewDistributionController
from web.controllers.schedules import SchedulePanel
from web.controllers.session import SessionController
from web.controllers.statements import StatementPanel
from web.errors import handle
from web.live import events
from web.render import template_config

HERE = Path(__file__).parent
# Installed from npm at setup (`./dev setup`: web/assets/package-lock.json), never from a CDN.
VENDOR = HERE / "assets" / "node_modules"
VENDORED = ("htmx.org/dist/htmx.min.js", "htmx-ext-sse/dist/sse.min.js",
            "@picocss/pico/css/pico.min.css")

CONTROLLERS: list[ControllerRouterHandler] = [SessionController, DashboardController, events,
                                              DistributionPages, DistributionActions,
                                              NewDistributionController, AssetPanel,
                                              SchedulePanel, StatementPanel]


def missing_assets() -> list[str]:
    return [name for name in VENDORED if not (VENDOR / name).is_file()]


def panel() -> list[ControllerRouterHandler]:
    # Every error class the API maps is mapped here too: a handler of a closer layer wins
    # only for the same class, and the panel answers in HTML, not problem+json.
    return [
        Router("/panel", route_handlers=CONTROLLERS, guards=[panel_guard],
               exception_handlers=dict.fromkeys(HANDLERS, handle), include_in_schema=False),
        create_static_files_router("/panel/static", directories=[HERE / "static", VENDOR],
                                   include_in_schema=False, opt={"public": True},
                                   send_as_attachment=False),
    ]


__all__ = ["missing_assets", "panel", "template_config"]
