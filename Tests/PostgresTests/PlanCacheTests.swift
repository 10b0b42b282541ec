import Foundation
import Postgres
import TestSupport
import Testing

/// A connection prepares what it runs, so the server parses it once; a statement whose plan
/// must fit its values runs unprepared and leaves the session's plan cache alone, which
/// also serves the server's own cached plans (PL/pgSQL functions, foreign-key checks).
@Suite("Prepared statements and plan caching")
struct PlanCacheTests {
    static let prepared = "SELECT count(*) AS n FROM pg_prepared_statements"

    @Test func statementsRunUnpreparedLeaveThePlanCacheAlone() async throws {
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            for value in 1...3 {
                #expect(try await connection.query("SELECT $1::int + 1 AS v", [value])[0].decode("v", as: Int.self) == value + 1)
            }
            let before = try await connection.query(Self.prepared)[0].decode("n", as: Int.self)
            #expect(before >= 1)
            for value in 1...6 {
                let rows = try await connection.queryPlannedForValues(
                    "SELECT count(*) AS n FROM unnest($1::int[]) AS u(v) WHERE v > $2", [[1, 2, 3], value])
                #expect(try rows[0].decode("n", as: Int.self) == max(0, 3 - value))
            }
            #expect(try await connection.query(Self.prepared)[0].decode("n", as: Int.self) == before)
            #expect(try await connection.query("SHOW plan_cache_mode")[0].decode("plan_cache_mode", as: String.self) == "auto")
        }
    }
}
