"""W&B-style display names for runs started without one: `adjective-noun-number`.

The number is the run's place in its project (the 12th run is `...-12`), so names sort
roughly by age and stay short; the words make them easy to say. Names are unique within
a project: a name already in use is skipped.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from runyard.server.db.models import Project, Run

_ADJECTIVE_WORDS = """
    amber ancient autumn bold brave breezy bright calm clever cosmic crimson crisp curious
    daring dazzling distant dusky eager earnest electric fancy fearless floral fluent
    frosty gentle giddy glad golden graceful hardy hazy honest humble icy jolly keen kind
    lively lucky lunar mellow misty modest nimble noble patient peaceful playful polished
    proud quiet radiant rapid rosy rustic serene sharp silent silver sleek smooth snowy
    solar spry steady stellar sunny swift tender tidy tranquil upbeat valiant vivid warm
    wandering whimsical wild wise witty woven zesty
    """
ADJECTIVES = tuple(_ADJECTIVE_WORDS.split())

_NOUN_WORDS = """
    aurora bamboo bay bird blossom breeze brook butterfly canyon cedar cloud comet coral
    cosmos dawn delta dew dune eclipse ember feather fern field firefly flower fog forest
    frost galaxy glade glacier grove harbor haze hill horizon island lagoon lake leaf
    meadow meteor mist moon moss mountain nebula night oasis ocean orbit pebble pine planet
    pond prairie rain reef ridge river sea shadow shore sky snow sound spring star stone
    storm sun sunset thunder tide tree valley violet water wave willow wind wood
    """
NOUNS = tuple(_NOUN_WORDS.split())

GENERATED_NAME_RE = re.compile(r"^[a-z]+-[a-z]+-[1-9][0-9]*$")
# Word pairs tried per number before moving on to the next number.
_TRIES_PER_NUMBER = 20


def compose(adjective: str, noun: str, number: int) -> str:
    """`gentle`, `river`, 12 → `gentle-river-12`."""
    return f"{adjective}-{noun}-{number}"


def pick_name(number: int, is_taken: Callable[[str], bool], rng: random.Random) -> str:
    """A generated name ending in `number` (or a later number) that `is_taken` says is free."""
    number = max(number, 1)
    while True:
        for _ in range(_TRIES_PER_NUMBER):
            name = compose(rng.choice(ADJECTIVES), rng.choice(NOUNS), number)
            if not is_taken(name):
                return name
        number += 1


def name_new_run(session: Session, run: Run) -> str:
    """Give a just-inserted run without a display name a generated one, unique in its project.

    The project row is locked first (PostgreSQL), so concurrent new runs of one project
    count and check names one after the other; SQLite's write lock already does that.
    `NO KEY UPDATE`, because each run insert holds a key-share lock on its project (the
    foreign key): a plain `FOR UPDATE` would deadlock two inserts waiting on each other.
    """
    session.execute(
        select(Project.id).where(Project.id == run.project_id).with_for_update(key_share=True)
    ).all()
    session.flush()
    number = session.scalar(select(func.count(Run.id)).where(Run.project_id == run.project_id))

    def taken(name: str) -> bool:
        query = select(Run.id).where(
            Run.project_id == run.project_id, Run.display_name == name, Run.id != run.id
        )
        return session.scalars(query).first() is not None

    run.display_name = pick_name(int(number or 1), taken, random.SystemRandom())
    return run.display_name
