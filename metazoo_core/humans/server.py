"""`metazoo experiment RUN --serve`: a local web server (Starlette on uvicorn) that runs the session pages and
stores every response in SQLite as it arrives (see store.py; the choice is explained in docs/architecture.md).

Routes (TOKEN is a participant's secret URL token; each participant reads only their own plan):
- GET  /                   status: experiment, participants, completed sessions, trials stored (no tokens)
- GET  /p/TOKEN            the session page (Jinja2 template, autoescaped)
- GET  /p/TOKEN/session    the participant's plan, the trials already stored and the next trial to run
- POST /p/TOKEN/trials     one answered trial (JSON, at most MAX_BODY bytes, nesting and numbers bounded as in
                           strict_json); 200 {"stored", "next"}
- GET  /results            every stored trial; needs the results token printed at start (Bearer or ?token=);
                           a stored row that is not a valid trial is left out and named under "skipped"
- GET  /media/{stimuli,masks,icons,headphone}/…, /static/…   files
Bad requests get a 4xx with a one-line JSON error and one log line; nothing is stored for them.
"""
from __future__ import annotations

import hmac
import json
import logging
import secrets
import socket
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import InputError
from . import design as D
from . import jspsych
from .store import ResponseStore, check_database
from .strict_json import RefusedValue, loads

MAX_BODY = 16 * 1024
"""Largest accepted POST body in bytes (a trial is < 1 KB)."""

MEDIA = ("stimuli", "masks", "icons", "headphone")
log = logging.getLogger("metazoo.humans.server")


def prepare_media(design: D.Design) -> None:
    """Write the masks and icons (images) or the headphone-check tones (sounds) into the experiment folder."""
    from . import media

    if design.modality == "vision":
        media.write_masks(design.root, D.n_masks(design), design.settings.stimulus_px, design.settings.seed)
        media.write_icons(design.root)
    else:
        media.write_headphone_check(design.root)


def check_session_file(root: Path) -> None:
    """One line unless root/session.json is absent or a session file that design.saved_settings can read."""
    path = root / D.SESSION_FILE
    if path.exists() and not path.is_file():
        raise InputError(f"{path} is not a file; remove it (it records the session settings)")
    D.saved_settings(root)


def templates():
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(loader=PackageLoader("metazoo_core.humans", "templates"),
                       autoescape=select_autoescape(["html", "xml"]))


def page(config: dict[str, Any]) -> str:
    """The session page for one participant (serve) or for everyone (export)."""
    return templates().get_template("session.html").render(config=config, config_json=json.dumps(config))


def build_app(design: D.Design, store: ResponseStore, results_token: str):
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    plans: dict[int, list[dict[str, Any]]] = {}

    def plan_for(number: int) -> list[dict[str, Any]]:
        if number not in plans:
            plans[number] = D.plan(design, number)
        return plans[number]

    def reject(request: Request, status: int, message: str) -> JSONResponse:
        path = request.url.path
        if "token" in request.path_params:
            path = path.replace(request.path_params["token"], "<token>")
        log.warning("%s %s → %d: %s", request.method, path, status, message)
        return JSONResponse({"error": message}, status_code=status)

    def who(request: Request) -> tuple[str, int] | None:
        return store.by_token(request.path_params["token"])

    async def session_page(request: Request):
        found = who(request)
        if not found:
            return reject(request, 404, "unknown participant link")
        token = request.path_params["token"]
        return HTMLResponse(page({"mode": "serve", "participant": found[0], "session_url": f"/p/{token}/session",
                                  "post_url": f"/p/{token}/trials", "media": "/media/", "static": "/static/",
                                  "completion_code": "", **D.public_settings(design)}))

    async def session(request: Request):
        found = who(request)
        if not found:
            return reject(request, 404, "unknown participant link")
        participant, number = found
        trials = plan_for(number)
        done = store.done(participant)
        remaining = sorted(set(range(len(trials))) - set(done))
        return JSONResponse({"participant": participant, "trials": D.browser_plan(trials), "done": done,
                             "next": remaining[0] if remaining else len(trials)})

    async def post_trial(request: Request):
        found = who(request)
        if not found:
            return reject(request, 404, "unknown participant link")
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > MAX_BODY):
            return reject(request, 413, f"body larger than {MAX_BODY} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return reject(request, 413, f"body larger than {MAX_BODY} bytes")
        try:
            payload = loads(body, "body")
        except RefusedValue as e:
            return reject(request, 422, str(e))
        except InputError as e:
            return reject(request, 400, str(e))
        participant, number = found
        trials = plan_for(number)
        try:
            row = D.check_submission(design, trials, participant, payload)
            stored = store.record(row)
        except InputError as e:
            return reject(request, 422, str(e))
        done = set(store.done(participant))
        nxt = next((i for i in range(len(trials)) if i not in done), len(trials))
        return JSONResponse({"stored": stored, "trial": row["trial"], "next": nxt})

    async def results(request: Request):
        given = request.query_params.get("token") or request.headers.get("authorization", "").removeprefix(
            "Bearer ").strip()
        if not given or not hmac.compare_digest(given.encode(), results_token.encode()):
            return reject(request, 401, "the results endpoint needs the results token printed at start")
        snapshot = store.snapshot()
        for line in snapshot["skipped"]:
            log.warning("%s", line)
        return JSONResponse(snapshot)

    async def status(request: Request):
        counts = store.counts()
        people = [(p, number) for p, _, number in store.participants() if isinstance(number, int)]
        complete = sum(counts.get(p, 0) >= len(plan_for(number)) for p, number in people)
        return HTMLResponse(templates().get_template("status.html").render(
            name=design.root.resolve().name, modality=design.modality, participants=len(people),
            complete=complete, started=sum(1 for p, _ in people if counts.get(p)),
            trials=sum(counts.values())))

    static = resources.files("metazoo_core.humans").joinpath("static")
    routes = [Route("/", status), Route("/p/{token}", session_page), Route("/p/{token}/session", session),
              Route("/p/{token}/trials", post_trial, methods=["POST"]), Route("/results", results),
              Mount("/static/jspsych", StaticFiles(directory=str(jspsych.static_dir())), name="jspsych"),
              Mount("/static", StaticFiles(directory=str(static)), name="static")]
    routes += [Mount(f"/media/{m}", StaticFiles(directory=str(design.root / m), check_dir=False), name=m)
               for m in MEDIA]
    return Starlette(routes=routes)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or one line saying the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # a restart right after a crash must not wait for the old connections' TIME_WAIT; on Linux this still
    # refuses a port that another program is listening on
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port} ({e.strerror or e}); choose another --port "
                         "or stop the program using it") from None
    sock.listen(128)
    return sock


def serve(folder: Path | str, settings: D.Settings, host: str = "127.0.0.1", port: int = 8000,
          participants: int | None = None, db: Path | str | None = None, say=print) -> None:
    """Check the experiment, bind the port, print participant links and the results token, then serve."""
    import uvicorn

    design = D.load_design(folder, settings)
    db = Path(db or design.root / "responses.sqlite")
    check_database(db)
    check_session_file(design.root)
    jspsych.static_dir()  # fetched, or one line, before the port is taken
    sock = bind(host, port)
    D.save_settings(design, keep_existing=db.is_file())
    prepare_media(design)
    store = ResponseStore(db)
    people = store.ensure_participants(participants or design.n_lists)
    results_token = secrets.token_urlsafe(24)
    shown = f"[{host}]" if ":" in host else host
    actual = sock.getsockname()[1]
    say(f"responses → {store.path.resolve()} (SQLite, WAL; each trial committed as it arrives)")
    for participant, token, _ in people:
        say(f"{participant}: http://{shown}:{actual}/p/{token}")
    say(f"status: http://{shown}:{actual}/")
    say(f"results: http://{shown}:{actual}/results  (token {results_token})")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = uvicorn.Config(build_app(design, store, results_token), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
