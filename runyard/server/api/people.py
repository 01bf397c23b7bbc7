"""`/api/v1/users`, `/teams` and `/keys`: managing people over REST (the CLI's backend).

Thin: each route calls one `runyard.server.people` service and shapes its answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Response
from fastapi import Query as QueryParam
from pydantic import BaseModel, ConfigDict, Field

from runyard.server.api.models import as_utc
from runyard.server.auth import Role
from runyard.server.deps import PrincipalDep, StateDep, UowDep
from runyard.server.people import keys, teams, users

if TYPE_CHECKING:  # adapters see rows only through the services' answers
    from runyard.server.db.models import ApiKey, Entity, TeamMember, User

router = APIRouter(prefix="/api/v1", tags=["people"])


class UserOut(BaseModel):
    """A user (or a team's service account)."""

    username: str
    email: str
    admin: bool = Field(description="Whether the user administers this server.")
    service_account: bool
    disabled: bool = Field(description="A disabled user's API keys are refused.")
    default_entity: str = Field(description="Where runs go when the client names no entity.")
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        """The API view of a user row."""
        return cls(
            username=user.username,
            email=user.email,
            admin=user.is_admin,
            service_account=user.is_service_account,
            disabled=user.disabled_at is not None,
            default_entity=user.default_entity.name,
            created_at=as_utc(user.created_at),  # type: ignore[arg-type]
        )


class UserCreate(BaseModel):
    """A new user."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(description="Lowercase letters, digits, '-' and '_'; also its entity.")
    email: str = ""
    admin: bool = Field(False, description="Make the user an instance admin.")


class UserCreated(BaseModel):
    """A new user and its first API key (shown only once)."""

    user: UserOut
    api_key: str


class TeamOut(BaseModel):
    """A team entity."""

    name: str
    created_at: datetime

    @classmethod
    def of(cls, team: Entity) -> TeamOut:
        """The API view of a team entity."""
        return cls(name=team.name, created_at=as_utc(team.created_at))  # type: ignore[arg-type]


class TeamCreate(BaseModel):
    """A new team."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Lowercase letters, digits, '-' and '_'; unique among users too.")
    admin: str | None = Field(None, description="Username of the team's admin [the caller].")


class MemberOut(BaseModel):
    """A user's role in a team."""

    username: str
    role: Role
    service_account: bool
    disabled: bool

    @classmethod
    def of(cls, member: TeamMember) -> MemberOut:
        """The API view of a membership row."""
        return cls(
            username=member.user.username,
            role=Role(member.role),
            service_account=member.user.is_service_account,
            disabled=member.user.disabled_at is not None,
        )


class MemberAdd(BaseModel):
    """A user to add to a team."""

    model_config = ConfigDict(extra="forbid")

    username: str
    role: str = Field("member", description="admin, member or viewer.")


class RoleChange(BaseModel):
    """A member's new role."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field(description="admin, member or viewer.")


class ServiceAccountCreate(BaseModel):
    """A new service account of a team."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""


class KeyOut(BaseModel):
    """An API key, identified by its id and last characters (the key itself is not kept)."""

    id: int
    username: str
    hint: str = Field(description="The key's last 4 characters.")
    description: str
    created_at: datetime

    @classmethod
    def of(cls, key: ApiKey) -> KeyOut:
        """The API view of a key row."""
        return cls(
            id=key.id,
            username=key.user.username,
            hint=key.hint,
            description=key.description,
            created_at=as_utc(key.created_at),  # type: ignore[arg-type]
        )


class KeyCreate(BaseModel):
    """A new API key."""

    model_config = ConfigDict(extra="forbid")

    username: str | None = Field(None, description="Owner of the key [the caller].")
    description: str = ""


class KeyCreated(BaseModel):
    """A new API key (shown only once)."""

    username: str
    api_key: str


# --- users (instance admins) -----------------------------------------------------------------


@router.post("/users", status_code=201, response_model=UserCreated)
def create_user(uow: UowDep, principal: PrincipalDep, body: UserCreate) -> UserCreated:
    """Create a user with its personal entity; answers its first API key."""
    user, key = users.create_user(uow, principal, body.username, email=body.email, admin=body.admin)
    return UserCreated(user=UserOut.of(user), api_key=key)


@router.get("/users", response_model=list[UserOut])
def list_users(uow: UowDep, principal: PrincipalDep) -> list[UserOut]:
    """Every user and service account."""
    return [UserOut.of(u) for u in users.list_users(uow, principal)]


@router.post("/users/{username}/disable", response_model=UserOut)
def disable_user(uow: UowDep, principal: PrincipalDep, username: str) -> UserOut:
    """Disable a user: its API keys are refused from the next request on."""
    return UserOut.of(users.disable_user(uow, principal, username))


@router.post("/users/{username}/enable", response_model=UserOut)
def enable_user(uow: UowDep, principal: PrincipalDep, username: str) -> UserOut:
    """Enable a disabled user again."""
    return UserOut.of(users.enable_user(uow, principal, username))


# --- teams -----------------------------------------------------------------------------------


@router.post("/teams", status_code=201, response_model=TeamOut)
def create_team(uow: UowDep, principal: PrincipalDep, state: StateDep, body: TeamCreate) -> TeamOut:
    """Create a team; `admin` (default: the caller) becomes its admin."""
    team = teams.create_team(
        uow,
        principal,
        body.name,
        admin_username=body.admin,
        users_can_create=state.settings.users_can_create_teams,
    )
    return TeamOut.of(team)


@router.get("/teams", response_model=list[TeamOut])
def list_teams(uow: UowDep, principal: PrincipalDep) -> list[TeamOut]:
    """Teams the caller belongs to (all of them for an instance admin)."""
    return [TeamOut.of(t) for t in teams.list_teams(uow, principal)]


@router.get("/teams/{team}/members", response_model=list[MemberOut])
def list_members(uow: UowDep, principal: PrincipalDep, team: str) -> list[MemberOut]:
    """A team's members and their roles."""
    return [MemberOut.of(m) for m in teams.list_members(uow, principal, team)]


@router.post("/teams/{team}/members", status_code=201, response_model=MemberOut)
def add_member(uow: UowDep, principal: PrincipalDep, team: str, body: MemberAdd) -> MemberOut:
    """Add a user to a team (team admins)."""
    return MemberOut.of(teams.add_member(uow, principal, team, body.username, body.role))


@router.patch("/teams/{team}/members/{username}", response_model=MemberOut)
def set_role(
    uow: UowDep, principal: PrincipalDep, team: str, username: str, body: RoleChange
) -> MemberOut:
    """Change a member's role (team admins)."""
    return MemberOut.of(teams.set_role(uow, principal, team, username, body.role))


@router.delete("/teams/{team}/members/{username}", status_code=204)
def remove_member(uow: UowDep, principal: PrincipalDep, team: str, username: str) -> Response:
    """Remove a member (team admins; members may remove themselves)."""
    teams.remove_member(uow, principal, team, username)
    return Response(status_code=204)


@router.post("/teams/{team}/service-accounts", status_code=201, response_model=UserCreated)
def create_service_account(
    uow: UowDep, principal: PrincipalDep, team: str, body: ServiceAccountCreate
) -> UserCreated:
    """Create a service account of the team; answers its API key."""
    user, key = teams.create_service_account(uow, principal, team, body.description)
    return UserCreated(user=UserOut.of(user), api_key=key)


# --- API keys --------------------------------------------------------------------------------


@router.post("/keys", status_code=201, response_model=KeyCreated)
def create_key(uow: UowDep, principal: PrincipalDep, body: KeyCreate) -> KeyCreated:
    """Create an API key for yourself (or, as an admin, for `username`)."""
    key = keys.create_key(uow, principal, username=body.username, description=body.description)
    return KeyCreated(username=body.username or principal.username, api_key=key)


@router.get("/keys", response_model=list[KeyOut])
def list_keys(
    uow: UowDep,
    principal: PrincipalDep,
    user: Annotated[str | None, QueryParam(description="Whose keys [yours].")] = None,
) -> list[KeyOut]:
    """API keys of the caller (or of `user`), without the keys themselves."""
    return [KeyOut.of(k) for k in keys.list_keys(uow, principal, user)]


@router.delete("/keys/{key_id}", status_code=204)
def revoke_key(uow: UowDep, principal: PrincipalDep, key_id: int) -> Response:
    """Revoke an API key at once."""
    keys.revoke_key(uow, principal, key_id)
    return Response(status_code=204)
