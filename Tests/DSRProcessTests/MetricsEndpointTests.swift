import Curl
import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// `dsrd run`'s Prometheus endpoint, scraped as Prometheus would after real work: an access
/// request across the three demo stores with its notices, plus probe jobs that complete and
/// one that fails for good.
@Suite("Metrics endpoint")
struct MetricsEndpointTests {
    @Test func aScrapeShowsTheQueueTheJobsTheStoresAndTheNotices() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let sink = try await ScriptedServer.smtpSink()
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                try await connection.execute("INSERT INTO dsr.jobs (kind, payload) SELECT 'probe', '{}' FROM generate_series(1, 3)")
                try await connection.execute(
                    "INSERT INTO dsr.jobs (kind, payload) VALUES ('probe', '{\"fail\": \"no\", \"permanent\": true}')")
                let id = try await connection.query("SELECT dsr.submit('access', '{\"customer_id\": \"T-1\"}') AS id")[0].decode(
                    "id", as: UUID.self)
                let daemon = try DaemonProcess(
                    database.noticeArguments(
                        smtpPort: sink.port,
                        extra: [
                            "--set", "exports.directory=\(exports.path)", "--set", "metrics.enabled=true", "--set", "metrics.listen_port=0",
                        ]), environment: stores.environment)
                #expect(
                    try await eventually {
                        try await connection.count(
                            "SELECT count(*) FROM dsr.outbox o JOIN dsr.requests r ON r.id = o.request_id WHERE r.id = $1 AND r.status = 'completed' AND o.template = 'completed' AND o.state = 'sent'",
                            [id]) == 1
                    }, "\(daemon.output)")
                let port = try #require(
                    daemon.output.firstMatch(of: /dsr\.port=(\d+) \S+ metrics endpoint listening/).flatMap { Int($0.output.1) },
                    "\(daemon.output)")

                let response = try await HTTPClient().send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)/metrics"))
                #expect(response.status == 200)
                #expect(response.header("Content-Type").first?.contains("charset=utf-8") == true)
                let samples = Self.samples(response.text)
                #expect(samples[#"dsrd_database_up"#] == 1)
                #expect(samples[#"dsrd_job_attempts_total{kind="probe",outcome="completed"}"#] == 3)
                #expect(samples[#"dsrd_job_attempts_total{kind="probe",outcome="dead"}"#] == 1)
                #expect(samples[#"dsrd_job_duration_seconds_count{kind="probe",outcome="completed"}"#] == 3)
                #expect(samples[#"dsrd_jobs{kind="probe",state="dead"}"#] == 1)
                #expect(samples[#"dsrd_jobs{kind="request",state="ready"}"#] == 0)
                #expect(samples[#"dsrd_requests{status="completed"}"#] == 1)
                #expect(samples[#"dsrd_oldest_open_request_age_seconds"#] == 0)
                for store in ["customer", "order", "marketing"] {
                    #expect(
                        samples[#"dsrd_store_task_duration_seconds_count{store="\#(store)",operation="export",outcome="done"}"#] == 1,
                        "\(store)")
                }
                #expect((samples[#"dsrd_notices_total{channel="email",result="sent"}"#] ?? 0) >= 2)  // acknowledged, completed
                #expect(response.text.contains("# HELP dsrd_jobs "))
                #expect(!response.text.contains("somchai") && !response.text.contains("T-1"))

                // The README documents every family scraped, and the shipped dashboard uses no other.
                let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                    .deletingLastPathComponent()
                let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
                let dashboard = try String(contentsOf: root.appendingPathComponent("Deploy/grafana/dsrd.json"), encoding: .utf8)
                let family = /(dsrd_[a-z_]+?)(_bucket|_count|_sum)?\b/
                let scraped = Set(samples.keys.compactMap { $0.firstMatch(of: family).map { String($0.output.1) } })
                let charted = Set(dashboard.matches(of: family).map { String($0.output.1) })
                #expect(scraped.count >= 8)  // every family but the timeouts, which nothing here triggers
                for name in scraped.union(charted) { #expect(readme.contains("`\(name)`"), "\(name) is not in the README") }

                daemon.signal(SIGTERM)
                #expect(try await daemon.waitForExit(timeout: .seconds(30)) == 0)
            }
        }
    }

    /// Series (name with labels) to value, from the text exposition format.
    static func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }
}
