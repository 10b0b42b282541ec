import DSRTestSupport
import Foundation
import TestSupport
import Testing

/// `dsrd-bench --quick`: every phase runs on a cluster of its own and the report is complete
/// and self-consistent. Its figures are not checked (timing belongs in the benchmark).
@Suite("Benchmark command")
struct BenchmarkTests {
    @Test func quickRunReportsEveryPhaseAndCleansUp() async throws {
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("dsrd-bench-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: report) }
        let bench = try DaemonProcess(["--quick", "--json", report.path], executable: "dsrd-bench")
        let status = try await bench.waitForExit(timeout: .seconds(600))
        #expect(status == 0, "\(bench.output.suffix(3000))")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as? [String: Any])

        #expect(((json["ceiling"] as? [String: Any])?["pgbench_tps"] as? Double ?? 0) > 0)
        let queue = json["queue"] as? [[String: Any]] ?? []
        #expect(queue.map { "\($0["processes"] ?? "")x\($0["workers"] ?? "")" } == ["1x1", "1x8", "2x1", "2x8"])
        #expect(queue.allSatisfy { $0["jobs"] as? Int == 2_000 && ($0["jobs_per_second"] as? Double ?? 0) > 0 })
        let access = try #require((json["fan_out"] as? [[String: Any]])?.first)
        #expect(access["requests"] as? Int == 10 && access["completed"] as? Int == 10)
        let export = try #require(json["export"] as? [String: Any])
        #expect(export["rows"] as? Int == 2_501)  // the customer row, then 500 orders x 5 tables
        #expect(export["copy_rows"] as? Int == 2_500)
        let erasure = json["erasure"] as? [[String: Any]] ?? []
        #expect(erasure.map { $0["completed"] as? Int } == [5, 1])
        #expect(((erasure.last?["rows"] as? Int) ?? 0) >= 2_500)
        let notices = try #require(json["notices"] as? [String: Any])
        #expect(notices["notices"] as? Int == 20 && notices["received"] as? Int == 20)
        let latency = try #require(json["latency"] as? [String: Any])
        #expect(latency["people"] as? Int == 1 && latency["rows"] as? Int == 501)  // 100 orders x 5 tables, the customer row
        #expect((latency["access_median_seconds"] as? Double ?? 0) > 0 && (latency["erasure_median_seconds"] as? Double ?? 0) > 0)
        let portal = try #require(json["portal"] as? [String: Any])
        let loads = portal["runs"] as? [[String: Any]] ?? []
        #expect(loads.map { "\($0["page"] ?? "")@\($0["clients"] ?? "")" } == ["status@50", "submit@50", "status@200", "submit@200"])
        #expect(loads.allSatisfy { ($0["requests"] as? Int ?? 0) > 0 && $0["failures"] as? Int == 0 }, "\(loads)")
        #expect((portal["peak_rss_mebibytes"] as? Double ?? 0) > 0)
        let targets = json["targets"] as? [[String: Any]] ?? []
        #expect(targets.count == 7)
        #expect(bench.output.contains("MET") || bench.output.contains("MISSED"))

        // The cluster and the sink were stopped and the work folder removed.
        let work = bench.output.split(whereSeparator: { $0 == " " || $0 == "\n" }).first { $0.contains("/dsrd-bench.") }
        let folder = String(try #require(work))
        #expect(!FileManager.default.fileExists(atPath: folder))
    }
}
