"""People pages: your API keys (create, shown once; revoke) and team members (for team admins).

Thin: each handler calls `runyard.server.people` services; a refusal is shown on the page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from runyard.server.access import Action, allows, role_on
from runyard.server.auth import Principal, Role
from runyard.server.errors import ServiceError
from runyard.server.people import keys, teams
from runyard.server.ui.pages import _error, _me, _page, _to_login
from runyard.server.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    pass

router = APIRouter(include_in_schema=False)
ROLES = [r.value for r in Role]


def _unit(request: Request, *, write: bool = False) -> UnitOfWork:
    """A unit of work for the people services: committed at the end of its block, rolled
    back if it raises."""
    return UnitOfWork(request.app.state.runyard, write=write)


def _keys_page(
    request: Request, me: Principal, *, new_key: str | None = None, error: str | None = None
) -> HTMLResponse:
    with _unit(request) as uow:
        rows = [
            {
                "id": k.id,
                "hint": k.hint,
                "description": k.description,
                "created": k.created_at.strftime("%Y-%m-%d %H:%M"),
            }
            for k in keys.list_keys(uow, me)
        ]
    return _page(request, "keys.html", me, keys=rows, new_key=new_key, error=error)


@router.get("/settings/keys", response_class=HTMLResponse, response_model=None)
def keys_page(request: Request) -> Response:
    """Your API keys, by their last characters."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    return _keys_page(request, me)


@router.post("/settings/keys", response_model=None)
def create_key(request: Request, description: Annotated[str, Form()] = "") -> Response:
    """Create an API key and show it this once."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    try:
        with _unit(request, write=True) as uow:
            key = keys.create_key(uow, me, description=description.strip())
    except ServiceError as exc:
        page = _keys_page(request, me, error=str(exc))
        page.status_code = exc.status
        return page
    # Rendered, not redirected: the key is never stored, so it can be shown only now.
    response = _keys_page(request, me, new_key=key)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/settings/keys/{key_id}/revoke", response_model=None)
def revoke_key(request: Request, key_id: int) -> Response:
    """Revoke one of your API keys."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    try:
        with _unit(request, write=True) as uow:
            keys.revoke_key(uow, me, key_id)
    except ServiceError as exc:
        page = _keys_page(request, me, error=str(exc))
        page.status_code = exc.status
        return page
    return RedirectResponse("/settings/keys", status_code=303)


@router.get("/teams", response_class=HTMLResponse, response_model=None)
def teams_page(request: Request) -> Response:
    """The teams you belong to, and a form to create one."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    return _teams_page(request, me)


def _teams_page(request: Request, me: Principal, error: str | None = None) -> HTMLResponse:
    state = request.app.state.runyard
    with _unit(request) as uow:
        rows = [
            {"name": t.name, "role": (role_on(me, t.name) or Role.VIEWER).value}
            for t in teams.list_teams(uow, me)
        ]
    can_create = me.is_admin or (
        state.settings.users_can_create_teams and not me.is_service_account
    )
    return _page(request, "teams.html", me, teams=rows, can_create=can_create, error=error)


@router.post("/teams", response_model=None)
def create_team(request: Request, name: Annotated[str, Form()]) -> Response:
    """Create a team with you as its admin, then open it."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    state = request.app.state.runyard
    try:
        with _unit(request, write=True) as uow:
            teams.create_team(
                uow,
                me,
                name.strip(),
                users_can_create=state.settings.users_can_create_teams,
            )
    except ServiceError as exc:
        page = _teams_page(request, me, error=str(exc))
        page.status_code = exc.status
        return page
    return RedirectResponse(f"/teams/{name.strip()}", status_code=303)


def _team_page(request: Request, me: Principal, team: str, **extra: Any) -> HTMLResponse:
    with _unit(request) as uow:
        members = [
            {
                "username": m.user.username,
                "role": m.role,
                "service_account": m.user.is_service_account,
                "disabled": m.user.disabled_at is not None,
            }
            for m in teams.list_members(uow, me, team)
        ]
    return _page(
        request,
        "team.html",
        me,
        team=team,
        members=members,
        roles=ROLES,
        my_role=(role_on(me, team) or Role.VIEWER).value,
        manage=allows(me, team, Action.MANAGE),
        **{"error": None, "new_key": None, **extra},
    )


def _team_or_error(request: Request, me: Principal, team: str, exc: ServiceError) -> HTMLResponse:
    """The team page with the refusal on it; the error page when the team itself is hidden."""
    try:
        page = _team_page(request, me, team, error=str(exc))
    except ServiceError:
        return _error(request, me, exc.status, str(exc))
    page.status_code = exc.status
    return page


@router.get("/teams/{team}", response_class=HTMLResponse, response_model=None)
def team_page(request: Request, team: str) -> Response:
    """A team's members; its admins add, re-role and remove them here."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    try:
        return _team_page(request, me, team)
    except ServiceError as exc:
        return _error(request, me, exc.status, str(exc))


@router.post("/teams/{team}/members", response_model=None)
def add_member(
    request: Request,
    team: str,
    username: Annotated[str, Form()],
    role: Annotated[str, Form()] = "member",
) -> Response:
    """Add a user to the team."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    try:
        with _unit(request, write=True) as uow:
            teams.add_member(uow, me, team, username.strip(), role)
    except ServiceError as exc:
        return _team_or_error(request, me, team, exc)
    return RedirectResponse(f"/teams/{team}", status_code=303)


@router.post("/teams/{team}/members/{username}/role", response_model=None)
def set_role(request: Request, team: str, username: str, role: Annotated[str, Form()]) -> Response:
    """Change a member's role."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    try:
        with _unit(request, write=True) as uow:
            teams.set_role(uow, me, team, username, role)
    except ServiceError as exc:
        return _team_or_error(request, me, team, exc)
    return RedirectResponse(f"/teams/{team}", status_code=303)


@router.post("/teams/{team}/members/{username}/remove", response_model=None)
def remove_member(request: Request, team: str, username: str) -> Response:
    """Remove a member from the team."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    try:
        with _unit(request, write=True) as uow:
            teams.remove_member(uow, me, team, username)
    except ServiceError as exc:
        return _team_or_error(request, me, team, exc)
    if username == me.username:
        return RedirectResponse("/teams", status_code=303)
    return RedirectResponse(f"/teams/{team}", status_code=303)


@router.post("/teams/{team}/service-accounts", response_model=None)
def create_service_account(
    request: Request, team: str, description: Annotated[str, Form()] = ""
) -> Response:
    """Create a service account of the team and show its key this once."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    try:
        with _unit(request, write=True) as uow:
            user, key = teams.create_service_account(uow, me, team, description.strip())
            owner = user.username
    except ServiceError as exc:
        return _team_or_error(request, me, team, exc)
    # The principal was loaded before the account existed; the page lists it from the database.
    response = _team_page(request, me, team, new_key=key, new_key_owner=owner)
    response.headers["Cache-Control"] = "no-store"
    return response
