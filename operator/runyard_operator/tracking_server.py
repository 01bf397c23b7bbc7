"""The `TrackingServer` custom resource: one Runyard server with its database and Redis."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .api import (
    DNS_SUBDOMAIN,
    Condition,
    CRModel,
    Phase,
    Resources,
    Scheduling,
    SecretKeyRef,
    Storage,
)

DEFAULT_REDIS_IMAGE = "redis:7.4-alpine"


class DatabaseSpec(CRModel):
    """Where the server keeps runs, queues and users."""

    type: Literal["sqlite", "postgresql"] = Field(
        default="sqlite",
        description="sqlite: embedded, on the data volume (one replica); "
        "postgresql: the URL comes from a Secret (several replicas).",
    )
    url_secret: SecretKeyRef | None = Field(
        default=None,
        description="postgresql: Secret key holding the SQLAlchemy URL, "
        "e.g. postgresql+psycopg://user:pass@host/db.",
    )

    @model_validator(mode="after")
    def _secret_for_postgres(self) -> DatabaseSpec:
        if self.type == "postgresql" and self.url_secret is None:
            raise ValueError("urlSecret is required when type is postgresql")
        return self


class RedisSpec(CRModel):
    """The Redis that holds launch queues (durable: AOF with appendfsync always)."""

    mode: Literal["managed", "external", "none"] = Field(
        default="managed",
        description="managed: the operator runs a Redis StatefulSet; external: use urlSecret; "
        "none: queues live in the server's database.",
    )
    image: str = Field(default=DEFAULT_REDIS_IMAGE, description="managed: Redis image.")
    storage: Storage = Field(
        default_factory=lambda: Storage(size="5Gi"), description="managed: Redis data volume."
    )
    resources: Resources = Field(
        default_factory=Resources, description="managed: Redis container resources."
    )
    url_secret: SecretKeyRef | None = Field(
        default=None, description="external: Secret key holding the redis:// URL."
    )

    @model_validator(mode="after")
    def _secret_for_external(self) -> RedisSpec:
        if self.mode == "external" and self.url_secret is None:
            raise ValueError("urlSecret is required when mode is external")
        return self


class IngressSpec(CRModel):
    """An optional Ingress in front of the server's Service."""

    enabled: bool = Field(default=False, description="Create an Ingress.")
    host: str | None = Field(
        default=None, pattern=DNS_SUBDOMAIN, description="Host name, e.g. runyard.example.com."
    )
    class_name: str | None = Field(default=None, description="IngressClass; unset: the default.")
    tls_secret: str | None = Field(
        default=None,
        pattern=DNS_SUBDOMAIN,
        description="Secret with the TLS certificate for the host.",
    )
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations of the Ingress (e.g. cert-manager)."
    )

    @model_validator(mode="after")
    def _host_when_enabled(self) -> IngressSpec:
        if self.enabled and not self.host:
            raise ValueError("host is required when enabled is true")
        return self


class AdminKeySpec(CRModel):
    """The admin API key: generated once into this Secret, or taken from it if it exists."""

    secret_name: str | None = Field(
        default=None,
        pattern=DNS_SUBDOMAIN,
        description="Secret holding the key; unset: <name>-admin-key. Never rotated silently.",
    )
    key: str = Field(default="api-key", description="Key inside the Secret.")


class TrackingServerSpec(CRModel):
    """The desired tracking server."""

    image: str | None = Field(
        default=None, min_length=1, description="Server image; unset: the operator's default."
    )
    image_pull_secrets: list[str] = Field(
        default_factory=list, description="Secrets to pull the images with."
    )
    replicas: int = Field(
        default=1,
        ge=0,
        le=100,
        description="Server pods; more than 1 needs database.type postgresql.",
    )
    database: DatabaseSpec = Field(
        default_factory=DatabaseSpec, description="Database of runs, queues and users."
    )
    storage: Storage = Field(
        default_factory=Storage,
        description="Data volume: SQLite database (type sqlite) and uploaded files.",
    )
    redis: RedisSpec = Field(default_factory=RedisSpec, description="Launch queue store.")
    admin_key: AdminKeySpec = Field(
        default_factory=AdminKeySpec, description="The admin API key Secret."
    )
    ingress: IngressSpec = Field(default_factory=IngressSpec, description="Optional Ingress.")
    resources: Resources = Field(
        default_factory=lambda: Resources(
            requests={"cpu": "250m", "memory": "512Mi"}, limits={"memory": "2Gi"}
        ),
        description="Server container resources.",
    )
    scheduling: Scheduling = Field(
        default_factory=Scheduling, description="Where server and Redis pods run."
    )
    retention_policy: Literal["detach", "purge"] = Field(
        default="detach",
        description="On delete: detach keeps the volumes (data survives), purge deletes them.",
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="URL users reach the server at; unset: from the Ingress or Service.",
    )

    @model_validator(mode="after")
    def _sqlite_single_replica(self) -> TrackingServerSpec:
        if self.database.type == "sqlite" and self.replicas > 1:
            raise ValueError(
                f"replicas: {self.replicas} server pods cannot share an SQLite file; "
                "use replicas 1 or database.type postgresql"
            )
        return self


class TrackingServerStatus(CRModel):
    """What the operator observed."""

    phase: Phase = Field(default="Pending", description="Pending, Progressing, Ready or Degraded.")
    url: str | None = Field(default=None, description="Where the server is reached.")
    version: str | None = Field(default=None, description="Image tag of the running server.")
    replicas: int = Field(default=0, ge=0, description="Server pods that exist.")
    ready_replicas: int = Field(default=0, ge=0, description="Server pods that pass /readyz.")
    admin_key_secret: str | None = Field(default=None, description="Secret with the admin API key.")
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, Progressing and Degraded."
    )
    observed_generation: int = Field(default=0, ge=0, description="Generation last reconciled.")
