import DSR
import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// `approvals.erasure = 2`: an erasure waits, touching nothing, until two different people
/// approve; the same person twice, the daemon's role, or a resume around it does not count.
@Suite("Approvals")
struct ApprovalTests {
    @Test func anErasureWaitsForTwoDifferentApprovers() async throws {
        let keys = try makeKeys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let suffix = UUID().uuidString.prefix(8).lowercased()
                let (alice, bob) = ("alice_\(suffix)", "bob_\(suffix)")
                for role in [alice, bob] { try await connection.execute("CREATE ROLE \(role) LOGIN IN ROLE dsr_operator") }
                let id = try await connection.query(
                    "SELECT dsr.submit('erasure', '{\"email\": \"somchai.test@example.co.th\"}') AS id")[0].decode("id", as: UUID.self)
                let customer = try await PostgresConnection.connect(stores.url("customer"))
                let arguments = database.erasureArguments(exports, key: keys.privateKey, extra: ["--set", "approvals.erasure=2"])
                try await InProcessDaemon.run(arguments: arguments, environment: stores.environment, log: LogCapture(), realTime: true) {
                    daemon in
                    try await daemon.until("the erasure waits for approval") {
                        try await connection.count(
                            "SELECT count(*) FROM dsr.awaiting_approval WHERE id = $1 AND approvals_required = 2", [id])
                            == 1
                    }
                    func approve(as role: String) async throws -> String {
                        try await connection.execute("SET SESSION AUTHORIZATION \(role)")
                        let answer = try await connection.query("SELECT dsr.approve_request($1, 'checked ID') AS m", [id])[0].decode(
                            "m", as: String.self)
                        try await connection.execute("RESET SESSION AUTHORIZATION")
                        return answer
                    }
                    #expect(try await approve(as: alice) == "approval 1 of 2 recorded; another person must approve too")
                    // The same person again does not count.
                    try await connection.execute("SET SESSION AUTHORIZATION \(alice)")
                    let again = await postgresError { try await connection.execute("SELECT dsr.approve_request($1)", [id]) }
                    try await connection.execute("RESET SESSION AUTHORIZATION")
                    #expect(again?.message.contains("already approved") == true)
                    // An operator's resume does not go round the approvals: planning holds it again.
                    _ = try await connection.query("SELECT dsr.resume_request($1) AS m", [id])
                    try await daemon.until("held for approval again") {
                        try await connection.count(
                            "SELECT count(*) FROM dsr.requests WHERE id = $1 AND hold_reason = 'approval' AND current_step LIKE 'waiting for approval (1 of 2)%'",
                            [id]) == 1
                    }
                    #expect(try await connection.count("SELECT count(*) FROM dsr.request_tasks WHERE request_id = $1", [id]) == 0)
                    #expect(try await customer.count("SELECT count(*) FROM customers WHERE id = 'T-1'") == 1)
                    #expect(try await approve(as: bob) == "approved (2 of 2); the request runs now")
                    try await daemon.until("the erasure completed") {
                        try await connection.count("SELECT count(*) FROM dsr.requests WHERE id = $1 AND status = 'completed'", [id]) == 1
                    }
                }
                #expect(try await customer.count("SELECT count(*) FROM customers WHERE id = 'T-1'") == 0)
                #expect(
                    try await connection.query("SELECT string_agg(approved_by, ',' ORDER BY approved_at) AS a FROM dsr.approvals")[0]
                        .decode("a", as: String.self) == "\(alice),\(bob)")
                await customer.close()
                for role in [alice, bob] {
                    try await connection.execute("DROP OWNED BY \(role)")
                    try await connection.execute("DROP ROLE \(role)")
                }
            }
        }
    }
}
