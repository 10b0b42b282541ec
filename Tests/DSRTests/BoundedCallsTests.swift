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
                #expect(try await connection.count("SELECT count(*) FROM dsr.requests WHERE id = $1 AND status = 'completed'", [id]) == 0)
                try await store.execute("ROLLBACK")
                await store.close()
                #expect(
                    try await eventually {
                        try await connection.count("SELECT count(*) FROM dsr.requests WHERE id = $1 AND status = 'completed'", [id]) == 1
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
