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
                        try await connection.isCompleted(id)
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

    /// PDPA s.34: a rectification or objection that waits for a decision restricts the
    /// person's data until it is decided; applied or refused, the restriction is lifted. An
    /// objection to direct marketing never waits (s.32).
    @Test func dataIsRestrictedWhileARectificationOrObjectionIsDecided() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let customer = try await PostgresConnection.connect(stores.url("customer"))
                @Sendable func restricted() async throws -> Bool {
                    try await customer.query("SELECT restricted FROM customers WHERE id = 'T-1'")[0].decode("restricted", as: Bool.self)
                }
                /// Why a request's lift kept the data restricted, if it did.
                @Sendable func liftKept(_ id: UUID) async throws -> String? {
                    try await connection.query(
                        "SELECT detail ->> 'kept' AS kept FROM dsr.request_events WHERE request_id = $1 AND step = 'restriction_lifted'",
                        [id]
                    )[0].decode("kept", as: String?.self)
                }
                @Sendable func status(_ id: UUID) async throws -> String {
                    try await connection.query("SELECT status FROM dsr.requests WHERE id = $1", [id])[0].decode("status", as: String.self)
                }
                let rectification = try await connection.query(
                    "SELECT dsr.submit('rectification', '{\"email\": \"somchai.test@example.co.th\"}', '{\"changes\": {\"address\": \"99/1 Sukhumvit\"}}') AS id"
                )[0].decode("id", as: UUID.self)
                let objection = try await connection.query(
                    "SELECT dsr.submit('objection', '{\"email\": \"somchai.test@example.co.th\"}', '{\"purposes\": [\"product_improvement\"]}') AS id"
                )[0].decode("id", as: UUID.self)
                let arguments = database.exportArguments(
                    exports, extra: ["--set", "approvals.rectification=1", "--set", "approvals.objection=1"])
                try await InProcessDaemon.run(arguments: arguments, environment: stores.environment, log: LogCapture(), realTime: true) {
                    daemon in
                    try await daemon.until("both wait for a decision") {
                        try await connection.count("SELECT count(*) FROM dsr.awaiting_approval") == 2
                    }
                    #expect(try await restricted())
                    #expect(try await customer.count("SELECT count(*) FROM customers WHERE id = 'T-1' AND address = '99/1 Sukhumvit'") == 0)
                    // Decided: the objection refused on a ground, the rectification approved.
                    _ = try await connection.query(
                        "SELECT dsr.refuse_request($1, 'compelling_legitimate_grounds', 'fraud prevention') AS m", [objection])
                    try await daemon.until("the refused objection's final step recorded the lift") {
                        try await connection.count(
                            "SELECT count(*) FROM dsr.request_events WHERE request_id = $1 AND step = 'restriction_lifted'", [objection])
                            == 1
                    }
                    // The rectification is still being decided: its restriction stands.
                    #expect(try await restricted())
                    #expect(try await liftKept(objection) == "another_request_deciding")
                    _ = try await connection.query(
                        "SELECT dsr.approve_request($1, 'address checked on the delivery slip') AS m", [rectification])
                    try await daemon.until("the rectification completed") { try await status(rectification) == "completed" }
                }
                #expect(try await status(objection) == "refused")
                #expect(try await customer.count("SELECT count(*) FROM customers WHERE id = 'T-1' AND address = '99/1 Sukhumvit'") == 1)
                #expect(try await !restricted())
                #expect(try await liftKept(rectification) == nil)
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.request_events WHERE step IN ('restricted_while_deciding', 'restriction_lifted')") == 4)
                // A restriction the person asked for outlives an objection decided after it.
                let restriction = try await connection.query(
                    "SELECT dsr.submit('restriction', '{\"email\": \"somchai.test@example.co.th\"}') AS id")[0].decode("id", as: UUID.self)
                #expect(
                    try await runInProcessUntilCompleted(restriction, arguments, environment: stores.environment, on: connection).completed)
                #expect(try await restricted())
                let second = try await connection.query(
                    "SELECT dsr.submit('objection', '{\"email\": \"somchai.test@example.co.th\"}', '{\"purposes\": [\"product_improvement\"]}') AS id"
                )[0].decode("id", as: UUID.self)
                try await InProcessDaemon.run(arguments: arguments, environment: stores.environment, log: LogCapture(), realTime: true) {
                    daemon in
                    try await daemon.until("the objection waits for a decision") {
                        try await connection.count("SELECT count(*) FROM dsr.awaiting_approval WHERE id = $1", [second]) == 1
                    }
                    // The person asks to lift their restriction meanwhile: the lift waits for the decision.
                    let lift = try await connection.query(
                        "SELECT dsr.submit_lift_restriction('{\"email\": \"somchai.test@example.co.th\"}') AS id")[0].decode(
                            "id", as: UUID.self)
                    try await daemon.until("the lift waits for the objection's decision") {
                        try await connection.count(
                            "SELECT count(*) FROM dsr.requests WHERE id = $1 AND status = 'waiting' AND current_step LIKE '%the lift waits until request ' || $2 || '%'",
                            [lift, second.uuidString.lowercased()]) == 1
                    }
                    #expect(try await restricted())
                    _ = try await connection.query(
                        "SELECT dsr.refuse_request($1, 'compelling_legitimate_grounds', 'fraud prevention') AS m", [second])
                    try await daemon.until("the refused objection's final step ran") {
                        try await connection.count(
                            "SELECT count(*) FROM dsr.request_events WHERE request_id = $1 AND step = 'restriction_lifted'", [second]) == 1
                    }
                    // The person's own restriction still stood when the objection was decided.
                    #expect(try await restricted())
                    #expect(try await liftKept(second) == "restriction_requested")
                    // Decided: the lift's postponed tasks run (now, not after their minute) and lift it.
                    try await connection.execute(
                        "UPDATE dsr.jobs SET run_at = now() WHERE request_id = $1 AND state = 'available'", [lift])
                    try await daemon.until("the lift completed") { try await status(lift) == "completed" }
                }
                #expect(try await !restricted())
                // An objection to direct marketing is never held for a decision.
                let marketing = try await connection.query(
                    "SELECT dsr.submit('objection', '{\"email\": \"somchai.test@example.co.th\"}', '{\"purposes\": [\"marketing\"]}') AS id"
                )[0].decode("id", as: UUID.self)
                let run = try await runInProcessUntilCompleted(
                    marketing, database.exportArguments(exports, extra: ["--set", "approvals.objection=1"]),
                    environment: stores.environment,
                    on: connection)
                #expect(run.completed, "\(run.output)")
                #expect(try await connection.count("SELECT count(*) FROM dsr.approvals WHERE request_id = $1", [marketing]) == 0)
                await customer.close()
            }
        }
    }
}
