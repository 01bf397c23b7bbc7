"""Start-up checks of a server that is one of several processes (replicas or workers).

Pure: settings in, problems out, each naming the setting to change. The server refuses to
start with any of them rather than run with state some processes cannot see.
"""

from __future__ import annotations

from runyard.server.cluster.messages import BusKind, choose_bus
from runyard.server.settings import ServerSettings


def configuration_problems(settings: ServerSettings) -> list[str]:
    """What stops these settings from serving correctly; [] when they are fine."""
    problems: list[str] = []
    url = settings.resolved_database_url()
    sqlite = url.startswith("sqlite")
    processes = settings.replicas * settings.workers
    if sqlite and settings.replicas > 1:
        problems.append(
            f"RUNYARD_REPLICAS={settings.replicas} needs PostgreSQL: SQLite lives on one "
            "machine's disk. Set RUNYARD_DATABASE_URL=postgresql+psycopg://USER:PASS@HOST/DB, "
            "or run one replica."
        )
    if sqlite and settings.workers > 1:
        # SQLite lets one writer in at a time, so extra processes add no write throughput,
        # only lock waits; and claim wake-ups would need a bus between them.
        problems.append(
            f"RUNYARD_WORKERS={settings.workers} needs PostgreSQL: SQLite takes one writer at "
            "a time, so more worker processes only wait on its lock. Set "
            "RUNYARD_DATABASE_URL to a PostgreSQL database, or RUNYARD_WORKERS=1."
        )
    if settings.replicas > 1:
        if settings.signing_secret is None:
            problems.append(
                f"RUNYARD_SIGNING_SECRET is required with RUNYARD_REPLICAS={settings.replicas}: "
                "every replica must sign and check upload URLs and sign-in cookies with the "
                "same key. Put 32+ random bytes in a Secret (the chart's "
                "`server.secrets` does) and pass it to every replica."
            )
        if settings.secrets_key is None:
            problems.append(
                f"RUNYARD_SECRETS_KEY is required with RUNYARD_REPLICAS={settings.replicas}: "
                "team secrets written on one replica must be readable on the others; the "
                "default key file lives on one replica's disk. Make one with `python -c "
                '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.'
            )
    kind, why_not = choose_bus(settings.bus, url, settings.queue_redis_url)
    if why_not:
        problems.append(why_not)
    elif kind is BusKind.LOCAL and processes > 1 and not sqlite:
        problems.append(
            "RUNYARD_BUS=local cannot reach the other server processes (replicas x workers = "
            f"{processes}): claim wake-ups would stay in one process. Use RUNYARD_BUS=auto."
        )
    return problems
