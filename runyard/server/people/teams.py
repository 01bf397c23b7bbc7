"""Teams: entities with members whose roles are admin, member or viewer; service accounts."""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runyard.server import auth
from runyard.server.access import Action, require
from runyard.server.auth import Principal, Role
from runyard.server.db.models import Entity, TeamMember, User
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.people.names import MAX_NAME, check_name, claiming, ensure_name_free
from runyard.server.people.users import find_user
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

MAX_DESCRIPTION = 256
ROLE_NAMES = [r.value for r in Role]


def parse_role(role: str) -> Role:
    """The Role named `role`, or an invalid-input error listing the roles."""
    try:
        return Role(role)
    except ValueError:
        raise ServiceError(
            ErrorCode.INVALID,
            f"role: {role!r} is not a role: use one of {', '.join(ROLE_NAMES)}",
        ) from None


def find_team(session: Session, principal: Principal, team: str, action: Action) -> Entity:
    """The team named `team` if the caller may `action` on it (decided before existence)."""
    require(principal, team, action)
    entity = session.scalars(select(Entity).where(Entity.name == team)).first()
    if entity is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"team: no team named {team!r}: create it with `runyard team create {team}`",
        )
    if not entity.is_team:
        raise ServiceError(
            ErrorCode.INVALID,
            f"team: {team!r} is a user's personal entity, not a team: personal entities have "
            "no members; create a team with `runyard team create NAME`",
        )
    return entity


def _membership(session: Session, team: Entity, user: User) -> TeamMember | None:
    return session.scalars(
        select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user.id)
    ).first()


def _require_membership(session: Session, team: Entity, username: str) -> TeamMember:
    member = _membership(session, team, find_user(session, username))
    if member is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"username: {username!r} is not a member of team {team.name!r}: add them with "
            f"`runyard team add-member {team.name} {username}`",
        )
    return member


def _admin_count(session: Session, team: Entity) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(TeamMember)
        .where(TeamMember.team_id == team.id, TeamMember.role == Role.ADMIN.value)
    )
    return int(count or 0)


def _refuse_losing_last_admin(session: Session, team: Entity, member: TeamMember) -> None:
    if member.role == Role.ADMIN.value and _admin_count(session, team) <= 1:
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"username: {member.user.username!r} is the last admin of team {team.name!r}: "
            "make another member admin first (runyard team add-member/set-role ... --role admin)",
        )


def create_team(
    uow: UnitOfWork,
    principal: Principal,
    name: str,
    *,
    admin_username: str | None = None,
    users_can_create: bool = True,
) -> Entity:
    """Create a team; its admin is `admin_username` (default: the caller).

    Instance admins may always create teams; other users only while `users_can_create`
    (setting RUNYARD_USERS_CAN_CREATE_TEAMS, like W&B where any user can start a team).
    A non-admin caller who names someone else as admin becomes an admin too.
    """
    session = uow.session
    if principal.is_service_account:
        raise ServiceError(
            ErrorCode.FORBIDDEN,
            "permission denied: service accounts cannot create teams; use a user's API key",
        )
    if not principal.is_admin and not users_can_create:
        raise ServiceError(
            ErrorCode.FORBIDDEN,
            "permission denied: on this server only instance admins create teams "
            "(RUNYARD_USERS_CAN_CREATE_TEAMS is off); ask an instance admin",
        )
    check_name(name, "name")
    try:
        admins = [find_user(session, admin_username)] if admin_username else []
    except ServiceError as exc:
        raise ServiceError(exc.code, str(exc).replace("username:", "admin:", 1)) from None
    if not admins or not principal.is_admin:
        caller = session.get(User, principal.user_id)
        assert caller is not None  # the caller was authenticated in this request
        if caller not in admins:
            admins.append(caller)
    for admin in admins:
        if admin.is_service_account or admin.disabled_at is not None:
            raise ServiceError(
                ErrorCode.INVALID,
                f"admin: {admin.username!r} cannot administer a team (it is "
                f"{'a service account' if admin.is_service_account else 'disabled'}): "
                "name an active user",
            )
    ensure_name_free(session, name, "name")
    team = Entity(name=name, is_team=True)
    with claiming(session, name, "name"):
        session.add(team)
        session.flush()
    for admin in admins:
        session.add(TeamMember(team_id=team.id, user_id=admin.id, role=Role.ADMIN.value))
    session.flush()
    logger.info(
        "team created",
        extra={"team": name, "admins": [a.username for a in admins], "by": principal.username},
    )
    return team


def list_teams(uow: UnitOfWork, principal: Principal) -> list[Entity]:
    """Teams the caller belongs to (all teams for an instance admin), by name."""
    session = uow.session
    query = select(Entity).where(Entity.is_team.is_(True)).order_by(Entity.name)
    if not principal.is_admin:
        query = query.where(Entity.name.in_(list(principal.roles)))
    return list(session.scalars(query))


def add_member(
    uow: UnitOfWork, principal: Principal, team: str, username: str, role: str = "member"
) -> TeamMember:
    """Add a user to a team with a role (team admins and instance admins)."""
    session = uow.session
    parsed = parse_role(role)
    entity = find_team(session, principal, team, Action.MANAGE)
    user = find_user(session, username)
    if _membership(session, entity, user) is not None:
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"username: {username!r} is already a member of team {team!r}: change the role "
            f"with `runyard team set-role {team} {username} --role {parsed.value}`",
        )
    member = TeamMember(team_id=entity.id, user_id=user.id, role=parsed.value)
    try:
        with session.begin_nested():
            session.add(member)
            session.flush()
    except IntegrityError as exc:  # added by a concurrent request since the check above
        raise ServiceError(
            ErrorCode.CONFLICT, f"username: {username!r} is already a member of team {team!r}"
        ) from exc
    session.refresh(member)
    logger.info(
        "team member added",
        extra={"team": team, "user": username, "role": parsed.value, "by": principal.username},
    )
    return member


def set_role(
    uow: UnitOfWork, principal: Principal, team: str, username: str, role: str
) -> TeamMember:
    """Change a member's role; the last admin cannot step down."""
    session = uow.session
    parsed = parse_role(role)
    entity = find_team(session, principal, team, Action.MANAGE)
    member = _require_membership(session, entity, username)
    if parsed is not Role.ADMIN:
        _refuse_losing_last_admin(session, entity, member)
    member.role = parsed.value
    session.flush()
    return member


def remove_member(uow: UnitOfWork, principal: Principal, team: str, username: str) -> None:
    """Remove a member (team admins; any member may leave); the last admin cannot leave."""
    session = uow.session
    leaving = username == principal.username
    entity = find_team(session, principal, team, Action.READ if leaving else Action.MANAGE)
    member = _require_membership(session, entity, username)
    _refuse_losing_last_admin(session, entity, member)
    session.delete(member)
    session.flush()
    logger.info(
        "team member removed", extra={"team": team, "user": username, "by": principal.username}
    )


def list_members(uow: UnitOfWork, principal: Principal, team: str) -> list[TeamMember]:
    """A team's members with their roles (anyone in the team may look)."""
    session = uow.session
    entity = find_team(session, principal, team, Action.READ)
    return list(
        session.scalars(
            select(TeamMember)
            .join(User, User.id == TeamMember.user_id)
            .where(TeamMember.team_id == entity.id)
            .order_by(User.username)
        )
    )


def _service_account_name(session: Session, team: str) -> str:
    stem = team[: MAX_NAME - 12]
    while True:
        name = f"{stem}-sa-{secrets.token_hex(4)}"
        entity = session.scalars(select(Entity.id).where(Entity.name == name)).first()
        user = session.scalars(select(User.id).where(User.username == name)).first()
        if entity is None and user is None:
            return name


def create_service_account(
    uow: UnitOfWork, principal: Principal, team: str, description: str = ""
) -> tuple[User, str]:
    """Create a team's service account (a member whose home entity is the team) and its key."""
    session = uow.session
    if len(description) > MAX_DESCRIPTION:
        raise ServiceError(
            ErrorCode.INVALID,
            f"description: {len(description)} characters, over the {MAX_DESCRIPTION}-character "
            "limit: shorten it",
        )
    entity = find_team(session, principal, team, Action.MANAGE)
    user = User(
        username=_service_account_name(session, team),
        email="",
        is_admin=False,
        default_entity_id=entity.id,
        is_service_account=True,
    )
    session.add(user)
    session.flush()
    session.add(TeamMember(team_id=entity.id, user_id=user.id, role=Role.MEMBER.value))
    key = auth.generate_api_key()
    auth.add_api_key(session, user, key, description=description or f"service account of {team}")
    session.refresh(user)
    logger.info(
        "service account created",
        extra={"team": team, "user": user.username, "by": principal.username},
    )
    return user, key
