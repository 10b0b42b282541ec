#!/usr/bin/env python3
"""A TCP proxy on loopback that misbehaves on request, for dsrd's chaos soak.

Forwards every connection to --target HOST:PORT and writes the port it listens on to
--port-file. Its behaviour is read from --control (a file) every 50 ms:
  pass       forward both ways (also when the file is missing or empty)
  stall      keep connections open and accept new ones, forward nothing (a hung server, a
             half-open connection; an SMTP server that accepts and never answers)
  cut N      close every open connection at once (each new N closes them again), then pass
"""
import argparse
import asyncio

from loopback import announce_port, exit_on_signal


class Proxy:
    def __init__(self, target_host, target_port, control):
        self.target = (target_host, target_port)
        self.control = control
        self.mode = "pass"
        self.cuts_seen = None
        self.writers = set()

    async def watch(self):
        while True:
            try:
                with open(self.control) as handle:
                    words = handle.read().split()
            except OSError:
                words = []
            mode = words[0] if words else "pass"
            if mode == "cut":
                generation = words[1] if len(words) > 1 else "1"
                if generation != self.cuts_seen:
                    self.cuts_seen = generation
                    for writer in list(self.writers):
                        writer.transport.abort()
                mode = "pass"
            self.mode = mode
            await asyncio.sleep(0.05)

    async def pump(self, reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                while self.mode == "stall":
                    await asyncio.sleep(0.05)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()

    async def handle(self, client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self.writers.update((client_writer, server_writer))
        try:
            await asyncio.gather(self.pump(client_reader, server_writer), self.pump(server_reader, client_writer))
        finally:
            self.writers.discard(client_writer)
            self.writers.discard(server_writer)


async def main():
    exit_on_signal()  # the soak stops us with SIGTERM
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--control", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--port", type=int, default=0)
    arguments = parser.parse_args()
    host, port = arguments.target.rsplit(":", 1)
    proxy = Proxy(host, int(port), arguments.control)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", arguments.port)
    bound = server.sockets[0].getsockname()[1]
    announce_port(arguments.port_file, bound)
    asyncio.get_running_loop().create_task(proxy.watch())
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
