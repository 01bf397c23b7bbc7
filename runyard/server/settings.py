"""Server configuration: flags and `RUNYARD_*` environment variables."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A plain release number like 0.31.0: what the client's `packaging.version.parse` accepts.
VERSION_PATTERN = r"^\d+(\.\d+){0,3}$"


class ServerSettings(BaseSettings):
    """Settings of the tracking server; every field maps to `RUNYARD_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="RUNYARD_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8080, ge=0, le=65535, description="Port to listen on.")
    data_dir: Path = Field(Path(".runyard"), description="SQLite database and files live here.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default is SQLite in the data dir. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db",
    )
    queue_redis_url: str | None = Field(
        None,
        description="Keep launch queues in Redis (redis://host:6379/0); default: the database.",
    )
    queue_redis_prefix: str = Field("runyard:", description="Prefix of every Redis key.")
    public_url: str | None = Field(
        None,
        description="URL clients use to reach the server (for signed upload URLs); "
        "default: taken from each request's Host header.",
    )
    admin_username: str = Field("admin", description="Name of the admin user made at first start.")
    admin_api_key: str | None = Field(
        None, description="Admin API key to create at first start (default: a random one)."
    )
    users_can_create_teams: bool = Field(
        True,
        description="Whether any user may create a team (as on W&B); when off, only instance "
        "admins create teams.",
    )
    run_heartbeat_timeout_s: float = Field(
        300.0, gt=0, description="A running run with no client contact this long becomes crashed."
    )
    crash_check_interval_s: float = Field(
        15.0, gt=0, description="How often the server looks for crashed runs."
    )
    lease_check_interval_s: float = Field(
        2.0, gt=0, description="How often expired queue-item leases are looked for."
    )
    artifact_sweep_interval_s: float = Field(
        60.0,
        gt=0,
        description="How often versions past their TTL are deleted and unreferenced artifact "
        "bytes removed.",
    )
    artifact_gc_grace_s: float = Field(
        3600.0,
        ge=0,
        description="How long bytes a deleted version left behind wait before they are removed "
        "(if no version uses them by then); covers uploads that started before the delete.",
    )
    artifact_sweep_batch: int = Field(
        500, ge=1, le=100_000, description="Versions or blobs one sweep transaction handles."
    )
    sweep_agent_timeout_s: float = Field(
        120.0,
        gt=0,
        description="A sweep agent silent this long is crashed: its runs crash and each of "
        "their points is offered once more (`wandb agent` heartbeats every 5 s).",
    )
    sweep_check_interval_s: float = Field(
        2.0,
        gt=0,
        description="How often the server schedules launch sweeps' trials and looks for "
        "crashed sweep agents.",
    )
    history_export_interval_s: float = Field(
        30.0,
        gt=0,
        description="How often the history of runs that stopped is exported to Parquet for "
        "bulk reads (wandb 0.31's `scan_history`).",
    )
    history_export_min_lines: int = Field(
        10_000,
        ge=1,
        description="History lines a run needs before it is exported (smaller runs read fast "
        "enough live).",
    )
    signed_url_ttl_s: int = Field(
        86400, gt=0, description="Lifetime of upload/download capability URLs."
    )
    max_value_bytes: int = Field(
        1_000_000, gt=0, description="Largest single history/summary/config value, as JSON."
    )
    max_request_bytes: int = Field(25_000_000, gt=0, description="Largest request body.")
    max_upload_bytes: int = Field(
        100_000_000_000,
        gt=0,
        description=(
            "Largest file stored through one signed upload URL (run files, artifact files); "
            "a full disk is refused with a 507 whatever this allows."
        ),
    )
    ingest_concurrency: int = Field(
        4, ge=1, le=256, description="file_stream posts processed at once (bounds memory)."
    )
    graphql_max_depth: int = Field(
        20, ge=1, description="Deepest nesting of fields one GraphQL operation may select."
    )
    graphql_max_fields: int = Field(
        1_000, ge=1, description="Most fields one GraphQL operation selects, fragments expanded."
    )
    graphql_max_aliases: int = Field(
        200, ge=0, description="Most aliases one GraphQL operation uses, fragments expanded."
    )
    graphql_max_tokens: int = Field(
        10_000, ge=100, description="Most tokens (names, punctuation, values) in a GraphQL query."
    )
    cli_min_version: str = Field(
        "0.19.11",
        pattern=VERSION_PATTERN,
        description="Oldest wandb client release this server supports (`wandb verify` fails "
        "older ones).",
    )
    cli_max_version: str = Field(
        "0.31.0",
        pattern=VERSION_PATTERN,
        description="Newest wandb client release this server was tested with (`wandb verify` "
        "warns on newer ones); raise it once a newer client passes the compat tests.",
    )
    log_level: str = Field("info", description="Log level: debug, info, warning, error.")
    trusted_proxies: str = Field(
        "",
        description="Comma-separated IPs or CIDR networks of reverse proxies whose "
        "X-Forwarded-Proto/-For headers are believed (e.g. 10.0.0.0/8); '*' trusts every peer. "
        "Default: none, so a client cannot claim https by sending the header itself.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="When set, /metrics answers only `Authorization: Bearer <token>` requests.",
    )
    alert_webhook_url: str | None = Field(
        None,
        description="POST each run alert (`run.alert`) as JSON to this URL; default: alerts "
        "are only stored and shown.",
    )
    alert_webhook_timeout_s: float = Field(
        5.0, gt=0, le=60, description="How long one alert webhook delivery may take."
    )

    secrets_key: SecretStr | None = Field(
        None,
        description="Fernet key (urlsafe base64, 32 bytes) encrypting team secrets; give every "
        "replica the same one. Default: a key file `secrets.key` made in the data dir.",
    )
    signing_secret: SecretStr | None = Field(
        None,
        description="Key that signs upload/download URLs, sign-in cookies and CSRF tokens; "
        "give every replica the same one (required with replicas > 1). Default: a random key "
        "made at first start and kept in the database.",
    )
    replicas: int = Field(
        1,
        ge=1,
        le=1000,
        description="How many server replicas share this database (the chart and operator set "
        "it); above 1 the server needs PostgreSQL and shared secrets.",
    )
    workers: int = Field(
        1,
        ge=1,
        le=256,
        description="Worker processes of this server (use every core it is given); above 1 "
        "needs PostgreSQL.",
    )
    bus: Literal["auto", "local", "postgres", "redis"] = Field(
        "auto",
        description="How claim wake-ups and agent capacity reach the other server processes: "
        "auto (Redis pub/sub when RUNYARD_QUEUE_REDIS_URL is set, else PostgreSQL "
        "LISTEN/NOTIFY, else in-process for SQLite), or one of local, postgres, redis.",
    )
    claim_recheck_s: float = Field(
        1.0,
        gt=0,
        le=30,
        description="How often a waiting claim looks for work without being woken (wake-ups "
        "come over the bus; this is the safety net should one be lost).",
    )
    events_dispatch: bool = Field(
        True, description="Deliver automation events from this replica (webhooks, Slack)."
    )
    events_poll_interval_s: float = Field(
        5.0,
        gt=0,
        le=60,
        description="How often a dispatcher looks for deliveries it was not woken for (commits "
        "on any replica wake it over the bus; this is the safety net should a message be lost).",
    )
    events_backoff_base_s: float = Field(
        5.0, ge=0, le=3600, description="Wait before the first retry of a failed delivery."
    )
    events_backoff_max_s: float = Field(
        3600.0, ge=0, description="Longest wait between two tries of one delivery."
    )
    events_max_attempts: int = Field(
        8, ge=1, le=100, description="Tries of one delivery before it is marked failed."
    )
    events_delivery_timeout_s: float = Field(
        10.0, gt=0, le=120, description="How long one webhook request may take."
    )
    events_retention_days: float = Field(
        30.0, gt=0, description="How long finished deliveries and their events are kept."
    )
    events_max_in_flight: int = Field(
        64, ge=1, le=1024, description="Deliveries one replica sends at the same time."
    )

    # S3-compatible object storage: run and artifact files go to a bucket; clients PUT and GET
    # them through presigned URLs, so file bytes never pass through the server.
    s3_bucket: str | None = Field(
        None,
        description="Keep run and artifact files in this S3-compatible bucket (it must exist); "
        "default: files under the data dir.",
    )
    s3_endpoint_url: str | None = Field(
        None,
        description="S3 API address (e.g. http://seaweedfs:8333, https://minio.example.com); "
        "default: AWS S3 in s3_region.",
    )
    s3_public_endpoint_url: str | None = Field(
        None,
        description="S3 address put into the presigned URLs clients get, when it differs from "
        "the one the server uses (an in-cluster service name); default: s3_endpoint_url.",
    )
    s3_region: str = Field("us-east-1", description="Region the bucket lives in (signing).")
    s3_access_key_id: SecretStr | None = Field(
        None,
        description="Access key of the bucket; default: the standard AWS credential chain "
        "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, web identity as with "
        "IRSA, ECS task role, EC2 instance profile).",
    )
    s3_secret_access_key: SecretStr | None = Field(
        None,
        description="Secret key that goes with s3_access_key_id; default: the standard AWS "
        "credential chain.",
    )
    s3_prefix: str = Field(
        "", description="Key prefix for every object, to share a bucket (e.g. runyard/)."
    )
    s3_addressing_style: str = Field(
        "path",
        description="path (bucket in the URL path, what MinIO/SeaweedFS expect) or virtual "
        "(bucket as a host name, AWS).",
    )
    s3_check_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="How long one bucket check (at start-up and for /readyz) may take.",
    )
    s3_ready_check_interval_s: float = Field(
        5.0,
        ge=0,
        le=300,
        description="/readyz looks at the bucket (a HEAD) at most this often and reuses the "
        "answer in between.",
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        levels = {"debug", "info", "warning", "error"}
        if value.lower() not in levels:
            raise ValueError(f"log_level must be one of {sorted(levels)}, got {value!r}")
        return value.lower()

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        entries = [e.strip() for e in value.split(",") if e.strip()]
        for entry in entries:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {entry!r} is not an IP address or CIDR network "
                    "(write e.g. 127.0.0.1,10.0.0.0/8, or * to trust every peer)"
                ) from None
        return ",".join(entries)

    @field_validator("signing_secret")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if len(value.get_secret_value()) < 32:
            raise ValueError(
                "signing_secret must be at least 32 characters (e.g. `openssl rand -hex 32`)"
            )
        return value

    @field_validator("metrics_token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None  # an empty RUNYARD_METRICS_TOKEN means "no token", not "any token"
        return value

    def proxy_list(self) -> list[str]:
        """The trusted proxies as a list (empty: believe no forwarded headers)."""
        return [e for e in self.trusted_proxies.split(",") if e]

    def resolved_database_url(self) -> str:
        """Return the database URL, defaulting to SQLite inside the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'runyard.db').resolve()}"

    @field_validator("s3_prefix")
    @classmethod
    def _s3_prefix(cls, value: str) -> str:
        parts = value.strip("/").split("/") if value.strip("/") else []
        if value.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(
                f"s3_prefix: {value!r} is not a relative key prefix (write e.g. runyard/)"
            )
        return "".join(f"{p}/" for p in parts)

    @field_validator("s3_addressing_style")
    @classmethod
    def _s3_addressing(cls, value: str) -> str:
        if value not in ("path", "virtual"):
            raise ValueError(f"s3_addressing_style must be path or virtual, got {value!r}")
        return value
