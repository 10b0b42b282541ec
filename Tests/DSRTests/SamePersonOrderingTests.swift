import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// An erasure and an access, portability or rectification request of the same person never run
/// side by side (`dsr.plan_request`): the one planned second waits, unplanned, until the other
/// has ended. So an erasure deletes, and proves it deleted, every export of the person, an
/// export made after an erasure holds only what the erasure kept, and a correction never
/// writes details back into rows an erasure has just anonymised.
@Suite("Requests of one person, one at a time")
struct SamePersonOrderingTests {
    static let somchai = #"{"emails": ["somchai@example.co.th"], "customer_ids": ["C0001"]}"#
    /// Shares only the customer id with `somchai`: the same person, found by another identifier.
    static let somchaiByID = #"{"emails": ["s.jaidee@example.com"], "customer_ids": ["C0001"]}"#
    static let malee = #"{"emails": ["malee@example.co.th"], "customer_ids": ["C0002"]}"#

    static func operation(_ kind: String) -> String {
        switch kind {
        case "erasure": "erase"
        case "rectification": "rectify"
        default: "export"
        }
    }

    /// Submitted, its request job cancelled: the test plans it itself, as the request job would.
    static func submit(_ kind: String, on connection: PostgresConnection) async throws -> UUID {
        // A correction says what to correct.
        let options = kind == "rectification" ? #"{"changes": {"email": "somchai.new@example.co.th"}}"# : "{}"
        let id = try await connection.query(
            "SELECT dsr.submit($1, '{\"email\": \"somchai@example.co.th\"}', $2::jsonb) AS id", [kind, options])[0]
            .decode("id", as: UUID.self)
        try await connection.cancelRequestJobs()
        return id
    }

    static func plan(_ id: UUID, _ kind: String, _ identities: String, on connection: PostgresConnection) async throws {
        try await connection.execute(
            "SELECT dsr.plan_request($1, $2::jsonb, ARRAY['customer'], $3, NULL)", [id, identities, operation(kind)])
    }

    static func isPlanned(_ id: UUID, on connection: PostgresConnection) async throws -> Bool {
        try await connection.count("SELECT count(*) FROM dsr.request_tasks WHERE request_id = $1", [id]) == 1
    }

    /// The request's request jobs: those due now, and those waiting for a later time.
    static func requestJobs(_ id: UUID, on connection: PostgresConnection) async throws -> (due: Int, later: Int) {
        let row = try await connection.query(
            """
            SELECT count(*) FILTER (WHERE run_at <= now()) AS due, count(*) FILTER (WHERE run_at > now()) AS later
              FROM dsr.jobs WHERE request_id = $1 AND kind = 'request' AND state = 'available'
            """, [id])[0]
        return (try row.decode("due", as: Int.self), try row.decode("later", as: Int.self))
    }

    @Test(arguments: [
        ("access", "erasure"), ("erasure", "access"), ("portability", "erasure"), ("erasure", "portability"),
        ("rectification", "erasure"), ("erasure", "rectification"),
    ])
    func theLaterWaitsUntilTheEarlierHasEnded(first: String, second: String) async throws {
        try await TestDatabase.migrated { _, connection in
            let earlier = try await Self.submit(first, on: connection)
            let later = try await Self.submit(second, on: connection)
            try await Self.plan(earlier, first, Self.somchai, on: connection)
            try await Self.plan(later, second, Self.somchaiByID, on: connection)
            #expect(try await Self.isPlanned(earlier, on: connection))
            #expect(!(try await Self.isPlanned(later, on: connection)))
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.requests WHERE id = $1 AND waits_for = $2 AND status = 'received'", [later, earlier])
                    == 1)
            #expect(try await Self.requestJobs(later, on: connection) == (due: 0, later: 1))

            // The earlier one ends: the later one's request job is due at once, and plans it.
            try await connection.execute("SELECT dsr.complete_request($1)", [earlier])
            #expect(try await Self.requestJobs(later, on: connection) == (due: 1, later: 0))
            try await Self.plan(later, second, Self.somchaiByID, on: connection)
            #expect(try await Self.isPlanned(later, on: connection))
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.requests WHERE id = $1 AND waits_for IS NULL AND status = 'in_progress'", [later]) == 1)
        }
    }

    /// The earlier request ends while the later one has decided to wait for it but has not
    /// committed that decision: the end waits for the decision (the same per-identifier lock),
    /// so its wake-up still finds the later one, which does not sit out its backstop.
    @Test func anEndDuringTheLatersDecisionStillWakesIt() async throws {
        try await TestDatabase.migrated { database, connection in
            let earlier = try await Self.submit("access", on: connection)
            let later = try await Self.submit("erasure", on: connection)
            try await Self.plan(earlier, "access", Self.somchai, on: connection)
            let planner = try await database.connect()
            let ender = try await database.connect()
            let enderPID = try await ender.query("SELECT pg_backend_pid() AS pid")[0].decode("pid", as: Int.self)
            try await planner.execute("BEGIN")
            try await Self.plan(later, "erasure", Self.somchaiByID, on: planner)
            let ending = Task { try await ender.execute("SELECT dsr.complete_request($1)", [earlier]) }
            // The end is under way: either waiting for a lock, or (without the shared lock) done.
            let underWay = try await eventually {
                try await connection.count(
                    """
                    SELECT count(*) FROM pg_stat_activity
                     WHERE pid = $1 AND query LIKE '%complete_request%' AND (state = 'idle' OR wait_event_type = 'Lock')
                    """, [enderPID]) == 1
            }
            #expect(underWay)
            try await planner.execute("COMMIT")
            _ = try await ending.value
            #expect(
                try await connection.count("SELECT count(*) FROM dsr.requests WHERE id = $1 AND waits_for = $2", [later, earlier]) == 1)
            #expect(try await Self.requestJobs(later, on: connection) == (due: 1, later: 0))
            await planner.close()
            await ender.close()
        }
    }

    /// Only an erasure and an export or correction of one person exclude each other: two
    /// exports of one person, and an erasure beside another person's export, are planned at once.
    @Test func otherPeopleAndTwoExportsDoNotWait() async throws {
        try await TestDatabase.migrated { _, connection in
            let access = try await Self.submit("access", on: connection)
            let portability = try await Self.submit("portability", on: connection)
            let erasure = try await Self.submit("erasure", on: connection)
            try await Self.plan(access, "access", Self.somchai, on: connection)
            try await Self.plan(portability, "portability", Self.somchai, on: connection)
            try await Self.plan(erasure, "erasure", Self.malee, on: connection)
            for id in [access, portability, erasure] { #expect(try await Self.isPlanned(id, on: connection)) }
            #expect(try await connection.count("SELECT count(*) FROM dsr.requests WHERE waits_for IS NOT NULL") == 0)
        }
    }
}
