import Foundation
import Logging
import Postgres

/// Removes what interrupted work leaves in `exports.directory`: `.staging/<request>/` folders
/// and `.<name>.zip.<job>-<attempt>.partial` files of requests that have ended (completed, refused,
/// cancelled) or no longer exist. Work of open requests is left alone: their jobs still need
/// it. Finished exports kept longer than `exports.keep_for` are deleted too, and recorded
/// (`dsr.requests.export_deleted_at`). Scheduled every `exports.cleanup_interval`, first at start.
public struct ExportJanitor: PeriodicWork {
    let exportDirectory: URL
    let keepFor: Duration

    public init(exportDirectory: URL, keepFor: Duration) {
        self.exportDirectory = exportDirectory
        self.keepFor = keepFor
    }

    public var name: String { "export clean-up" }

    public func run(on connection: PostgresConnection, logger: Logger) async throws {
        try await deleteExportsPastKeeping(on: connection, logger: logger)
        try await removeLeftovers(on: connection, logger: logger)
    }

    /// Exports the person had `keep_for` to download.
    func deleteExportsPastKeeping(on connection: PostgresConnection, logger: Logger) async throws {
        let expired = try await connection.query(
            "SELECT id, export_file FROM dsr.exports_past_keeping($1::interval)", ["\(keepFor.components.seconds) seconds"])
        for row in expired {
            let id = try row.decode("id", as: UUID.self)
            try ExportFiles.delete(try row.decode("export_file", as: String.self), in: exportDirectory)
            try await connection.execute("SELECT dsr.record_export_deleted($1, 'expired')", [id])
        }
        if !expired.isEmpty { logger.notice("deleted exports past keeping", metadata: ["dsr.count": "\(expired.count)"]) }
    }

    /// Staging folders and partial files of requests that ended.
    func removeLeftovers(on connection: PostgresConnection, logger: Logger) async throws {
        let staging = exportDirectory.appendingPathComponent(".staging")
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: staging.path)) ?? []
        let partials = ((try? FileManager.default.contentsOfDirectory(atPath: exportDirectory.path)) ?? [])
            .compactMap { partial in ExportBundle.exportName(ofPartial: partial).map { (partial: partial, export: $0) } }
        guard !folders.isEmpty || !partials.isEmpty else { return }
        // Open requests and the file names their exports will have; everything else is left over.
        let open = try await connection.query(
            """
            SELECT id::text AS id, result ->> 'export_file' AS export_file FROM dsr.requests
             WHERE completed_at IS NULL AND (id::text = ANY($1::text[]) OR result ->> 'export_file' = ANY($2::text[]))
            """, [folders, partials.map(\.export)])
        let openIDs = Set(try open.map { try $0.decode("id", as: String.self) })
        let openFiles = Set(try open.compactMap { try $0.decode("export_file", as: String?.self) })
        var removed = 0
        for folder in folders where !openIDs.contains(folder) {
            if (try? FileManager.default.removeItem(at: staging.appendingPathComponent(folder))) != nil { removed += 1 }
        }
        for (partial, export) in partials where !openFiles.contains(export) {
            if (try? FileManager.default.removeItem(at: exportDirectory.appendingPathComponent(partial))) != nil { removed += 1 }
        }
        if removed > 0 { logger.notice("removed leftovers of interrupted exports", metadata: ["dsr.count": "\(removed)"]) }
    }
}
