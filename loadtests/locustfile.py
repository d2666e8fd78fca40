"""Load test of the gateway's key paths: GET /search, POST /ingest, GET /docs/{id}.

Run (headless, bounded; the same in every topology):
    locust -f loadtests/locustfile.py --headless -H http://127.0.0.1:8000 \
        -u 20 -r 10 -t 60s --html artifacts/load.html --loadtest-json artifacts/load.json
    locust ... --processes 2                          # one master, two forked workers
    locust ... --master --expect-workers 2            # plus, elsewhere, twice:
    locust -f loadtests/locustfile.py --worker --master-host 127.0.0.1

The --loadtest-* options (`locust --help`, locust.conf, the web UI's form; LOADTEST_*
environment variables as fallbacks) set the thresholds, intervals, warm-up and profile; see
docs/loadtests.md. Only the master judges: it prints `loadtest: ...` lines naming every
breached endpoint and exits non-zero on a breach (2 on invalid options).
"""

from __future__ import annotations

from locust import HttpUser, between, task

from loadtests import data
from loadtests.plugin import STATE, WARMUP_NAME


class GatewayUser(HttpUser):
    """A user of the gateway: mostly searches and reads, some ingests."""

    wait_time = between(0.05, 0.2)
    _instances = 0

    def on_start(self) -> None:
        GatewayUser._instances += 1
        self.rng = data.rng(GatewayUser._instances)
        # Warm-up: touch every path once so connection set-up is not judged.
        for path in ("/search?q=warmup", "/docs/1"):
            self.client.get(path, name=WARMUP_NAME)

    def _request(self, method: str, path: str, name: str, **kwargs: object) -> None:
        """Send to the variant the profile picks.

        Requests are named by endpoint only, whichever variant serves them: thresholds are
        about what users see, and once a rollback takes the canary out of traffic the
        endpoint's recent trend must be able to recover. The variant and rollout phase ride
        in the request context, for the per-step summary.
        """
        decision = STATE.traffic.decide(self.rng.random())
        url = path
        if decision.variant == "canary":
            url = STATE.settings.canary_host + path
        context = {"variant": decision.variant, "phase": decision.phase}
        self.client.request(method, url, name=name, context=context, **kwargs)  # type: ignore[arg-type]

    @task(5)
    def search(self) -> None:
        self._request("GET", f"/search?q={self.rng.choice(data.SEARCH_TERMS)}", "GET /search")

    @task(3)
    def read_doc(self) -> None:
        doc_id = self.rng.choice(data.DOC_ID_RANGE)
        self._request("GET", f"/docs/{doc_id}", "GET /docs/{id}")

    @task(1)
    def ingest(self) -> None:
        self._request("POST", "/ingest", "POST /ingest", json=data.ingest_payload(self.rng))
