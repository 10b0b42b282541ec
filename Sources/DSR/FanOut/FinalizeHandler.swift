import Foundation
import Logging
import Postgres

/// Job kind `finalize`: once every store task is done, assembles the bundle under the name
/// chosen at planning (so a re-run overwrites, never duplicates), then completes the request
/// (which queues the person's notice and the DPO's report) in the same transaction as the
/// job.
public struct FinalizeHandler: JobHandler {
    let fanOut: FanOut

    public init(fanOut: FanOut) { self.fanOut = fanOut }

    /// Completes a rectification, restriction, objection or withdrawal with what each store
    /// did (rows, and for rectification digests of the values before and after, never the values).
    func finalizeChange(_ request: FanOut.RequestRow) async throws -> JobResult {
        let rows = try await fanOut.pool.withConnection { connection in
            try await connection.query(
                "SELECT coalesce(jsonb_agg(outcome -> 'update' ORDER BY store), '[]')::text AS updates, coalesce(sum(rows), 0)::int AS total FROM dsr.request_tasks WHERE request_id = $1",
                [request.id])[0]
        }
        let updates = try rows.decode("updates", as: String.self)
        let total = try rows.decode("total", as: Int.self)
        return JobResult(effects: [
            SQLStatement(
                """
                SELECT dsr.complete_request($1, jsonb_build_object('changes', $2::jsonb, 'rows_changed', $3::int,
                       'rows_exported', 0, 'rows_erased', 0, 'rows_held', 0,
                       'stores', (SELECT string_agg(store, ', ' ORDER BY store) FROM dsr.request_tasks WHERE request_id = $1)))
                """, [request.id, updates, total])
        ])
    }

    public func handle(_ job: Job, context: JobContext) async throws -> JobResult {
        guard let requestID = job.requestID else { throw JobFailure.permanent("finalize job \(job.id) has no request_id") }
        let request = try await fanOut.loadRequest(requestID)
        guard request.status != "completed", request.status != "refused", request.status != "cancelled" else { return .none }
        if request.kind == "erasure" { return try await finalizeErasure(request, context: context) }
        if request.operation != "export" { return try await finalizeChange(request) }
        let filesJSON = try await fanOut.pool.withConnection { connection in
            try await connection.query(
                "SELECT coalesce(jsonb_agg(f ORDER BY f ->> 'path'), '[]')::text AS files FROM dsr.request_tasks, jsonb_array_elements(files) AS f WHERE request_id = $1",
                [requestID])[0].decode("files", as: String.self)
        }
        let files = try JSONDecoder().decode([ExportedFile].self, from: Data(filesJSON.utf8))
        try fanOut.prepareDirectories()
        let staging = fanOut.staging(for: requestID)
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let name = request.exportFile ?? RequestHandler.unguessableName()
        let bundle = ExportBundle(
            requestID: requestID, kind: request.kind, locale: request.locale, stores: fanOut.connectors.map(\.mapping),
            files: files, timeZone: fanOut.timeZone)
        let result = try bundle.write(staging: staging, to: fanOut.exportDirectory.appendingPathComponent(name))
        try? FileManager.default.removeItem(at: staging)
        context.logger.info("export assembled", metadata: ["dsr.rows": "\(result.rows)", "dsr.bytes": "\(result.size)"])
        let outcome: [String: Any] = [
            "export_file": name, "export_path": result.path, "export_size": result.size, "export_sha256": result.sha256,
            "manifest_sha256": result.manifestSHA256, "rows_exported": result.rows, "rows_erased": 0, "rows_held": 0,
            "stores": fanOut.connectors.map(\.mapping.name).joined(separator: ", "),
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: outcome, options: [.sortedKeys]), as: UTF8.self)
        return JobResult(effects: [SQLStatement("SELECT dsr.complete_request($1, $2::jsonb)", [requestID, json])])
    }
}
