import Foundation
import Logging
import Postgres

/// Job kind `store_task`: one store's part of a request. Exports the person's rows into the
/// request's staging folder (starting afresh on every attempt, so a re-run after a crash
/// writes the same files) and, in the completing transaction, marks the task done; the last
/// task to finish queues the final assembly.
public struct StoreTaskHandler: JobHandler {
    let fanOut: FanOut

    public init(fanOut: FanOut) { self.fanOut = fanOut }

    struct Payload: Decodable {
        let store: String
    }

    public func handle(_ job: Job, context: JobContext) async throws -> JobResult {
        guard let requestID = job.requestID else { throw JobFailure.permanent("store task \(job.id) has no request_id") }
        let store = try job.decodePayload(Payload.self).store
        var logger = context.logger
        logger[metadataKey: "dsr.store"] = "\(store)"
        let request = try await fanOut.loadRequest(requestID)
        guard let identity = request.resolved else { throw JobFailure.permanent("request \(requestID) was not planned") }
        let connector = try fanOut.connector(named: store)
        if request.kind == "erasure" {
            do {
                let result = try await erase(requestID: requestID, store: store, identity: identity, connector: connector, attempt: job.attempt)
                logger.info("store erasure done")
                return result
            } catch {
                try? await fanOut.pool.withConnection { connection in
                    try await connection.execute("SELECT dsr.task_failed($1, $2, $3)", [requestID, store, "\(error)"])
                }
                logger.warning("store erasure failed", metadata: ["dsr.error": "\(error)", "dsr.attempt": "\(job.attempt)"])
                throw error
            }
        }
        let formats: ExportFormats = request.kind == "portability" ? [.json, .csv] : [.json]
        try fanOut.prepareDirectories()
        let staging = fanOut.staging(for: requestID)
        let storeDirectory = staging.appendingPathComponent(store)
        try? FileManager.default.removeItem(at: storeDirectory)
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let files: [ExportedFile]
        do {
            files = try await connector.export(identity, into: staging, formats: formats)
        } catch {
            try? await fanOut.pool.withConnection { connection in
                try await connection.execute("SELECT dsr.task_failed($1, $2, $3)", [requestID, store, "\(error)"])
            }
            logger.warning("store task failed", metadata: ["dsr.error": "\(error)", "dsr.attempt": "\(job.attempt)"])
            throw error
        }
        let rows = files.filter { $0.path.hasSuffix(".json") }.reduce(0) { $0 + $1.rows }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let outcome = String(decoding: try encoder.encode(TaskOutcome(rows: rows, files: files)), as: UTF8.self)
        logger.info("store task done", metadata: ["dsr.rows": "\(rows)"])
        return JobResult(effects: [SQLStatement("SELECT dsr.finish_task($1, $2, $3::jsonb)", [requestID, store, outcome])])
    }

    struct TaskOutcome: Codable {
        let rows: Int
        let files: [ExportedFile]
    }
}
