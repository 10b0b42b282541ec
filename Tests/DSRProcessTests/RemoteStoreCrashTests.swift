import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// An HTTP store whose deletions run asynchronously (202, then a status URL polled), with
/// dsrd killed right after the store accepted the deletion and before dsrd recorded it.
@Suite("HTTP store deletions across a SIGKILL")
struct RemoteStoreCrashTests {
    @Test func anAsynchronousDeletionIsPolledToTheEndAndCarriedOutOnceAcrossAKill() async throws {
        let keys = try makeKeys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let saas = try await FakeSaaS(asyncPolls: 3, manualStore: false)
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let id = try await connection.query(
                    "SELECT dsr.submit('erasure', '{\"email\": \"somchai.test@example.co.th\"}') AS id")[0].decode("id", as: UUID.self)
                let key = "\(id.uuidString.lowercased()):mailing_saas"
                let arguments = database.erasureArguments(
                    exports, key: keys.privateKey,
                    extra: [
                        "--set", "connectors.directory=\(saas.connectors.path)", "--set", "connectors.poll_delay=50ms",
                        "--set", "connectors.poll_max_delay=200ms",
                    ])
                let crashing = try DaemonProcess(
                    arguments, environment: stores.environment.merging(["DSRD_FAILPOINT": "remote.after_submit"]) { $1 })
                #expect(try await crashing.waitForExit(timeout: .seconds(60)) != nil)
                #expect(crashing.process.terminationReason == .uncaughtSignal)
                // The SaaS accepted the deletion; dsrd died before it could record the status URL.
                #expect(try saas.calls().filter { $0.path == "/dsr/erase" }.map(\.idempotencyKey) == [key])
                #expect(try await connection.count("SELECT count(*) FROM dsr.request_tasks WHERE remote IS NOT NULL") == 0)
                #expect(try saas.effects().isEmpty)

                let run = try await runInProcessUntilCompleted(id, arguments, environment: stores.environment, on: connection)
                #expect(run.completed, "\(run.output)")
                // Asked again with the same key, the SaaS answered with the job it already had:
                // polled to the end, carried out once.
                let calls = try saas.calls()
                #expect(calls.filter { $0.path == "/dsr/erase" }.map(\.idempotencyKey) == [key, key])
                #expect(calls.filter { $0.method == "GET" && $0.path.hasPrefix("/dsr/jobs/") }.count == 3)
                let effects = try saas.effects()
                #expect(effects.count == 1)
                #expect(effects.first?["key"] as? String == key)
                #expect(try saas.tables()["contacts"]?.map { $0["id"] as? Int } == [2])
                let remote = try await connection.query(
                    "SELECT remote ->> 'polls' AS polls FROM dsr.request_tasks WHERE request_id = $1 AND store = 'mailing_saas'", [id])[0]
                // Three "pending" answers recorded (the POST's, then two polls), the third poll "done".
                #expect(try remote.decode("polls", as: String?.self) == "2")
                let result = try await completedResult(connection, id)
                #expect((result["stores"] as? String)?.contains("mailing_saas") == true)
            }
        }
    }
}
