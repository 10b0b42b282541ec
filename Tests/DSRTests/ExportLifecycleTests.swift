import DSRTestSupport
import Foundation
import Logging
import Postgres
import TestSupport
import Testing

@testable import DSR

/// An export does not outlive its purpose: the clean-up deletes it after `exports.keep_for`,
/// and an erasure of the same person deletes it at once, listing it in the signed proof.
@Suite("Export life cycle")
struct ExportLifecycleTests {
    /// A migrated database, the demo stores (20 customers), proof keys and an exports folder,
    /// the last two removed afterwards.
    static func withStoresAndKeys(
        _ body: (TestDatabase, PostgresConnection, StoreFixture, URL, (directory: URL, privateKey: String, publicKey: String)) async throws
            -> Void
    ) async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let keys = try makeKeys()
                let exports = try temporaryDirectory()
                defer {
                    try? FileManager.default.removeItem(at: exports)
                    try? FileManager.default.removeItem(at: keys.directory)
                }
                try await body(database, connection, stores, exports, keys)
            }
        }
    }

    /// A completed erasure's proof file and its signed payload.
    static func proof(of erasure: UUID, on connection: PostgresConnection) async throws -> (path: String, payload: [String: Any]?) {
        let path = try await completedResult(connection, erasure)["proof_path"] as? String ?? ""
        let proof = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
        return (path, try JSONSerialization.jsonObject(with: Data((proof?["payload"] as? String ?? "").utf8)) as? [String: Any])
    }

    /// T-1 and T-2 each get an export; T-1 then has their data erased. T-1's export file is
    /// gone, recorded as deleted by that erasure, listed in its proof and mentioned in the
    /// completion notice; T-2's export stays.
    @Test func anErasureDeletesThePersonsEarlierExportsAndItsProofSaysSo() async throws {
        try await Self.withStoresAndKeys { database, connection, stores, exports, keys in
            func submit(_ sql: String) async throws -> UUID { try await connection.query(sql)[0].decode("id", as: UUID.self) }
            let first = try await submit("SELECT dsr.submit('access', '{\"customer_id\": \"T-1\"}') AS id")
            let other = try await submit("SELECT dsr.submit('portability', '{\"customer_id\": \"T-2\"}') AS id")
            let daemon = try BackgroundDaemon(
                database.erasureArguments(exports, key: keys.privateKey), environment: stores.environment)
            #expect(
                try await eventually {
                    let one = try await connection.isCompleted(first)
                    let two = try await connection.isCompleted(other)
                    return one && two
                },
                "\(daemon.output)")
            let firstPath = try await completedResult(connection, first)["export_path"] as? String ?? ""
            let otherPath = try await completedResult(connection, other)["export_path"] as? String ?? ""
            #expect(FileManager.default.fileExists(atPath: firstPath) && FileManager.default.fileExists(atPath: otherPath))

            let erasure = try await submit("SELECT dsr.submit('erasure', '{\"email\": \"somchai.test@example.co.th\"}') AS id")
            #expect(try await eventually { try await connection.isCompleted(erasure) }, "\(daemon.output)")
            #expect(await daemon.stop() == 0)
            #expect(!FileManager.default.fileExists(atPath: firstPath))
            #expect(FileManager.default.fileExists(atPath: otherPath))
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.requests WHERE id = $1 AND export_deleted_at IS NOT NULL AND export_deleted_by = $2",
                    [first, erasure]) == 1)
            #expect(
                try await connection.count("SELECT count(*) FROM dsr.request_status WHERE export_deleted_at IS NOT NULL") == 1)
            let (proofPath, payload) = try await Self.proof(of: erasure, on: connection)
            #expect(payload?["exports_deleted"] as? [String] == [first.uuidString.lowercased()])
            let verified = try await DaemonProcess.run([
                "verify-proof", proofPath, "--public-key", keys.publicKey, "--check-database", "--database-url", database.conninfo,
            ])
            #expect(verified.status == 0, "\(verified.output)")
            let store = NoticeStore(connection: connection)
            let text = try await store.renderedCompletion(erasure)
            #expect(text.contains("prepared for you earlier has been deleted") || text.contains("จัดเตรียมไว้ให้ก่อนหน้านี้ได้ถูกลบ"))
        }
    }

    /// An erasure that arrives while the person's access request is still being answered (here
    /// its order store is paused) waits, unplanned, until that request has ended; then it
    /// deletes the finished export and its proof lists it. Run side by side, the export
    /// finished after the erasure would have kept the erased data on disk, unlisted.
    @Test func anErasureWaitsForThePersonsExportInProgressAndThenDeletesIt() async throws {
        try await Self.withStoresAndKeys { database, connection, stores, exports, keys in
            func submit(_ sql: String) async throws -> UUID { try await connection.query(sql)[0].decode("id", as: UUID.self) }
            try await connection.execute("SELECT dsr.pause_store('order', 'test: the export stays in progress')")
            let access = try await submit("SELECT dsr.submit('access', '{\"customer_id\": \"T-1\"}') AS id")
            let daemon = try BackgroundDaemon(
                database.erasureArguments(exports, key: keys.privateKey), environment: stores.environment)
            #expect(
                try await eventually {
                    try await connection.count("SELECT count(*) FROM dsr.request_tasks WHERE request_id = $1", [access]) == 3
                }, "\(daemon.output)")
            let erasure = try await submit("SELECT dsr.submit('erasure', '{\"email\": \"somchai.test@example.co.th\"}') AS id")
            #expect(
                try await eventually {
                    try await connection.count("SELECT count(*) FROM dsr.requests WHERE id = $1 AND waits_for = $2", [erasure, access])
                        == 1
                }, "\(daemon.output)")
            #expect(try await connection.count("SELECT count(*) FROM dsr.request_tasks WHERE request_id = $1", [erasure]) == 0)

            // Resumed once the export's order task has been put back to wait: the export is
            // then certainly still in progress while the erasure waits.
            #expect(
                try await eventually {
                    try await connection.count(
                        "SELECT count(*) FROM dsr.jobs WHERE request_id = $1 AND kind = 'store_task' AND payload ->> 'store' = 'order' AND state = 'available' AND run_at > now()",
                        [access]) == 1
                }, "\(daemon.output)")
            try await connection.execute("SELECT dsr.resume_store('order')")
            #expect(
                try await eventually {
                    let exported = try await connection.isCompleted(access)
                    let erased = try await connection.isCompleted(erasure)
                    return exported && erased
                }, "\(daemon.output)")
            #expect(await daemon.stop() == 0)
            let exportPath = try await completedResult(connection, access)["export_path"] as? String ?? ""
            #expect(!exportPath.isEmpty && !FileManager.default.fileExists(atPath: exportPath))
            let payload = try await Self.proof(of: erasure, on: connection).payload
            #expect(payload?["exports_deleted"] as? [String] == [access.uuidString.lowercased()])
        }
    }

    /// The clean-up deletes exports kept longer than `keep_for` and records it; a newer
    /// export, an export already gone and a request without one are left as they are.
    @Test func theCleanUpDeletesExportsKeptLongEnough() async throws {
        try await TestDatabase.migrated { _, connection in
            let exports = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: exports) }
            var files: [String: String] = [:]
            for (name, age) in [("old", 8), ("new", 1), ("gone", 9)] {
                let id = try await connection.query(
                    "SELECT dsr.submit('access', jsonb_build_object('email', $1::text)) AS id", ["\(name)@example.co.th"]
                )[0].decode("id", as: UUID.self)
                let file = String(repeating: name == "old" ? "a" : name == "new" ? "b" : "c", count: 32) + ".zip"
                try await connection.execute(
                    """
                    UPDATE dsr.requests SET status = 'completed', current_step = 'completed',
                           completed_at = now() - make_interval(days => $2), result = jsonb_build_object('export_file', $3::text)
                     WHERE id = $1
                    """, [id, age, file])
                if name != "gone" { try Data("zip".utf8).write(to: exports.appendingPathComponent(file)) }
                files[name] = file
            }
            try await connection.cancelRequestJobs()
            let janitor = ExportJanitor(exportDirectory: exports, keepFor: .seconds(7 * 86_400))
            try await janitor.run(on: connection, logger: Logger(label: "test"))
            try await janitor.run(on: connection, logger: Logger(label: "test"))  // nothing more the second time
            #expect(!FileManager.default.fileExists(atPath: exports.appendingPathComponent(files["old"]!).path))
            #expect(FileManager.default.fileExists(atPath: exports.appendingPathComponent(files["new"]!).path))
            #expect(
                try await connection.query(
                    "SELECT subject_email FROM dsr.requests WHERE export_deleted_at IS NOT NULL ORDER BY subject_email"
                ).map { try $0.decode("subject_email", as: String.self) } == ["gone@example.co.th", "old@example.co.th"])
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.request_events WHERE step = 'export_deleted' AND detail ->> 'reason' = 'expired'") == 2)
        }
    }
}

/// The completion notice as the outbox holds it (rendered when sent; here from its variables).
struct NoticeStore {
    let connection: PostgresConnection

    func renderedCompletion(_ id: UUID) async throws -> String {
        let row = try await connection.query(
            "SELECT variables::text AS variables, locale FROM dsr.outbox WHERE request_id = $1 AND template = 'completed' LIMIT 1", [id]
        )[0]
        let variables =
            try JSONSerialization.jsonObject(with: Data(try row.decode("variables", as: String.self).utf8)) as? [String: Any] ?? [:]
        let templates = try NoticeTemplates(
            directory: URL(fileURLWithPath: exampleConfigFile).deletingLastPathComponent().path + "/templates")
        var values = variables
        values.merge(NoticeVocabulary.kindValues("erasure", lift: false, locale: "en")) { $1 }
        values.merge(NoticeVocabulary.outcomeValues(variables, locale: "en")) { $1 }
        return try templates.render("completed", channel: .email, language: .english, values: values).text
    }
}
