"""Event-to-webhook latency: p50/p99 from the change that makes an event to its webhook call.

Usage: python hack/bench/bench_events.py [--backend sqlite|postgres] [--rate 100]
       [--seconds 20] [--runs 4] [--source filestream|outbox]

A server process with a metric-threshold automation (`loss < 0.1` -> webhook) takes file_stream
posts from `--runs` runs in parallel, paced to `--rate` posts per second in all; each post holds
two history lines (loss 1.0, then a value below 0.1), so each post makes one event. A local
receiver notes when each webhook arrives. Latency is measured from the post's answer (its
transaction, event included, has committed) to the webhook's arrival, and from the moment the
post was sent.

`--source outbox` leaves ingest out: this process writes the events (and their deliveries)
into the server's database itself, as another replica would, at `--rate`; the server, polling
every 20 ms for other replicas' events, delivers them. Latency is from each event's commit.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from common import ServerProcess, database, percentile, server
from rich.console import Console
from rich.table import Table

SCALE = 1e9  # a post's number rides in its metric value: n / SCALE (always below 0.1)


class Arrivals:
    """A webhook receiver noting the arrival time of each post number."""

    def __init__(self) -> None:
        self.at: dict[int, float] = {}
        self.lock = threading.Lock()
        arrivals = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                now = time.time()
                with arrivals.lock:
                    arrivals.at.setdefault(round(float(body["v"]) * SCALE), now)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def _gql(api: httpx.Client, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    answer = api.post("/graphql", json={"query": query, "variables": variables}).json()
    assert "errors" not in answer, answer
    data: dict[str, Any] = answer["data"]
    return data


def _setup(api: httpx.Client, url: str, runs: int) -> None:
    _gql(
        api,
        'mutation { upsertModel(input: {name: "bench", entityName: "admin"}) { model { id } } }',
        {},
    )
    project = _gql(api, '{ project(name: "bench", entityName: "admin") { id } }', {})["project"]
    hook = _gql(
        api,
        "mutation($u: String!) { createGenericWebhookIntegration(input: {entityName: "
        '"admin", name: "bench", urlEndpoint: $u}) { integration { id } } }',
        {"u": url},
    )["createGenericWebhookIntegration"]["integration"]["id"]
    event_filter = {
        "run_filter": '{"$and": []}',
        "run_metric_filter": {
            "threshold_filter": {"name": "loss", "cmp_op": "$lt", "threshold": 0.1}
        },
    }
    _gql(
        api,
        "mutation($i: CreateFilterTriggerInput!) { createFilterTrigger(input: $i) "
        "{ trigger { id } } }",
        {
            "i": {
                "name": "bench",
                "enabled": True,
                "scopeType": "PROJECT",
                "scopeID": project["id"],
                "triggeringEventType": "RUN_METRIC",
                "eventFilter": json.dumps(event_filter),
                "triggeredActionType": "GENERIC_WEBHOOK",
                "triggeredActionConfig": {
                    "genericWebhookActionInput": {
                        "integrationID": hook,
                        "requestPayload": json.dumps({"v": "${metric_value}"}),
                    }
                },
            }
        },
    )
    for r in range(runs):
        _gql(
            api,
            'mutation($n: String) { upsertBucket(input: {name: $n, modelName: "bench", '
            'entityName: "admin"}) { bucket { id } } }',
            {"n": f"r{r}"},
        )


def _writer(
    base: str, key: str, run: int, runs: int, count: int, period: float, start: float, sent: dict
) -> None:
    with httpx.Client(base_url=base, auth=("api", key), timeout=60) as api:
        for i in range(count):
            n = i * runs + run + 1
            due = start + i * period
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            lines = [json.dumps({"loss": 1.0}), json.dumps({"loss": n / SCALE})]
            body = {"files": {"wandb-history.jsonl": {"offset": 2 * i, "content": lines}}}
            t0 = time.time()
            answer = api.post(f"/files/admin/bench/r{run}/file_stream", json=body)
            answer.raise_for_status()
            sent[n] = (t0, time.time())


def _outbox_source(args: argparse.Namespace, arrivals: Arrivals) -> tuple[dict, float]:
    """Write events straight into the server's database at the rate; their commit times."""
    import tempfile

    from runyard.server.db.engine import make_engine, make_session_factory, writer_engine
    from runyard.server.events.outbox import Target, write_event

    sent: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="runyard-bench-") as tmp, database(args.backend) as url:
        proc = ServerProcess(Path(tmp), url, {"RUNYARD_EVENTS_POLL_INTERVAL_S": "0.02"})
        try:
            engine = writer_engine(make_engine(proc.database_url))
            sessions = make_session_factory(engine)
            count = int(args.rate * args.seconds)
            start = time.time() + 0.5
            for n in range(1, count + 1):
                delay = start + (n - 1) / args.rate - time.time()
                if delay > 0:
                    time.sleep(delay)
                t0 = time.time()
                with sessions.begin() as session:
                    write_event(
                        session,
                        "RUN_METRIC",
                        entity_id=None,
                        project_id=None,
                        variables={"metric_value": n / SCALE},
                        targets=[Target("webhook", arrivals.url, {"v": str(n / SCALE)})],
                    )
                sent[n] = (t0, time.time())
            took = time.time() - start
            deadline = time.time() + 60
            while len(arrivals.at) < len(sent) and time.time() < deadline:
                time.sleep(0.1)
            engine.dispose()
        finally:
            proc.stop()
    return sent, took


def _filestream_source(args: argparse.Namespace, arrivals: Arrivals) -> tuple[dict, float]:
    """Post history through file_stream at the rate; each post's send and answer times."""
    from common import ADMIN_KEY

    per_run = int(args.rate * args.seconds / args.runs)
    period = args.runs / args.rate
    sent: dict[int, tuple[float, float]] = {}
    with server(args.backend) as proc:
        with proc.api() as api:
            _setup(api, arrivals.url, args.runs)
        start = time.time() + 0.5
        writers = [
            threading.Thread(
                target=_writer,
                args=(proc.url, ADMIN_KEY, r, args.runs, per_run, period, start, sent),
            )
            for r in range(args.runs)
        ]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        took = time.time() - start
        deadline = time.time() + 60
        while len(arrivals.at) < len(sent) and time.time() < deadline:
            time.sleep(0.1)
    return sent, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rate", type=float, default=100.0, help="events (posts) per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=4, help="runs posting in parallel")
    parser.add_argument("--source", choices=["filestream", "outbox"], default="filestream")
    args = parser.parse_args()

    arrivals = Arrivals()
    if args.source == "outbox":
        sent, took = _outbox_source(args, arrivals)
    else:
        sent, took = _filestream_source(args, arrivals)
    after_commit = [
        (arrivals.at[n] - ack) * 1000 for n, (_, ack) in sent.items() if n in arrivals.at
    ]
    after_send = [(arrivals.at[n] - t0) * 1000 for n, (t0, _) in sent.items() if n in arrivals.at]
    table = Table(
        title=f"Event -> webhook latency ({args.backend}, {args.source}, "
        f"{args.rate:g} events/s asked)"
    )
    for column in ("events", "delivered", "rate achieved", "from", "p50 ms", "p99 ms", "max ms"):
        table.add_column(column)
    rows = [("commit", after_commit)]
    if args.source == "filestream":
        rows = [("commit (post answered)", after_commit), ("post sent", after_send)]
    for label, values in rows:
        table.add_row(
            str(len(sent)),
            str(len(values)),
            f"{len(sent) / took:.1f}/s",
            label,
            f"{percentile(values, 50):.1f}",
            f"{percentile(values, 99):.1f}",
            f"{max(values):.1f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
