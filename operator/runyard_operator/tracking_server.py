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


class S3CredentialsRef(CRModel):
    """The Secret holding the S3 access key pair."""

    name: str = Field(pattern=DNS_SUBDOMAIN, description="Secret with the key pair.")
    access_key_id_key: str = Field(
        default="access-key-id", description="Key of the access key id in the Secret."
    )
    secret_access_key_key: str = Field(
        default="secret-access-key", description="Key of the secret access key in the Secret."
    )


class S3Spec(CRModel):
    """An S3-compatible bucket (AWS S3, MinIO, SeaweedFS, GCS interoperability)."""

    bucket: str = Field(min_length=3, max_length=63, description="Bucket of runs and artifacts.")
    endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#]+/?$",
        description="Endpoint URL of an S3-compatible service (scheme, host and port, e.g. "
        "http://seaweedfs:8333); unset: AWS S3.",
    )
    public_endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#]+/?$",
        description="S3 address put into the presigned URLs clients get, when they cannot "
        "reach `endpoint` (an in-cluster Service name); scheme, host and port only; unset: "
        "endpoint.",
    )
    region: str | None = Field(default=None, description="Region of the bucket.")
    prefix: str | None = Field(
        default=None,
        max_length=512,
        pattern=r"^[^/]",
        description="Key prefix of every object, to share a bucket (e.g. runyard/); unset: "
        "the bucket's root.",
    )
    addressing_style: Literal["path", "virtual"] = Field(
        default="path",
        description="path: the bucket in the URL path (MinIO, SeaweedFS, most S3-compatible "
        "stores); virtual: the bucket as a host name (AWS S3).",
    )
    credentials_secret: S3CredentialsRef | None = Field(
        default=None,
        description="Access key pair; unset: the standard AWS credential chain of the pod "
        "(AWS_* variables, web identity as with IRSA, ECS task role, EC2 instance profile).",
    )

    @model_validator(mode="after")
    def _relative_prefix(self) -> S3Spec:
        parts = (self.prefix or "").strip("/").split("/")
        if self.prefix and any(p in ("", ".", "..") for p in parts):
            raise ValueError(
                f"prefix {self.prefix!r} is not a relative key prefix: no empty, . or .. "
                "segments (write e.g. runyard/)"
            )
        return self


class ObjectStoreSpec(CRModel):
    """Where run files and artifacts are kept."""

    type: Literal["filesystem", "s3"] = Field(
        default="filesystem",
        description="filesystem: the data volume (one replica); s3: a bucket every replica "
        "reaches (several replicas).",
    )
    s3: S3Spec | None = Field(default=None, description="s3: the bucket.")

    @model_validator(mode="after")
    def _bucket_for_s3(self) -> ObjectStoreSpec:
        if self.type == "s3" and self.s3 is None:
            raise ValueError("s3 is required when type is s3 (bucket, endpoint, credentials)")
        return self


class ServerSecretsSpec(CRModel):
    """The keys every replica shares: URL/cookie signing and the team-secrets key."""

    secret_name: str | None = Field(
        default=None,
        pattern=DNS_SUBDOMAIN,
        description="Secret with keys `signing-secret` and `secrets-key`; unset: "
        "<name>-secrets, generated once (never rotated silently).",
    )


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
        description="Server pods; more than 1 needs database.type postgresql and "
        "objectStore.type s3.",
    )
    database: DatabaseSpec = Field(
        default_factory=DatabaseSpec, description="Database of runs, queues and users."
    )
    storage: Storage = Field(
        default_factory=Storage,
        description="Data volume: SQLite database (type sqlite) and uploaded files.",
    )
    redis: RedisSpec = Field(default_factory=RedisSpec, description="Launch queue store.")
    object_store: ObjectStoreSpec = Field(
        default_factory=ObjectStoreSpec, description="Where run files and artifacts are kept."
    )
    secrets: ServerSecretsSpec = Field(
        default_factory=ServerSecretsSpec,
        description="The signing and team-secrets keys every replica shares.",
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Server processes per pod (one per CPU it is given); more than 1 needs "
        "database.type postgresql.",
    )
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
    def _shared_state_for_replicas(self) -> TrackingServerSpec:
        problems = replica_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def replica_problems(spec: TrackingServerSpec) -> list[str]:
    """Why these replicas/workers cannot share state (each names the field); [] if they can."""
    problems = []
    if spec.replicas > 1:
        needs = []
        if spec.database.type != "postgresql":
            needs.append(f"spec.database.type postgresql (is {spec.database.type})")
        if spec.object_store.type != "s3":
            needs.append(f"spec.objectStore.type s3 (is {spec.object_store.type})")
        if needs:
            problems.append(
                f"spec.replicas: {spec.replicas} server pods need "
                + " and ".join(needs)
                + ": SQLite and files on a volume belong to one pod; use replicas 1 or set "
                "those fields"
            )
    if spec.workers > 1 and spec.database.type != "postgresql":
        problems.append(
            f"spec.workers: {spec.workers} server processes need spec.database.type postgresql "
            "(SQLite takes one writer at a time); use workers 1"
        )
    return problems


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
