"""The server's shared state: settings, database, object store and URL signer."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from runyard.launch.queue.sql import SqlQueueStore
from runyard.launch.queue.store import QueueStore
from runyard.server.auth import bootstrap_admin
from runyard.server.clock import utcnow
from runyard.server.cluster.locks import exclusive
from runyard.server.db import migrate
from runyard.server.db.engine import make_engine, make_session_factory, writer_engine
from runyard.server.db.models import ServerSecret
from runyard.server.people.directory import ensure_org_entity
from runyard.server.registry.registries import ensure_core_registries
from runyard.server.settings import ServerSettings
from runyard.server.signing import UrlSigner
from runyard.server.storage import ObjectStore
from runyard.server.store_factory import direct_urls, open_store

SIGNING_SECRET = "url-signing-key"


@dataclass
class ServerState:
    """Everything a request handler needs besides the request."""

    settings: ServerSettings
    engine: Engine
    sessions: sessionmaker[Session]
    # Sessions whose transactions take SQLite's write lock at their first statement.
    write_sessions: sessionmaker[Session]
    store: ObjectStore
    signer: UrlSigner
    queue_store: QueueStore
    new_admin_key: str | None = None
    # The time every unit of work sees (`UnitOfWork.now`); tests move it instead of sleeping.
    clock: Callable[[], datetime] = utcnow


def _queue_store(settings: ServerSettings, engine: Engine) -> QueueStore:
    """Redis when configured (clusters), else the server's own database."""
    if settings.queue_redis_url:
        from runyard.launch.queue.redis_store import RedisQueueStore

        return RedisQueueStore.from_url(settings.queue_redis_url, settings.queue_redis_prefix)
    return SqlQueueStore(engine)


def _signing_secret(session: Session) -> bytes:
    """Load the URL signing key, creating it once; kept in the database so replicas agree."""
    row = session.scalars(select(ServerSecret).where(ServerSecret.name == SIGNING_SECRET)).first()
    if row is None:
        row = ServerSecret(name=SIGNING_SECRET, value=secrets.token_hex(32))
        session.add(row)
        session.flush()
    return bytes.fromhex(row.value)


def open_state(settings: ServerSettings) -> ServerState:
    """Create the data dir, migrate the database, bootstrap the admin, and open the stores."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # The object store first: a bad bucket setting fails the start before anything changes.
    store = open_store(settings)
    engine = make_engine(settings.resolved_database_url())
    sessions = make_session_factory(engine)
    # Replicas and worker processes start together: one migrates and bootstraps, the others
    # wait and then find the work done (PostgreSQL advisory lock; SQLite is one process).
    with exclusive(engine, "startup"):
        migrate.upgrade(engine)
        with sessions.begin() as session:
            new_key = bootstrap_admin(session, settings.admin_username, settings.admin_api_key)
            ensure_org_entity(session)
            ensure_core_registries(session)
            secret = _signing_secret(session)
    if settings.signing_secret is not None:
        secret = settings.signing_secret.get_secret_value().encode()
    return ServerState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        write_sessions=make_session_factory(writer_engine(engine)),
        store=store,
        signer=UrlSigner(secret, settings.signed_url_ttl_s, direct=direct_urls(store)),
        queue_store=_queue_store(settings, engine),
        new_admin_key=new_key,
    )
