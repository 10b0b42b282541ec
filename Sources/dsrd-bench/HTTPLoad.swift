import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A load generator for the portal: `clients` threads, each sending requests one after the
/// other over a fresh loopback connection (`Connection: close`, as a phone on mobile data
/// mostly does), for `duration`. Blocking sockets on threads of their own, so the client's
/// scheduling does not blur the server's latency.
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

    /// One request; returns the status code, the raw header block and the body.
    func send(_ request: String) throws -> (status: Int, head: String, body: String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw BenchError("connect: \(errno)") }
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let written = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
            guard written > 0 else { throw BenchError("send: \(errno)") }
            sent += written
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            response.append(contentsOf: buffer[0..<count])
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw BenchError("no response") }
        let head = String(text[..<split.lowerBound])
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        return (status, head, String(text[split.upperBound...]))
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
                    while ContinuousClock.now < deadline {
                        let (request, expect) = next(client, index)
                        let began = ContinuousClock.now
                        let status = (try? send(request).status) ?? 0
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
