"""What dsrd's loopback test servers share: announcing the bound port and stopping on a signal."""
import os
import signal
import threading


def announce_port(port_file, port):
    """Writes the port to port_file atomically (written, then renamed): a reader never sees half."""
    with open(port_file + ".tmp", "w") as out:
        out.write(str(port))
    os.rename(port_file + ".tmp", port_file)


def exit_on_signal(on_signal=lambda: os._exit(0)):
    """Runs on_signal on SIGTERM or SIGINT (by default: exit at once). A parent may have started
    us with these signals blocked or ignored, and both are inherited: they are restored here."""
    signal.signal(signal.SIGTERM, lambda *_: on_signal())
    signal.signal(signal.SIGINT, lambda *_: on_signal())
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})


def serve_http(handler, port, port_file):
    """Serves handler on 127.0.0.1:port (0: any free port) until SIGTERM or SIGINT, which let
    the request in progress finish."""
    from http.server import ThreadingHTTPServer
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    announce_port(port_file, server.server_address[1])
    exit_on_signal(lambda: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
