"""A real Alertmanager runs the generated config: a `rollback="true"` alert reaches the
engine's receiver with the bearer token from the file; other alerts do not."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sloengine import conventions as c
from sloengine.generate import AlertmanagerOptions, GenerateOptions, render_alert_files
from sloengine.model import Catalog
from tests.support.prometheus import AlertmanagerServer


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[tuple[str, dict[str, Any]]]]]:
    received: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.put((self.headers.get("Authorization", ""), json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{c.HTTP_ALERTMANAGER_PATH}", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.integration
def test_rollback_alerts_reach_the_engine_receiver_with_the_bearer_token(
    tmp_path: Path, receiver: tuple[str, queue.Queue[tuple[str, dict[str, Any]]]]
) -> None:
    url, received = receiver
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    options = GenerateOptions(
        alertmanager=AlertmanagerOptions(webhook_url=url, token_file=str(token))
    )
    config = tmp_path / "alertmanager.yml"
    config.write_text(render_alert_files(Catalog(slos=()), options)["alertmanager.yml"])
    with AlertmanagerServer(tmp_path / "am", config) as am:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        am.post_alerts(
            [
                {"labels": {"alertname": c.SLO_BURN_ALERT, "severity": "page"}, "startsAt": now},
                {
                    "labels": {
                        "alertname": c.CANARY_ERROR_RATE_ALERT,
                        "service": "gateway",
                        c.LABEL_ROLLBACK: c.ROLLBACK_LABEL_VALUE,
                    },
                    "startsAt": now,
                },
            ]
        )
        authorization, payload = received.get(timeout=30)  # group_wait is 5s
    assert authorization == "Bearer s3cret"
    assert [a["labels"]["alertname"] for a in payload["alerts"]] == [c.CANARY_ERROR_RATE_ALERT]
    assert payload["receiver"] == "sloengine-rollback"
    assert received.empty()
