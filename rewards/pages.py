"""Server-rendered pages (Jinja2). For now the service's home page: what it is running and how to use it."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from rewards.deps import RuntimeDep, SessionDep
from rewards.events import service
from rewards.web.endpoints import checked_page_context
from rewards.web.render import render

# The page shell shows who is signed in: a session ended on the server (sign-out, a manager's "sign out") must
# read as nobody here too, as on the site's other pages.
router = APIRouter(include_in_schema=False, dependencies=[Depends(checked_page_context)])


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, runtime: RuntimeDep, session: SessionDep) -> HTMLResponse:
    # Rendered in the page shell (navigation, sign-in, the reader's language): rewards/web/render.py.
    return render(
        request,
        "home.html",
        mode="embedded (SQLite, events applied before POST returns)"
        if runtime.queue is None
        else "production (events queued for workers)",
        ruleset_name=runtime.ruleset.name,
        ruleset_version=runtime.ruleset.version,
        pending_events=await service.pending_count(session),
        base_url=str(request.base_url),
    )
