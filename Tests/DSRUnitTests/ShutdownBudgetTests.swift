import DSR
import Foundation
import Testing

/// The systemd unit gives a stopping daemon more time than its configuration can take, so
/// SIGKILL never lands in the middle of a commit.
@Suite("Shutdown budget")
struct ShutdownBudgetTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func theUnitsStopTimeoutCoversTheConfiguredGraceAndTheDrain() throws {
        let unit = try String(contentsOf: Self.repository.appendingPathComponent("Deploy/dsrd.service"), encoding: .utf8)
        let stop = try #require(unit.firstMatch(of: /\nTimeoutStopSec=(\d+)\n/).flatMap { Int($0.output.1) })
        let configuration = try ConfigurationLoader(environment: [:]).load(
            file: Self.repository.appendingPathComponent("Config/dsrd.toml").path)
        let worst = ShutdownBudget.worstCase(grace: configuration.daemon.shutdownGrace)
        #expect(worst <= .seconds(stop), "TimeoutStopSec=\(stop) but a stop may take \(worst)")
        #expect(worst > .seconds(stop - 30), "TimeoutStopSec=\(stop) is far longer than needed (\(worst))")
    }
}
