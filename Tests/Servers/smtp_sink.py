#!/usr/bin/env python3
"""SMTP sink for dsrd's tests and demo (Debian's python3-aiosmtpd), loopback only.

Stores each accepted message as DIR/<random>.eml and writes the port it listens on to
--port-file once ready; --port reuses a port (a restart). Recipients whose local part
starts with "reject" get 550 (permanent), "tempfail" get 451 (temporary). No STARTTLS is offered, so a client that requires TLS must
refuse to send.
"""
import argparse
import os
import socket
import threading
import uuid

from aiosmtpd.controller import Controller

from loopback import announce_port, exit_on_signal


class Sink:
    def __init__(self, directory):
        self.directory = directory

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local.startswith("reject"):
            return "550 5.1.1 mailbox unavailable"
        if local.startswith("tempfail"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = os.path.join(self.directory, uuid.uuid4().hex)
        with open(name + ".tmp", "wb") as output:
            output.write(envelope.original_content or envelope.content)
        os.rename(name + ".tmp", name + ".eml")
        return "250 2.0.0 accepted"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    port = args.port
    if port == 0:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
    controller = Controller(Sink(args.dir), hostname="127.0.0.1", port=port)
    controller.start()
    announce_port(args.port_file, port)
    # Exit at once on SIGTERM/SIGINT: every message is already on disk (written, then renamed),
    # and aiosmtpd's controller.stop() can hang while a client is connected.
    exit_on_signal()
    threading.Event().wait()


if __name__ == "__main__":
    main()
