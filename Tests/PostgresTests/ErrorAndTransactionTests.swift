import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Errors, transactions and notifications")
struct ErrorAndTransactionTests {
    @Test func failingStatementCarriesSQLStateWithoutParameterValues() async throws {
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            do {
                try await connection.query("SELECT * FROM no_such_table")
                Issue.record("expected an error")
            } catch let error as PostgresError {
                #expect(error.kind == .server)
                #expect(error.sqlState == "42P01")
                #expect(error.description.hasPrefix("42P01: "))
            }
            try await connection.execute("CREATE TABLE people (email text PRIMARY KEY)")
            try await connection.execute("INSERT INTO people VALUES ($1)", ["somchai@example.co.th"])
            do {
                try await connection.execute("INSERT INTO people VALUES ($1)", ["somchai@example.co.th"])
                Issue.record("expected a unique violation")
            } catch let error as PostgresError {
                #expect(error.sqlState == "23505")
                #expect(error.constraint == "people_pkey")
                #expect(!error.description.contains("somchai"))
                #expect(error.detail?.contains("somchai") == true)
            }
        }
    }

    /// PostgreSQL ignores a cancel that arrives between statements; the connection does not:
    /// once cancelled, its statements fail until the cancel is cleared, and the transaction
    /// it was in is still rolled back.
    @Test func aCancelStaysInForceUntilCleared() async throws {
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            try await connection.execute("CREATE TABLE t (v int)")
            let error = await #expect(throws: PostgresError.self) {
                try await connection.transaction { connection in
                    try connection.execute("INSERT INTO t VALUES ($1)", [1])
                    #expect(connection.cancelRunningStatement())
                    try connection.execute("INSERT INTO t VALUES ($1)", [2])
                }
            }
            #expect(error?.sqlState == "57014")
            #expect(await connection.inTransaction == false)
            await #expect(throws: PostgresError.self) { try await connection.query("SELECT 1") }
            #expect(connection.repeatCancel())
            connection.clearCancellation()
            #expect(!connection.repeatCancel())
            #expect(try await connection.query("SELECT count(*) AS n FROM t")[0].decode("n", as: Int.self) == 0)
        }
    }

    @Test func rollbackLeavesNothingBehind() async throws {
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            try await connection.execute("CREATE TABLE t (v int)")
            struct Boom: Error {}
            await #expect(throws: Boom.self) {
                try await connection.transaction { connection in
                    try connection.execute("INSERT INTO t VALUES ($1)", [1])
                    try connection.execute("INSERT INTO t VALUES ($1)", [2])
                    throw Boom()
                }
            }
            await #expect(throws: PostgresError.self) {
                try await connection.transaction { connection in
                    try connection.execute("INSERT INTO t VALUES ($1)", [3])
                    try connection.execute("INSERT INTO t VALUES ($1)", ["not a number"])
                }
            }
            #expect(try await connection.query("SELECT count(*) AS n FROM t")[0].decode("n", as: Int.self) == 0)
            #expect(await connection.inTransaction == false)
            try await connection.transaction { connection in
                try connection.execute("INSERT INTO t VALUES ($1)", [4])
                // A nested failure rolls back to its savepoint only.
                _ = try? connection.transaction { connection in
                    try connection.execute("INSERT INTO t VALUES ($1)", [5])
                    throw Boom()
                }
            }
            let values = try await connection.query("SELECT v FROM t ORDER BY v").map { try $0.decode("v", as: Int.self) }
            #expect(values == [4])
        }
    }

    /// A transaction's BEGIN goes with its first statement: two statements and a COMMIT are
    /// three round trips, and a transaction that runs nothing costs none. The BEGIN still
    /// holds the statements together and sets the transaction's mode.
    @Test func aTransactionsBeginTravelsWithItsFirstStatement() async throws {
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            try await connection.execute("CREATE TABLE t (v int)")
            let insert = "INSERT INTO t VALUES ($1)"
            let transactionID = "SELECT pg_current_xact_id_if_assigned()::text AS id"
            // Prepared before counting: a statement's first run prepares it, a round trip of its own.
            try await connection.execute(insert, [0])
            #expect(try await connection.query(transactionID)[0].decode("id", as: String?.self) == nil)
            let start = await connection.roundTrips
            let id = try await connection.transaction { connection in
                try connection.execute(insert, [1])
                return try connection.query(transactionID)[0].decode("id", as: String?.self)
            }
            #expect(await connection.roundTrips - start == 3)
            #expect(id != nil, "the SELECT ran outside the INSERT's transaction")
            #expect(try await connection.transaction { _ in 42 } == 42)
            #expect(await connection.roundTrips - start == 3)
            #expect(await connection.inTransaction == false)
            let error = await #expect(throws: PostgresError.self) {
                try await connection.transaction(.repeatableReadOnly) { connection in try connection.execute(insert, [2]) }
            }
            #expect(error?.sqlState == "25006")
            #expect(await connection.inTransaction == false)
            // A transaction ended by hand: its BEGIN goes with its first statement too.
            let handMade = await connection.roundTrips
            try await connection.begin()
            #expect(await connection.inTransaction)
            try await connection.execute(insert, [3])
            try await connection.execute("ROLLBACK")
            #expect(await connection.roundTrips - handMade == 2)
            #expect(try await connection.query("SELECT count(*) AS n FROM t")[0].decode("n", as: Int.self) == 2)
        }
    }

    /// Statements run together go in one exchange, with a pending BEGIN, and come back in
    /// order. One that fails stops those after it: inside a transaction the transaction is
    /// aborted; outside one, none of them took effect (one implicit transaction).
    @Test func statementsRunTogetherGoInOneExchange() async throws {
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            try await connection.execute("CREATE TABLE t (v int PRIMARY KEY)")
            let insert = "INSERT INTO t VALUES ($1) RETURNING v * 10 AS tenfold"
            let count = "SELECT count(*) AS n FROM t"
            try await connection.execute(insert, [0])
            _ = try await connection.query(count)
            let start = await connection.roundTrips
            let tenfolds = try await connection.transaction { connection in
                try connection.queryEach([(insert, [1]), (insert, [2]), (count, [])]).map { rows in
                    try rows[0].decode(at: 0, as: Int.self)
                }
            }
            #expect(tenfolds == [10, 20, 3])
            #expect(await connection.roundTrips - start == 2, "the statements with their BEGIN, then the COMMIT")
            let inTransaction = await #expect(throws: PostgresError.self) {
                try await connection.transaction { connection in
                    _ = try connection.queryEach([(insert, [3]), (insert, [1]), (insert, [4])])
                }
            }
            #expect(inTransaction?.sqlState == "23505")
            let alone = await #expect(throws: PostgresError.self) {
                _ = try await connection.queryEach([(insert, [5]), (insert, [2]), (insert, [6])])
            }
            #expect(alone?.sqlState == "23505")
            #expect(await connection.inTransaction == false)
            #expect(
                try await connection.query("SELECT array_agg(v ORDER BY v)::text AS vs FROM t")[0].decode("vs", as: String.self)
                    == "{0,1,2}")
        }
    }

    /// Statements queued for the COMMIT go with it in one exchange; one that fails leaves
    /// nothing committed, and a savepoint that rolls back drops what it queued.
    @Test func statementsQueuedForTheCommitGoWithIt() async throws {
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            try await connection.execute("CREATE TABLE t (v int)")
            let insert = "INSERT INTO t VALUES ($1)"
            try await connection.execute(insert, [0])
            let start = await connection.roundTrips
            try await connection.transaction { connection in
                try connection.execute(insert, [1])
                try connection.executeAtCommit(insert, [2])
                try connection.executeAtCommit(insert, [3])
            }
            #expect(await connection.roundTrips - start == 2)
            let error = await #expect(throws: PostgresError.self) {
                try await connection.transaction { connection in
                    try connection.execute(insert, [4])
                    try connection.executeAtCommit(insert, ["not a number"])
                    try connection.executeAtCommit(insert, [5])
                }
            }
            #expect(error?.sqlState == "22P02")
            #expect(await connection.inTransaction == false)
            struct Boom: Error {}
            try await connection.transaction { connection in
                try connection.executeAtCommit(insert, [6])
                _ = try? connection.transaction { connection in
                    try connection.executeAtCommit(insert, [7])
                    throw Boom()
                }
            }
            await #expect(throws: PostgresError.self) { try await connection.executeAtCommit(insert, [8]) }
            let values = try await connection.query("SELECT v FROM t ORDER BY v").map { try $0.decode("v", as: Int.self) }
            #expect(values == [0, 1, 2, 3, 6])
        }
    }

    @Test func notificationIsReceived() async throws {
        try await TestDatabase.with { database in
            let listener = try await database.connect()
            let sender = try await database.connect()
            try await listener.listen("dsr_test")
            try await sender.notify("dsr_test", payload: "สวัสดี")
            var received: [PostgresNotification] = []
            for _ in 0..<50 where received.isEmpty {
                received = try await listener.waitForNotifications(timeout: .milliseconds(100))
            }
            #expect(received.map(\.channel) == ["dsr_test"])
            #expect(received.first?.payload == "สวัสดี")
            #expect(received.first?.senderPID == (await sender.backendPID))
            await #expect(throws: PostgresError.self) { try await listener.listen("bad; DROP TABLE x") }
        }
    }

    @Test func connectionFailureIsAConnectionError() async throws {
        do {
            _ = try await PostgresConnection.connect("host=127.0.0.1 port=1 connect_timeout=2")
            Issue.record("expected a connection error")
        } catch let error as PostgresError {
            #expect(error.kind == .connection)
            #expect(error.isTransient)
        }
    }
}
