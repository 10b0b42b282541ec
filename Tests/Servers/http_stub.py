#!/usr/bin/env python3
"""HTTP stub for dsrd's tests, loopback only: plays an SMS gateway or a store API.

Answers each request with the next status from --statuses (the last one repeats) and the
body from --body, and appends every request as a JSON line (method, path, headers, body) to
--log. Writes its port to --port-file once ready; --port reuses a port (a restart).
"""
import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler

from loopback import serve_http


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--statuses", default="200")
    parser.add_argument("--body", default='{"status": "ok"}')
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()
    statuses = [int(s) for s in args.statuses.split(",")]
    lock = threading.Lock()
    served = [0]

    class Handler(BaseHTTPRequestHandler):
        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            with lock:
                status = statuses[min(served[0], len(statuses) - 1)]
                served[0] += 1
                with open(args.log, "a", encoding="utf-8") as log:
                    log.write(json.dumps({"method": self.command, "path": self.path,
                                          "headers": dict(self.headers), "body": body}) + "\n")
            payload = args.body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any

        def log_message(self, *_):
            pass

    serve_http(Handler, args.port, args.port_file)

if __name__ == "__main__":
    main()
