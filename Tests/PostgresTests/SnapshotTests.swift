import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Snapshots shared between connections")
struct SnapshotTests {
    /// A transaction that imports another's snapshot reads what that one reads, not rows
    /// committed after it began.
    @Test func aTransactionReadingAnExportedSnapshotMissesLaterCommits() async throws {
        try await TestDatabase.with { database in
            let first = try await database.connect()
            let second = try await database.connect()
            let writer = try await database.connect()
            try await writer.execute("CREATE TABLE t (v int)")
            try await writer.execute("INSERT INTO t VALUES (1)")
            let seen = try await first.transaction(
                .repeatableReadOnly,
                { snapshot in
                    try await writer.execute("INSERT INTO t VALUES (2)")
                    let imported = try await second.transaction(readingSnapshotOf: snapshot) { connection in
                        try connection.query("SELECT count(*) AS n FROM t")[0].decode("n", as: Int.self)
                    }
                    #expect(imported == 1, "the importing transaction saw a row committed after the snapshot")
                    let fresh = try await second.query("SELECT count(*) AS n FROM t")[0].decode("n", as: Int.self)
                    #expect(fresh == 2)
                }
            ) { connection in
                _ = try connection.query("SELECT count(*) FROM t")
                return try #require(try connection.exportSnapshot())
            }
            #expect(!seen.text.isEmpty)
        }
    }

    @Test func onlyTheServersSnapshotIdentifiersAreAccepted() {
        #expect(SnapshotID("00000003-0000001B-1") != nil)
        #expect(SnapshotID("") == nil)
        #expect(SnapshotID("1'; DROP TABLE t; --") == nil)
        #expect(SnapshotID(String(repeating: "A", count: 65)) == nil)
    }
}
