import DSR
import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// No call waits forever: a store whose table is locked (a long migration, an application's
/// open transaction) makes a task give up after `connectors.lock_timeout` and retry, and the
/// request completes once the lock is gone.
@Suite("Bounded calls")
struct BoundedCallsTests {
    @Test func aLockedStoreTableMakesTheTaskGiveUpAndRetryInsteadOfHanging() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let store = try await PostgresConnection.connect(stores.url("customer"))
                try await store.execute("BEGIN")
                try await store.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
                let id = try await connection.query("SELECT dsr.submit('access', '{\"customer_id\": \"T-1\"}') AS id")[0].decode(
                    "id", as: UUID.self)
                let daemon = try BackgroundDaemon(
                    database.exportArguments(exports, extra: ["--set", "connectors.lock_timeout=200ms"]), environment: stores.environment)
                #expect(
                    try await eventually {
                        try await connection.count(
                            "SELECT count(*) FROM dsr.jobs WHERE request_id = $1 AND last_error LIKE '%lock timeout%'", [id]) > 0
                    }, "\(daemon.output)")
                #expect(try await !connection.isCompleted(id))
                try await store.execute("ROLLBACK")
                await store.close()
                #expect(
                    try await eventually {
                        try await connection.isCompleted(id)
                    }, "\(daemon.output)")
                #expect(await daemon.stop() == 0)
            }
        }
    }

    /// The daemon's own connections (claims, heartbeats, completions, scanners) carry
    /// `database.lock_timeout` too: with the queue table locked by an operator's forgotten
    /// transaction, the claim gives up and tries again, and work resumes once it is released.
    @Test func aLockedQueueMakesTheDaemonRetryNotHang() async throws {
        try await TestDatabase.migrated { database, connection in
            let id = try await connection.query("INSERT INTO dsr.jobs (kind, payload) VALUES ('probe', '{}') RETURNING id")[0].decode(
                "id", as: Int64.self)
            let operator_ = try await PostgresConnection.connect(database.conninfo)
            try await operator_.execute("BEGIN")
            try await operator_.execute("LOCK TABLE dsr.jobs IN ACCESS EXCLUSIVE MODE")
            let daemon = try BackgroundDaemon(database.runArguments(["--set", "database.lock_timeout=200ms"]))
            #expect(try await eventually { daemon.output.contains("lock timeout") }, "\(daemon.output)")
            try await operator_.execute("ROLLBACK")
            await operator_.close()
            #expect(
                try await eventually {
                    try await connection.count("SELECT count(*) FROM dsr.jobs WHERE id = $1 AND state = 'completed'", [id]) == 1
                }, "\(daemon.output)")
            #expect(await daemon.stop() == 0)
        }
    }

    /// With no lock timeout at all, a statement waiting on a locked store table is still
    /// bounded: the job's attempt times out (`queue.request_timeout` on the test clock), the
    /// statement is cancelled on the server (`PQcancel`), the attempt is recorded as timed out,
    /// and the retry completes the request once the lock is gone.
    @Test func aHungStatementIsCancelledWhenItsJobTimesOutAndTheJobIsRetried() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let store = try await PostgresConnection.connect(stores.url("customer"))
                try await store.execute("BEGIN")
                try await store.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
                let id = try await connection.query("SELECT dsr.submit('access', '{\"customer_id\": \"T-1\"}') AS id")[0].decode(
                    "id", as: UUID.self)
                let monitor = try await PostgresConnection.connect(stores.url("customer"))
                let waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                // Leases long enough that only the attempt timeout acts: the database counts a
                // lease in real time while heartbeats follow the test clock, so on a loaded
                // machine a 3 s lease could expire and be rescued in the same clock step
                // (which made this test fail in CI once).
                let settings = [
                    "exports.directory=\(exports.path)", "connectors.lock_timeout=0", "connectors.statement_timeout=0",
                    "queue.request_timeout=1m", "queue.store_task_timeout=1m", "queue.lease_duration=10m",
                    "queue.heartbeat_interval=5m",
                ]
                try await InProcessDaemon.run(database: database, overrides: settings, environment: stores.environment) { daemon in
                    // The start-up index check waits for the locked table too, then gives up
                    // (StoreIndexCheck.lockTimeout): after that only the job waits.
                    #expect(try await daemon.indexChecks(of: ["customer"]) == ["customer": nil])
                    #expect(try await eventually { try await monitor.count(waiting) == 1 })
                    let job = try await connection.query("SELECT id FROM dsr.jobs WHERE request_id = $1 AND state = 'running'", [id])[0]
                        .decode("id", as: Int64.self)
                    daemon.clock.advance(by: .seconds(60))
                    try await daemon.next("the attempt timed out") { $0 == .timedOut(job) }
                    try await daemon.recorded(job)
                    // Cancelled on the server, not merely abandoned: nothing waits on the lock.
                    #expect(try await monitor.count(waiting) == 0)
                    #expect(
                        try await connection.query("SELECT last_error FROM dsr.jobs WHERE id = $1 AND state = 'available'", [job])[0]
                            .decode("last_error", as: String.self).hasPrefix("timed out after 1m (queue.request_timeout)"))

                    try await store.execute("ROLLBACK")
                    try await connection.execute("UPDATE dsr.jobs SET run_at = now() WHERE id = $1", [job])
                    try await daemon.pollUntilClaimed(job)
                    try await daemon.until("the request completed") {
                        try await connection.isCompleted(id)
                    }
                }
                await monitor.close()
                await store.close()
            }
        }
    }

    /// The pool's three promises: a cancelled task stops its statement on the server; a
    /// cancelled waiter stops waiting; a connection the server dropped while it sat idle is
    /// replaced before anyone gets it.
    @Test func thePoolCancelsStatementsAndWaitersAndReplacesDeadConnections() async throws {
        try await TestDatabase.migrated { database, connection in
            let pool = ConnectionPool(conninfo: database.conninfo, maximum: 1, healthCheckAfter: .zero)

            let sleeper = Task { try await pool.withConnection { try await $0.query("SELECT pg_sleep(600)") } }
            #expect(
                try await eventually {
                    // Sleeping, not merely parsed: a cancel that comes between the two is dropped.
                    try await connection.count(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query = 'SELECT pg_sleep(600)'") == 1
                })
            let waiter = Task { try await pool.withConnection { try await $0.query("SELECT 1") } }
            #expect(try await eventually { await pool.waiting == 1 })
            waiter.cancel()
            await #expect(throws: CancellationError.self) { try await waiter.value }
            #expect(await pool.waiting == 0)
            sleeper.cancel()
            let error = await #expect(throws: PostgresError.self) { try await sleeper.value }
            #expect(error?.message.contains("canceling statement due to user request") == true, "\(String(describing: error))")

            let first = try await pool.withConnection { await $0.backendPID }
            try await connection.execute("SELECT pg_terminate_backend($1)", [Int(first)])
            #expect(
                try await eventually {
                    try await connection.count("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", [Int(first)]) == 0
                })
            let second = try await pool.withConnection { connection in
                (pid: await connection.backendPID, one: try await connection.query("SELECT 1 AS one")[0].decode("one", as: Int.self))
            }
            #expect(second.pid != first && second.one == 1)
            #expect(await pool.openConnections == 1)
            await pool.close()
        }
    }

    /// A task cancelled between two statements (where PostgreSQL drops a cancel) runs no
    /// further statement, and the connection serves the pool's next user.
    @Test func aTaskCancelledBetweenStatementsRunsNoMore() async throws {
        try await TestDatabase.migrated { database, _ in
            let pool = ConnectionPool(conninfo: database.conninfo, maximum: 1)
            let (between, arrived) = AsyncStream.makeStream(of: Int32.self)
            let task = Task {
                try await pool.withConnection { connection in
                    arrived.yield(await connection.backendPID)
                    try? await Task.sleep(for: .seconds(3600))  // ends when the task is cancelled
                    return try await connection.query("SELECT 1")
                }
            }
            var iterator = between.makeAsyncIterator()
            let pid = await iterator.next()
            task.cancel()
            let error = await #expect(throws: PostgresError.self) { try await task.value }
            #expect(error?.sqlState == "57014")
            let next = try await pool.withConnection { connection in
                (pid: await connection.backendPID, one: try await connection.query("SELECT 1 AS one")[0].decode("one", as: Int.self))
            }
            #expect(next.pid == pid && next.one == 1)
            await pool.close()
        }
    }

    @Test func everyConnectionCarriesItsLimits() async throws {
        try await TestDatabase.migrated { database, _ in
            let pool = ConnectionPool(
                conninfo: database.conninfo, maximum: 1,
                settings: SessionLimits.settings(statement: .milliseconds(1500), lock: .milliseconds(250)))
            let shown = try await pool.withConnection { connection in
                try await connection.query(
                    "SELECT current_setting('statement_timeout') AS s, current_setting('lock_timeout') AS l"
                )[0]
            }
            #expect(try shown.decode("s", as: String.self) == "1500ms")
            #expect(try shown.decode("l", as: String.self) == "250ms")
            await pool.close()
        }
    }
}
