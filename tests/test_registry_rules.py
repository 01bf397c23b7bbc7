"""The Registry's pure rules: roles, names and search filters."""

from __future__ import annotations

from typing import Any

import pytest

from runyard.server.auth import Role
from runyard.server.errors import ServiceError
from runyard.server.registry.access import decide_role
from runyard.server.registry.filters import FilterError, matches
from runyard.server.registry.names import check_registry_project_name

FIELDS = frozenset({"name", "alias", "tag", "metadata", "version"})
VERSION: dict[str, Any] = {
    "name": "classifier",
    "alias": ["latest", "production"],
    "tag": [],
    "metadata": {"accuracy": 0.93, "data": {"rows": 1000}},
    "version": "v2",
}


@pytest.mark.parametrize(
    ("visibility", "user", "teams", "expected"),
    [
        ("restricted", None, [], None),  # no role at all: the registry reads as missing
        ("restricted", "viewer", [], Role.VIEWER),
        ("restricted", "viewer", ["member"], Role.MEMBER),  # the seeds' "Nico" example
        ("restricted", "viewer", ["admin"], Role.ADMIN),
        ("restricted", None, ["viewer", "member"], Role.MEMBER),
        ("organization", None, [], Role.MEMBER),  # everyone in the org may use it
        ("organization", "admin", [], Role.ADMIN),
        ("organization", "viewer", [], Role.MEMBER),  # the highest role wins
    ],
)
def test_registry_role_is_the_highest_granted(
    visibility: str, user: str | None, teams: list[str], expected: Role | None
) -> None:
    role = decide_role(is_admin=False, visibility=visibility, user_role=user, team_roles=teams)
    assert role == expected


def test_instance_admins_administer_every_registry() -> None:
    role = decide_role(is_admin=True, visibility="restricted", user_role=None, team_roles=[])
    assert role is Role.ADMIN


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (None, True),
        ({"name": "classifier"}, True),
        ({"alias": "production"}, True),  # a list matches when any element does
        ({"alias": "staging"}, False),
        ({"alias": {"$in": ["staging", "latest"]}}, True),
        ({"alias": {"$nin": ["production"]}}, False),
        ({"name": {"$regex": "^class"}}, True),
        ({"name": {"$regex": "CLASS", "$options": "i"}}, True),
        ({"metadata.accuracy": {"$gt": 0.9}}, True),
        ({"metadata.accuracy": {"$lte": 0.9}}, False),
        ({"metadata.data.rows": 1000}, True),
        ({"metadata.missing": {"$exists": False}}, True),
        ({"$or": [{"tag": "prod"}, {"alias": "production"}]}, True),
        ({"$and": [{"name": "classifier"}, {"version": "v1"}]}, False),
        ({"$nor": [{"version": "v1"}]}, True),
        ({"version": {"$not": {"$eq": "v2"}}}, False),
        ({"version": {"$ne": "v2"}}, False),
    ],
)
def test_filters_match_like_mongodb(document: Any, expected: bool) -> None:
    assert matches(document, VERSION, FIELDS) is expected


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"colour": "red"}, "unknown field 'colour'"),
        ({"name": {"$near": 1}}, "unknown operator '$near'"),
        ({"$xor": []}, "unknown operator '$xor'"),
        ({"alias": {"$in": "prod"}}, "$in takes a list"),
        ({"name": {"$regex": "(?<=a)b"}}, "unsupported pattern"),
    ],
)
def test_bad_filters_name_the_problem(document: Any, message: str) -> None:
    with pytest.raises(FilterError, match=message.replace("$", r"\$").replace("(", r"\(")):
        matches(document, VERSION, FIELDS)


@pytest.mark.parametrize(
    "name", ["wandb-registry-", "wandb-registry-bad name", "wandb-registry-x/y", "models"]
)
def test_invalid_registry_names_are_refused(name: str) -> None:
    with pytest.raises(ServiceError):
        check_registry_project_name(name)


def test_valid_registry_name() -> None:
    assert check_registry_project_name("wandb-registry-fine_tuned.v2") == (
        "wandb-registry-fine_tuned.v2"
    )
