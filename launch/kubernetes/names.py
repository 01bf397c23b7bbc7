"""Kubernetes name syntax: what the API server accepts as names, label keys and label values.

Checked here, before anything is sent, so a bad pool setting fails when the agent starts
with the setting named, instead of every Job being refused later.
"""

from __future__ import annotations

import re

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME_PART = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def is_dns_label(text: str) -> bool:
    """RFC 1123 label (namespaces, container names): lowercase alnum and '-', <= 63."""
    return len(text) <= 63 and bool(_DNS_LABEL.match(text))


def is_dns_subdomain(text: str) -> bool:
    """RFC 1123 subdomain (most object names): dot-separated labels, <= 253."""
    return len(text) <= 253 and bool(_DNS_SUBDOMAIN.match(text))


def is_qualified_name(text: str) -> bool:
    """A label or annotation key: optional `dns.subdomain/` prefix, then a name <= 63."""
    prefix, _, name = text.rpartition("/")
    if "/" in text and not (prefix and is_dns_subdomain(prefix)):
        return False
    return len(name) <= 63 and bool(_NAME_PART.match(name))


def is_label_value(text: str) -> bool:
    """A label value: empty, or <= 63 of [A-Za-z0-9_.-] with alphanumerics at both ends."""
    return len(text) <= 63 and bool(_LABEL_VALUE.match(text))


def label_value(text: str) -> str:
    """`text` made into a valid label value: other characters become '-', cut to 63."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:63]
    # Cutting may leave a separator at the end; label values must end alphanumeric.
    return cleaned.strip("-_.")
