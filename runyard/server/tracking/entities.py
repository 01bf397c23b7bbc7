"""Reading entities and users as GraphQL's run nodes show them."""

from __future__ import annotations

from runyard.server.auth import Principal
from runyard.server.db.models import Run, User
from runyard.server.people import directory
from runyard.server.people.attribution import run_user
from runyard.server.unit_of_work import UnitOfWork


def user_of_run(uow: UnitOfWork, run: Run) -> Principal | User | None:
    """Who started the run (a service account's run: the member it named), else the owner
    of the run's entity (None for a team's run of unknown origin)."""
    return run_user(uow.session, run) or directory.owner_of(uow, run.project.entity)
