import DSR
import Foundation
import Postgres
import TestSupport

/// The `portal` phase: `dsrd portal` (release build, one process) under 50 and 200
/// concurrent clients, for the status page (a request's page through its link) and for
/// submissions (a form with its CSRF cookie, a new email each time, so each is a new
/// request: `dsr.submit` with its acknowledgement notice), then the portal's peak RSS.
struct PortalBenchmark {
    let environment: BenchEnvironment
    let seconds: Int

    func run() async throws -> BenchReport.PortalRun {
        let key = environment.work.appendingPathComponent("portal-link.key")
        var generator = SystemRandomNumberGenerator()
        try Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: key)
        let port = try Self.freePort()
        let connection = try await environment.connect()
        let id = try await connection.query(
            "SELECT dsr.submit('access', '{\"email\": \"portal.bench@example.co.th\"}', $1::jsonb) AS id",
            [BenchEnvironment.verifiedAtSubmission]
        )[0].decode("id", as: UUID.self)
        await connection.close()
        let token = try StatusLinks(key: Data(contentsOf: key), baseURL: "").token(for: id)
        let portal = try DaemonProcess(
            ["portal"] + environment.configArguments + [
                "--set", "portal.link_key_file=\(key.path)", "--set", "portal.listen_port=\(port)",
                "--set", "portal.secure_cookies=false", "--set", "portal.trust_forwarded_for=false",
                "--set", "portal.submissions_per_address=100000", "--set", "portal.submissions_per_identifier=100000",
            ])
        defer { portal.signal(SIGKILL) }
        let load = HTTPLoad(port: port)
        guard
            try await eventually(timeout: .seconds(30), every: .milliseconds(50), { (try? load.send(Self.get("/")).status) == 200 })
        else { throw BenchError("dsrd portal did not answer:\n\(portal.output)") }
        // One CSRF cookie per client, as each browser would have.
        let csrf = try (0..<200).map { _ -> String in
            let head = try load.send(Self.get("/")).head
            guard let match = head.firstMatch(of: /dsr_csrf=([0-9a-f]{64})/) else { throw BenchError("no CSRF cookie") }
            return String(match.output.1)
        }
        var runs: [BenchReport.PortalRun.Load] = []
        for clients in [50, 200] {
            let status = await load.run(clients: clients, duration: .seconds(seconds)) { _, _ in (Self.get("/s/\(token)"), 200) }
            runs.append(.init(page: "status", clients: clients, result: status))
            let submit = await load.run(clients: clients, duration: .seconds(seconds)) { client, index in
                let body = "csrf=\(csrf[client])&kind=access&email=bench.\(clients).\(client).\(index)%40example.co.th"
                return (
                    "POST /requests HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: dsr_csrf=\(csrf[client])\r\n"
                        + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)", 303
                )
            }
            runs.append(.init(page: "submit", clients: clients, result: submit))
        }
        let peak = portal.peakResidentMebibytes
        portal.signal(SIGTERM)
        _ = try await portal.waitForExit(timeout: .seconds(30))
        return BenchReport.PortalRun(runs: runs, peakRSSMebibytes: peak)
    }

    static func get(_ path: String) -> String { "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" }

    /// A port nobody listens on now (the kernel's choice for a bound, then closed, socket).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(fd, pointer, length) == 0 else { return -1 }
                return getsockname(fd, pointer, &length)
            }
        }
        guard bound == 0 else { throw BenchError("no free port: \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
