import DSR
import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// A store that keeps failing is retried for a span of time (`queue.store_outage_budget`),
/// not a number of attempts; the span shows beside the legal deadline; once it is spent the
/// task is dead, and an operator's retry starts a fresh one.
@Suite("Store outage budget")
struct OutageBudgetTests {
    @Test func aFailingStoreIsRetriedByTimeNotByAttempts() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                // The order store fails every attempt: its orders table is locked and
                // statements give up after 100 ms.
                let store = try await PostgresConnection.connect(stores.url("order"))
                try await store.execute("BEGIN")
                try await store.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
                let id = try await connection.query("SELECT dsr.submit('access', '{\"customer_id\": \"T-1\"}') AS id")[0].decode(
                    "id", as: UUID.self)
                let settings = [
                    "exports.directory=\(exports.path)", "connectors.lock_timeout=100ms", "queue.max_attempts=2",
                    "queue.store_outage_budget=1h",
                ]
                try await InProcessDaemon.run(database: database, overrides: settings, environment: stores.environment) { daemon in
                    let task = "SELECT id FROM dsr.jobs WHERE request_id = $1 AND kind = 'store_task' AND payload ->> 'store' = 'order'"
                    try await daemon.until("the order store's task failed once") {
                        try await connection.count(
                            "SELECT count(*) FROM dsr.jobs WHERE request_id = $1 AND kind = 'store_task' AND payload ->> 'store' = 'order' AND attempt = 1 AND state = 'available'",
                            [id]) == 1
                    }
                    let job = try await connection.query(task, [id])[0].decode("id", as: Int64.self)
                    // One hour from the failure, which came after the claim (attempted_at).
                    let budget = try await connection.query(
                        "SELECT retry_until, retry_until - attempted_at BETWEEN interval '1 hour' AND interval '61 minutes' AS span FROM dsr.jobs WHERE id = $1",
                        [job])[0]
                    let retryUntil = try budget.decode("retry_until", as: Date.self)
                    #expect(try budget.decode("span", as: Bool.self))

                    // Twice as many attempts as max_attempts allows, and still waiting.
                    for attempt in 2...4 {
                        try await connection.execute("UPDATE dsr.jobs SET run_at = now() WHERE id = $1", [job])
                        try await daemon.pollUntilClaimed(job)
                        try await daemon.recorded(job)
                        let row = try await connection.query("SELECT state, attempt, retry_until FROM dsr.jobs WHERE id = $1", [job])[0]
                        #expect(try row.decode("state", as: String.self) == "available")
                        #expect(try row.decode("attempt", as: Int.self) == attempt)
                        #expect(try row.decode("retry_until", as: Date.self) == retryUntil)  // counted from the first failure
                    }
                    let status = try await connection.query(
                        "SELECT status, retry_until, due_at FROM dsr.request_status WHERE id = $1", [id])[0]
                    #expect(try status.decode("status", as: String.self) == "waiting")
                    #expect(try status.decode("retry_until", as: Date.self) == retryUntil)
                    #expect(try await connection.count("SELECT count(*) FROM dsr.outbox WHERE template = 'dpo_store_unreachable'") == 1)

                    // The budget is spent: the next failure makes the task dead.
                    try await connection.execute("UPDATE dsr.jobs SET retry_until = now(), run_at = now() WHERE id = $1", [job])
                    try await daemon.pollUntilClaimed(job)
                    try await daemon.recorded(job)
                    #expect(try await connection.count("SELECT count(*) FROM dsr.jobs WHERE id = $1 AND state = 'dead'", [job]) == 1)

                    // The store is back; the operator retries; the request completes.
                    try await store.execute("ROLLBACK")
                    try await connection.execute("SELECT dsr.retry_job($1)", [job])
                    #expect(try await connection.count("SELECT count(*) FROM dsr.jobs WHERE id = $1 AND retry_until IS NULL", [job]) == 1)
                    try await daemon.pollUntilClaimed(job)
                    try await daemon.until("the request completed") {
                        try await connection.isCompleted(id)
                    }
                }
                await store.close()
            }
        }
    }
}
