import DSR
import DSRTestSupport
import Foundation
import Logging
import Postgres
import TestSupport
import Testing

@Suite("Migrations")
struct MigrationTests {
    @Test func concurrentMigrateProcessesBothSucceedAndApplyEachMigrationOnce() async throws {
        try await TestDatabase.with { database in
            async let first = DaemonProcess.run(["migrate", "--database-url", database.conninfo])
            async let second = DaemonProcess.run(["migrate", "--database-url", database.conninfo])
            let results = try await [first, second]
            for result in results { #expect(result.status == 0, "\(result.output)") }
            let connection = try await database.connect()
            let versions = try await connection.query("SELECT version FROM dsr.schema_migrations ORDER BY version")
                .map { try $0.decode("version", as: Int.self) }
            #expect(versions == Migration.all.map(\.version))
            // Exactly one of the two runs applied them; the other found nothing to do.
            #expect(results.filter { $0.output.contains("schema is up to date") }.count == 1)
        }
    }

    @Test func concurrentMigratorsInOneProcessAreSerialised() async throws {
        try await TestDatabase.with { database in
            let migrator = Migrator(logger: Logger(label: "test"))
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<4 {
                    group.addTask { try await migrator.migrate(try await database.connect()) }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(applied.sorted() == Migration.all.map(\.version))
            let again = try await migrator.migrate(try await database.connect())
            #expect(again.isEmpty)
        }
    }

    @Test func editedMigrationIsRefused() async throws {
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            try await Migrator(logger: Logger(label: "test")).migrate(connection)
            try await connection.execute("UPDATE dsr.schema_migrations SET checksum = 'edited' WHERE version = 1")
            await #expect(throws: MigrationError.self) {
                try await Migrator(logger: Logger(label: "test")).migrate(connection)
            }
        }
    }

    @Test func everyTableColumnAndViewIsCommented() async throws {
        try await TestDatabase.migrated { _, connection in
            let missing = try await connection.query(
                """
                SELECT c.relname AS name
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'dsr' AND c.relkind IN ('r', 'v') AND obj_description(c.oid, 'pg_class') IS NULL
                UNION ALL
                SELECT c.relname || '.' || a.attname
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                 WHERE n.nspname = 'dsr' AND c.relkind IN ('r', 'v') AND col_description(c.oid, a.attnum) IS NULL
                """
            ).map { try $0.decode("name", as: String.self) }
            #expect(missing == [])
        }
    }
}
