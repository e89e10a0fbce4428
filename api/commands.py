"""`mass-payout serve | project | keys create`: the API process, the projection process,
and API key management."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from api.keys import Role

if TYPE_CHECKING:
    from projections.rebuild import Rebuilt


def _echo(done: Rebuilt) -> None:
    typer.echo(f"rebuilt {done.name} to position {done.position} in {done.seconds:.2f}s")


def register(app: typer.Typer) -> None:
    keys = typer.Typer(no_args_is_help=True, help="API keys (stored hashed, one role each).")
    app.add_typer(keys, name="keys")

    @keys.command("create")
    def create(role: Annotated[Role, typer.Option(help="viewer | operator | approver | admin")],
               name: Annotated[str, typer.Option(help="a label for the key")] = "") -> None:
        """Create a key and print it once (only its salted digest is stored)."""
        from api.keys import create_key
        from mass_payout.runtime import database
        from mass_payout.settings import Settings

        settings = Settings.from_env()
        with database(settings) as url:
            key_id, key = create_key(url, settings.schema, role, name)
        typer.echo(f"key id {key_id} ({role.value}); the key, shown once:\n{key}")

    @app.command()
    def project(rebuild: Annotated[str | None, typer.Option(
            help="rebuild this read model from zero and swap it in, then exit")] = None) -> None:
        """Run every projection until interrupted (or rebuild one).

        Read models built by an older version of their projection are rebuilt from zero
        alongside (and swapped in when done); their live tables keep being updated meanwhile.
        """
        from mass_payout.bootstrap import open_ledger
        from mass_payout.runtime import database
        from mass_payout.settings import Settings
        from projections.rebuild import rebuild as rebuild_one
        from projections.rebuild import rebuild_each, stale
        from projections.registry import open_all, projection_class
        from projections.runner import Runner, run_forever
        from projections.store import views_datastore

        settings = Settings.from_env()
        with database(settings) as url:
            ledger = open_ledger(url, settings.schema)
            datastore = views_datastore(url, settings.schema)
            if rebuild:
                try:
                    cls = projection_class(rebuild)
                except LookupError as err:
                    raise typer.BadParameter(str(err)) from None
                _echo(rebuild_one(ledger, datastore, cls))
                return
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            runners = [Runner(ledger, p) for p in open_all(datastore)]
            outdated = stale(datastore)
            typer.echo(f"projecting {', '.join(r.projection.name for r in runners)}"
                       + "".join(f"; rebuilding {cls.name} (new version)" for cls in outdated))
            threading.Thread(target=rebuild_each, args=(ledger, datastore, outdated, _echo),
                             name="rebuild-stale", daemon=True).start()
            try:
                run_forever(runners, stop)
            except KeyboardInterrupt:
                stop.set()
            finally:
                datastore.close()
                ledger.close()

    @app.command()
    def serve(host: Annotated[str, typer.Option()] = "127.0.0.1",
              port: Annotated[int, typer.Option()] = 8000) -> None:
        """Serve the REST API with uvicorn (run `project` alongside it)."""
        import uvicorn

        from api.serving import build_app

        uvicorn.run(build_app(), host=host, port=port, loop="uvloop", http="httptools",
                    access_log=False, log_level="warning")

