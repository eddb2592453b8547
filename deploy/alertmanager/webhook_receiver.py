"""The webhook receiver of docker-compose: it logs every notification Alertmanager sends, one JSON line
per alert, so `docker compose logs -f alert-receiver` shows what would page whom.

alertmanager.yml sends its webhooks to 127.0.0.1:9095 (`make run` and the tests rewrite that address;
the tests run this file too). In compose this runs in the Alertmanager container's network namespace
(`network_mode: service:alertmanager`), where 127.0.0.1:9095 is this server: the config is used
unchanged. Standard library only (it runs on the python:3.11-slim image).

    python webhook_receiver.py [--listen HOST:PORT]     (default 127.0.0.1:9095)
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def lines(receiver: str, notification: dict) -> list[str]:
    """One JSON line per alert of an Alertmanager webhook notification (payload version 4)."""
    return [json.dumps({"receiver": receiver, "status": alert.get("status"),
                        "alertname": alert.get("labels", {}).get("alertname"),
                        "labels": alert.get("labels", {}),
                        "summary": alert.get("annotations", {}).get("summary"),
                        "startsAt": alert.get("startsAt"), "endsAt": alert.get("endsAt")}, sort_keys=True)
            for alert in notification.get("alerts", [])]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            notification = json.loads(body)
        except ValueError:
            self.send_response(400)
            self.end_headers()
            return
        receiver = self.path.rstrip("/").rpartition("/")[2] or notification.get("receiver", "")
        for line in lines(receiver, notification):
            print(line, flush=True)
        self.send_response(200)
        self.end_headers()

    def do_GET(self):  # noqa: N802
        self.send_response(200)  # a liveness check
        self.end_headers()

    def log_message(self, format, *args):  # noqa: A002 (the alert lines are the log)
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:9095", help="HOST:PORT (default %(default)s)")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), Handler)
    # As a container's first process it has no default SIGTERM action: `docker compose stop` would wait.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    print(f"listening on {host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
