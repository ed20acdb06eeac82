"""Server-rendered pages (Jinja2). For now the service's home page: what it is running and how to use it."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from rewards import PROJECT_ROOT
from rewards.deps import RuntimeDep, SessionDep
from rewards.events import service

# One environment for the process; StrictUndefined makes a missing variable fail a test instead of rendering blank.
templates = Environment(
    loader=FileSystemLoader(PROJECT_ROOT / "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
)

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, runtime: RuntimeDep, session: SessionDep) -> HTMLResponse:
    page = templates.get_template("home.html").render(
        mode="embedded (SQLite, events applied before POST returns)"
        if runtime.queue is None
        else "production (events queued for workers)",
        ruleset_name=runtime.ruleset.name,
        ruleset_version=runtime.ruleset.version,
        pending_events=await service.pending_count(session),
        base_url=str(request.base_url),
    )
    return HTMLResponse(page)
