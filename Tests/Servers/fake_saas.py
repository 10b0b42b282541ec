#!/usr/bin/env python3
"""A fake SaaS marketing tool that implements dsrd's HTTP store contract for real, and a
processor that receives dsrd's webhooks. Loopback only; the reference implementation of
Config/connectors/README.md ("HTTP stores" and "Processor webhooks").

Store (rows kept in --dir/state.json, so a restart keeps them):
  POST /dsr/export  {"identity": {...}}                      -> 200 {"tables": {"contacts": [...], "events": [...]}}
  POST /dsr/erase   {"request_id", "operation", "identity"}  -> 200 {"status": "done", "tables": {...counts}}
                                                                 or 202 {"status": "pending", "status_url"} (--async-polls N)
  POST /dsr/update  {"request_id", "operation", "identity", "changes" | "lift" | "purposes"} -> 200 done
  GET  /dsr/jobs/ID                                          -> {"status": "pending"} N-1 times, then done
Erase and update need an Idempotency-Key: a repeat returns the first answer and changes nothing.
Every call must carry a valid DSR-Signature when --secret-file is given (401 otherwise).
Each erasure or update carried out is appended to --dir/effects.jsonl (the test's record of
"seen twice or not"), each HTTP call to --dir/calls.jsonl.

Processor: POST /hooks/NAME stores the event once per DSR-Event-Id (--dir/events.jsonl) and
answers 200 {"reference": ...}; a repeat is answered the same without being stored again.
"""
import argparse
import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler

from loopback import serve_http


def verify_signature(secret, header, method, path, body, now=None, tolerance=300):
    """dsrd's DSR-Signature check, as a receiver would write it (see Config/connectors/README.md)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        signature = fields["v1"]
    except (KeyError, ValueError, AttributeError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    message = f"{timestamp}\n{method}\n{path}\n".encode() + body
    expected = hmac.new(secret, message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret-file")
    parser.add_argument("--seed", help="JSON file of initial rows, used when --dir has no state yet")
    parser.add_argument("--async-polls", type=int, default=0,
                        help="erasures answer 202 and finish on the Nth poll of their status URL (0: at once)")
    args = parser.parse_args()
    secret = open(args.secret_file, "rb").read().strip() if args.secret_file else None
    state_file = os.path.join(args.dir, "state.json")
    lock = threading.Lock()
    if os.path.exists(state_file):
        state = json.load(open(state_file, encoding="utf-8"))
    else:
        seed = json.load(open(args.seed, encoding="utf-8")) if args.seed else {"contacts": [], "events": []}
        state = {"tables": seed, "keys": {}, "jobs": {}, "events": {}}

    def save():
        with open(state_file + ".tmp", "w", encoding="utf-8") as out:
            json.dump(state, out, ensure_ascii=False)
        os.replace(state_file + ".tmp", state_file)

    def append(name, record):
        with open(os.path.join(args.dir, name), "a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")

    def matches(row, identity):
        emails = {e.lower() for e in identity.get("emails", [])}
        phones = set(identity.get("phones", []))
        return (row.get("email") or "").lower() in emails or (row.get("phone") or "") in phones

    def person(identity):
        contacts = [c for c in state["tables"]["contacts"] if matches(c, identity)]
        ids = {c["id"] for c in contacts}
        events = [e for e in state["tables"]["events"] if e.get("contact_id") in ids or matches(e, identity)]
        return contacts, events

    def erase(identity, key):
        contacts, events = person(identity)
        state["tables"]["contacts"] = [c for c in state["tables"]["contacts"] if c not in contacts]
        state["tables"]["events"] = [e for e in state["tables"]["events"] if e not in events]
        append("effects.jsonl", {"key": key, "operation": "erase", "contacts": len(contacts), "events": len(events)})
        return {"status": "done", "tables": {"contacts": {"deleted": len(contacts)}, "events": {"deleted": len(events)}}}

    def update(request, key):
        contacts, _ = person(request["identity"])
        operation = request["operation"]
        for contact in contacts:
            if operation == "rectify":
                for field, value in request.get("changes", {}).items():
                    if field in ("email", "phone", "name"):
                        contact[field] = value
            elif operation == "restrict":
                contact["restricted"] = not request.get("lift", False)
            elif operation == "object":
                contact["subscribed"] = False
        append("effects.jsonl", {"key": key, "operation": operation, "contacts": len(contacts)})
        return {"status": "done", "tables": {"contacts": {"updated": len(contacts)}}}

    class Handler(BaseHTTPRequestHandler):
        def answer(self, status, payload):
            data = json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            append("calls.jsonl", {"method": self.command, "path": self.path,
                                   "idempotency_key": self.headers.get("Idempotency-Key"),
                                   "event_id": self.headers.get("DSR-Event-Id")})
            if secret is not None and not verify_signature(
                    secret, self.headers.get("DSR-Signature", ""), self.command, self.path, body):
                return self.answer(401, {"error": "bad or missing DSR-Signature"})
            request = json.loads(body) if body else {}
            with lock:
                status, payload = self.route(request)
                save()
            self.answer(status, payload)

        def route(self, request):
            if self.command == "POST" and self.path == "/dsr/export":
                contacts, events = person(request.get("identity", {}))
                return 200, {"tables": {"contacts": contacts, "events": events}}
            if self.command == "POST" and self.path in ("/dsr/erase", "/dsr/update"):
                key = self.headers.get("Idempotency-Key")
                if not key:
                    return 400, {"error": "Idempotency-Key is required"}
                if key in state["keys"]:
                    return state["keys"][key]["status"], state["keys"][key]["payload"]
                if self.path == "/dsr/update":
                    first = (200, update(request, key))
                elif args.async_polls > 0:
                    job = uuid.uuid4().hex
                    state["jobs"][job] = {"identity": request["identity"], "key": key, "polls": 0, "result": None}
                    first = (202, {"status": "pending", "status_url": f"/dsr/jobs/{job}"})
                else:
                    first = (200, erase(request["identity"], key))
                state["keys"][key] = {"status": first[0], "payload": first[1]}
                return first
            if self.command == "GET" and self.path.startswith("/dsr/jobs/"):
                job = state["jobs"].get(self.path.rsplit("/", 1)[1])
                if job is None:
                    return 404, {"error": "no such job"}
                if job["result"] is None:
                    job["polls"] += 1
                    if job["polls"] < args.async_polls:
                        return 200, {"status": "pending"}
                    job["result"] = erase(job["identity"], job["key"])
                return 200, job["result"]
            if self.command == "POST" and self.path.startswith("/hooks/"):
                event_id = self.headers.get("DSR-Event-Id") or request.get("event_id")
                if event_id not in state["events"]:
                    state["events"][event_id] = "ack-" + uuid.uuid4().hex[:12]
                    append("events.jsonl", {"hook": self.path[len("/hooks/"):], "event_id": event_id,
                                            "type": request.get("type"), "request_id": request.get("request_id")})
                return 200, {"reference": state["events"][event_id]}
            return 404, {"error": "unknown path"}

        do_GET = do_POST = handle_any

        def log_message(self, *_):
            pass

    serve_http(Handler, args.port, args.port_file)

if __name__ == "__main__":
    main()
