"""`mass-payout serve | project`: the API process and the projection process, each built by
`runtime.bootstrap`."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from projections.rebuild import Rebuilt

GRACE_SECONDS = 3  # for requests in flight at SIGTERM; every process stops within 5 s
STOP_GRACE_SECONDS = 2.5  # for the projections' step in flight at SIGTERM


def _echo(done: Rebuilt) -> None:
    typer.echo(f"rebuilt {done.name} to position {done.position} in {done.seconds:.2f}s")


def _until_stopped(loop: Callable[[], None], stop: threading.Event) -> None:
    """Run `loop` in a thread until it returns or `stop` is set (SIGTERM, Ctrl-C).

    The loop returns after the step in flight, whose database calls are bounded; should one
    still be running after STOP_GRACE_SECONDS (a PostgreSQL that hangs rather than refuses),
    it is abandoned: a projection commits its rows and its position in one transaction, so
    the transaction the process's exit breaks off is rolled back and redone at the next start.
    """
    failed: list[BaseException] = []

    def run() -> None:
        try:
            loop()
        except BaseException as err:  # noqa: BLE001  # raised again in the main thread
            failed.append(err)

    thread = threading.Thread(target=run, name="projector", daemon=True)
    thread.start()
    try:
        while thread.is_alive() and not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        stop.set()
    thread.join(timeout=STOP_GRACE_SECONDS)
    if thread.is_alive():
        typer.echo("a step was still in flight: abandoned (its transaction rolls back)",
                   err=True)
    if failed:
        raise failed[0]


def register(app: typer.Typer) -> None:
    @app.command()
    def project(rebuild: Annotated[str | None, typer.Option(
            help="rebuild this read model from zero and swap it in, then exit")] = None) -> None:
        """Run every projection until interrupted (or rebuild one).

        Read models built by an older version of their projection are rebuilt from zero
        alongside (and swapped in when done); their live tables keep being updated meanwhile.
        """
        from projections.rebuild import rebuild as rebuild_one
        from projections.rebuild import rebuild_each, stale
        from projections.registry import open_all, projection_class
        from projections.runner import Runner, run_forever
        from runtime.bootstrap import build_projector
        from runtime.engines import database
        from runtime.settings import Settings

        settings = Settings.from_env()
        stop = threading.Event()
        if not rebuild:  # set before anything connects: a SIGTERM at start stops it too
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with database(settings) as url:
            process = build_projector(settings, url)
            ledger, datastore = process.ledger, process.datastore
            if rebuild:
                try:
                    cls = projection_class(rebuild)
                except LookupError as err:
                    process.close()
                    raise typer.BadParameter(str(err)) from None
                _echo(rebuild_one(ledger, datastore, cls))
                process.close()
                return
            runners = [Runner(ledger, p) for p in open_all(datastore)]
            outdated = stale(datastore)
            typer.echo(f"projecting {', '.join(r.projection.name for r in runners)}"
                       + "".join(f"; rebuilding {cls.name} (new version)" for cls in outdated))
            threading.Thread(target=rebuild_each, args=(ledger, datastore, outdated, _echo),
                             name="rebuild-stale", daemon=True).start()
            try:
                _until_stopped(lambda: run_forever(runners, stop), stop)
            finally:
                process.close()

    @app.command()
    def serve(host: Annotated[str, typer.Option()] = "127.0.0.1",
              port: Annotated[int, typer.Option()] = 8000) -> None:
        """Serve the REST API with uvicorn (run `project` alongside it).

        On SIGTERM, requests in flight get GRACE_SECONDS to finish (a request waiting on a
        down engine answers 503 sooner than that), then the process exits."""
        import uvicorn

        from runtime.bootstrap import build_api
        from runtime.settings import Settings

        uvicorn.run(build_api(Settings.from_env()), host=host, port=port, loop="uvloop",
                    http="httptools", access_log=False, log_level="warning",
                    timeout_graceful_shutdown=GRACE_SECONDS)

