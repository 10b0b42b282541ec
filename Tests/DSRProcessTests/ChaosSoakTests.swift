import DSRTestSupport
import Foundation
import TestSupport
import Testing

/// The chaos soak (`dsrd-bench --soak-minutes`, `Deploy/soak`) in short: 30 seconds of mixed
/// requests on three daemons while faults are injected, then its invariants. The seed is
/// random and printed; `DSRD_SOAK_SEED` replays one, `DSRD_SOAK_MINUTES` lengthens the run.
@Suite("Chaos soak")
struct ChaosSoakTests {
    @Test func aShortSoakCompletesEveryRequestAndDoublesNothing() async throws {
        let environment = ProcessInfo.processInfo.environment
        let minutes = environment["DSRD_SOAK_MINUTES"].flatMap(Double.init) ?? 0.5
        let seed = environment["DSRD_SOAK_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("dsrd-soak-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: report) }
        let soak = try DaemonProcess(
            ["--soak-minutes", "\(minutes)", "--seed", "\(seed)", "--json", report.path], executable: "dsrd-bench")
        let status = try await soak.waitForExit(timeout: .seconds(Int64(minutes * 60) + 900))
        #expect(status == 0, "seed \(seed) (DSRD_SOAK_SEED): \(soak.output.suffix(4000))")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as? [String: Any])
        let submitted = json["requests_submitted"] as? [String: Int] ?? [:]
        #expect(submitted.values.reduce(0, +) >= 12)
        #expect(json["requests_completed"] as? Int == submitted.values.reduce(0, +))
        #expect(json["proofs_verified"] as? Int == submitted["erasure"])
        #expect(json["exports_verified"] as? Int == submitted["access"])
        #expect((json["faults"] as? [String: Int] ?? [:]).values.reduce(0, +) > 0)
        #expect((json["problems"] as? [String] ?? ["?"]).isEmpty, "seed \(seed): \(json["problems"] ?? "")")
    }
}
