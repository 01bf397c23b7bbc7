"""Alembic environment: uses the engine handed over in `config.attributes`."""

from alembic import context

from runyard.launch.queue.sql import METADATA as LAUNCH_METADATA
from runyard.server.db.models import Base

engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        # The launch queue's SQL store keeps its tables in the server's database.
        target_metadata=[Base.metadata, LAUNCH_METADATA],
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
