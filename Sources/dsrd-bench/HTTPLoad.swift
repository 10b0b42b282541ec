import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A load generator for the portal: `clients` threads, each sending requests one after the
/// other over its own keep-alive loopback connection (as a browser does), for `duration`.
/// Blocking sockets on threads of their own, so the client's scheduling does not blur the
/// server's latency. Closed loop: each client sends its next request when the last answered.
struct HTTPLoad {
    struct Result {
        var requests = 0
        var failures = 0
        var seconds = 0.0
        var latencies: [Double] = []

        func percentile(_ fraction: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            let sorted = latencies.sorted()
            return sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)]
        }
    }

    let port: Int

    /// A client's connection, kept open between requests (HTTP/1.1 keep-alive, as browsers do).
    final class Connection {
        let port: Int
        var fd: Int32 = -1
        var pending: [UInt8] = []

        init(port: Int) { self.port = port }

        deinit { if fd >= 0 { close(fd) } }

        func open() throws {
            if fd >= 0 { close(fd) }
            pending = []
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw BenchError("socket: \(errno)") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw BenchError("connect: \(errno)") }
        }

        /// Sends one request and reads its whole response (Content-Length framed).
        func exchange(_ request: String) throws -> (status: Int, head: String, body: String) {
            if fd < 0 { try open() }
            let bytes = Array(request.utf8)
            var sent = 0
            while sent < bytes.count {
                let written = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard written > 0 else { throw BenchError("send: \(errno)") }
                sent += written
            }
            var buffer = [UInt8](repeating: 0, count: 16_384)
            func fill() throws {
                let count = recv(fd, &buffer, buffer.count, 0)
                guard count > 0 else { throw BenchError("connection closed") }
                pending.append(contentsOf: buffer[0..<count])
            }
            let separator: [UInt8] = [13, 10, 13, 10]
            var headEnd: Int?
            while headEnd == nil {
                if pending.count >= 4 {
                    headEnd = (0...(pending.count - 4)).first { pending[$0..<($0 + 4)].elementsEqual(separator) }
                }
                if headEnd == nil { try fill() }
            }
            let head = String(decoding: pending[0..<headEnd!], as: UTF8.self)
            let length =
                head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            let total = headEnd! + 4 + length
            while pending.count < total { try fill() }
            let body = String(decoding: pending[(headEnd! + 4)..<total], as: UTF8.self)
            pending.removeFirst(total)
            let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
            if head.lowercased().contains("connection: close") {
                close(fd)
                fd = -1
            }
            return (status, head, body)
        }
    }

    /// One request on a connection of its own.
    func send(_ request: String) throws -> (status: Int, head: String, body: String) {
        try Connection(port: port).exchange(request)
    }

    /// Runs `clients` threads for `duration`; `next(client, n)` gives each request to send and
    /// the status that counts as success.
    func run(clients: Int, duration: Duration, _ next: @escaping @Sendable (Int, Int) -> (request: String, expect: Int))
        async -> Result
    {
        let merged = Mutex(Result())
        let start = ContinuousClock.now
        let deadline = start + duration
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let remaining = Mutex(clients)
            for client in 0..<clients {
                let thread = Thread {
                    var local = Result()
                    var index = 0
                    let connection = Connection(port: port)
                    while ContinuousClock.now < deadline {
                        let (request, expect) = next(client, index)
                        let began = ContinuousClock.now
                        var status = (try? connection.exchange(request).status) ?? 0
                        if status == 0 {  // the server closed an idle connection: once more on a new one
                            try? connection.open()
                            status = (try? connection.exchange(request).status) ?? 0
                        }
                        let elapsed = ContinuousClock.now - began
                        local.requests += 1
                        if status != expect { local.failures += 1 }
                        local.latencies.append(Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds))
                        index += 1
                    }
                    merged.withLock {
                        $0.requests += local.requests
                        $0.failures += local.failures
                        $0.latencies += local.latencies
                    }
                    if remaining.withLock({
                        $0 -= 1
                        return $0
                    }) == 0 {
                        done.resume()
                    }
                }
                thread.stackSize = 1 << 20
                thread.start()
            }
        }
        var result = merged.withLock { $0 }
        let elapsed = ContinuousClock.now - start
        result.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return result
    }
}
