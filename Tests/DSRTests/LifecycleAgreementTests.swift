import DSR
import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// The Swift enums and life cycles say what the database enforces: every CHECK list equals
/// its enum's cases, the request moves equal `dsr.request_transitions`, and the trigger
/// refuses a move that is not listed.
@Suite("Life cycles agree with the schema")
struct LifecycleAgreementTests {
    /// The quoted values of the CHECK constraint on `table.column` that lists them with
    /// `IN (...)` or `<@ ARRAY[...]`.
    static func checkList(_ connection: PostgresConnection, table: String, column: String) async throws -> Set<String> {
        let rows = try await connection.query(
            """
            SELECT pg_get_constraintdef(c.oid) AS definition
              FROM pg_constraint c
              JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
             WHERE c.conrelid = $1::regclass AND c.contype = 'c' AND a.attname = $2 AND cardinality(c.conkey) = 1
            """, ["dsr.\(table)", column])
        var values = Set<String>()
        for row in rows {
            let definition = try row.decode("definition", as: String.self)
            guard definition.contains("ANY") || definition.contains("<@") else { continue }
            var rest = Substring(definition)
            while let open = rest.firstIndex(of: "'") {
                let after = rest[rest.index(after: open)...]
                guard let close = after.firstIndex(of: "'") else { break }
                values.insert(String(after[..<close]))
                rest = after[after.index(after: close)...]
            }
        }
        return values
    }

    static func cases<Value: CaseIterable & RawRepresentable>(_: Value.Type) -> Set<String> where Value.RawValue == String {
        Set(Value.allCases.map(\.rawValue))
    }

    @Test func everyCheckListIsItsEnum() async throws {
        try await TestDatabase.migrated { _, connection in
            let expected: [(String, String, Set<String>)] = [
                ("requests", "status", Self.cases(RequestStatus.self)),
                ("requests", "kind", Self.cases(RequestKind.self)),
                ("requests", "locale", Self.cases(Language.self)),
                ("requests", "channels", Self.cases(Channel.self)),
                ("jobs", "state", Self.cases(JobState.self)),
                ("outbox", "state", Self.cases(NoticeState.self)),
                ("outbox", "channel", Self.cases(Channel.self)),
                ("outbox", "audience", Self.cases(Audience.self)),
                ("outbox", "locale", Self.cases(Language.self)),
                ("request_tasks", "operation", Self.cases(StoreOperation.self)),
            ]
            for (table, column, values) in expected {
                let listed = try await Self.checkList(connection, table: table, column: column)
                #expect(listed == values, "dsr.\(table).\(column)")
            }
        }
    }

    @Test func requestMovesAreTheTransitionsTable() async throws {
        try await TestDatabase.migrated { _, connection in
            let rows = try await connection.query("SELECT from_status, to_status FROM dsr.request_transitions")
            var database: [String: Set<String>] = [:]
            for row in rows {
                database[try row.decode("from_status", as: String.self), default: []].insert(try row.decode("to_status", as: String.self))
            }
            var swift: [String: Set<String>] = [:]
            for (from, targets) in RequestLifecycle.transitions where !targets.isEmpty {
                swift[from.rawValue] = Set(targets.map(\.rawValue))
            }
            #expect(database == swift)
        }
    }

    @Test func anEndedRequestCannotBeReopened() async throws {
        try await TestDatabase.migrated { _, connection in
            let id = try await connection.query(
                "SELECT dsr.submit('access', jsonb_build_object('email', 'somchai@example.com')) AS id")[0].decode("id", as: UUID.self)
            try await connection.execute("SELECT dsr.refuse_request($1, 'identity could not be verified')", [id])
            await #expect(throws: PostgresError.self) {
                try await connection.execute("UPDATE dsr.requests SET status = 'in_progress' WHERE id = $1", [id])
            }
            let status = try await connection.query("SELECT status FROM dsr.requests WHERE id = $1", [id])[0].decode(
                "status", as: String.self)
            #expect(status == "refused")
        }
    }
}
