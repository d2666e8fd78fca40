"""The Alertmanager route: `rollback="true"` alerts go to the engine's webhook receiver.

Everything else goes to a `default` receiver with no integrations, which operators extend
(or replace) with their own pager and chat receivers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sloengine import conventions as c

__all__ = [
    "DEFAULT_RECEIVER",
    "DEFAULT_TOKEN_FILE",
    "DEFAULT_WEBHOOK_URL",
    "ROLLBACK_RECEIVER",
    "AlertmanagerOptions",
    "alertmanager_config",
]

DEFAULT_WEBHOOK_URL = f"http://127.0.0.1:8080{c.HTTP_ALERTMANAGER_PATH}"
DEFAULT_TOKEN_FILE = "/etc/sloengine/token"
DEFAULT_RECEIVER = "default"
ROLLBACK_RECEIVER = "sloengine-rollback"


@dataclass(frozen=True)
class AlertmanagerOptions:
    """Where the engine's receiver listens and where Alertmanager reads its bearer token."""

    webhook_url: str = DEFAULT_WEBHOOK_URL
    token_file: str = DEFAULT_TOKEN_FILE

    def __post_init__(self) -> None:
        if not self.webhook_url.startswith(("http://", "https://")):
            raise ValueError(
                f"webhook URL must start with http:// or https://, got {self.webhook_url!r}"
            )
        if not self.token_file:
            raise ValueError("token file path must not be empty")


def alertmanager_config(options: AlertmanagerOptions) -> dict[str, Any]:
    """The Alertmanager configuration as a YAML-ready mapping."""
    return {
        "route": {
            "receiver": DEFAULT_RECEIVER,
            "group_by": ["alertname", c.LABEL_SERVICE, c.LABEL_SLO_SERVICE, c.LABEL_SLO_NAME],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {
                    "receiver": ROLLBACK_RECEIVER,
                    "matchers": [f'{c.LABEL_ROLLBACK}="{c.ROLLBACK_LABEL_VALUE}"'],
                    "group_by": ["alertname", c.LABEL_SERVICE],
                    # A rollback should start within seconds; the hooks are idempotent per
                    # (service, revision), so a repeat notification does no harm.
                    "group_wait": "5s",
                    "group_interval": "1m",
                    "repeat_interval": "1h",
                },
            ],
        },
        "receivers": [
            {"name": DEFAULT_RECEIVER},
            {
                "name": ROLLBACK_RECEIVER,
                "webhook_configs": [
                    {
                        "url": options.webhook_url,
                        "send_resolved": True,
                        "http_config": {
                            "authorization": {
                                "type": "Bearer",
                                "credentials_file": options.token_file,
                            },
                        },
                    },
                ],
            },
        ],
    }
