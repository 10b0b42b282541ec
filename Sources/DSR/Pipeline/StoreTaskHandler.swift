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
        let request = try await fanOut.loadRequest(for: job, id: requestID)
        // On hold, refused or cancelled since the task was queued: nothing is touched.
        guard request.status.allowsWork else { return .none }
        guard let identity = request.resolved else { throw JobFailure.permanent("request \(requestID) was not planned") }
        let webhook = fanOut.processor(task: store)
        if let reason = request.pause(of: webhook?.store ?? store) { try await fanOut.postpone(request, because: reason) }
        let started = ContinuousClock.now
        do {
            let result: JobResult
            if let webhook {
                result = try await notify(webhook, request: request, identity: identity)
            } else {
                let connector = try fanOut.connector(named: store)
                switch (connector.mapping.kind, request.operation) {
                case (.manual, _):
                    result = try openManualTask(request, mapping: connector.mapping, identity: identity)
                case (.http, .erase), (.http, .rectify), (.http, .restrict), (.http, .object):
                    result = try await remote(request, identity: identity, connector: try fanOut.httpConnector(named: store))
                case (_, .export): result = try await export(request, store: store, identity: identity, connector: connector)
                case (_, .erase): result = try await erase(request, store: store, identity: identity, connector: connector)
                case (_, .rectify), (_, .restrict), (_, .object):
                    result = try await change(request, store: store, identity: identity, connector: connector)
                }
            }
            logger.info("store task done", metadata: ["dsr.operation": "\(request.operation.rawValue)"])
            DaemonMetrics.storeTask(
                store: store, operation: request.operation.rawValue, succeeded: true, after: ContinuousClock.now - started)
            return result
        } catch let stopped as WorkGate.Stopped {
            // Held, refused or cancelled while this task ran: the store rolled back.
            logger.notice("store task stopped before its change", metadata: ["dsr.status": "\(stopped.status?.rawValue ?? "-")"])
            return .none
        } catch JobFailure.postpone(let delay, let reason) {
            // An HTTP store still working on it: not a failure.
            throw JobFailure.postpone(after: delay, reason)
        } catch {
            DaemonMetrics.storeTask(
                store: store, operation: request.operation.rawValue, succeeded: false, after: ContinuousClock.now - started)
            // Retrying for days would not change a store's refusal: the job stops, and the DPO
            // is told (dsr.report_dead_job) what the store said and how to go on. Otherwise the
            // request shows as waiting for this store; from the third failure the DPO hears of it.
            let stops = Self.refusesForGood(error, attempt: job.attempt)
            _ = try? await fanOut.pool.withConnection { connection in
                try await connection.execute(
                    stops ? "SELECT dsr.task_stopped($1, $2, $3)" : "SELECT dsr.task_failed($1, $2, $3)", [requestID, store, "\(error)"])
            }
            logger.warning("store task failed", metadata: ["dsr.error": "\(error)", "dsr.attempt": "\(job.attempt)"])
            if stops {
                throw JobFailure.permanent(
                    "store \(store) refuses what dsrd asks of it (attempt \(job.attempt); the store's catalog was read anew after the first refusal): \(error). Retrying will not change that, and nothing was changed in that store. Fix the store or the mapping (dsrd check --store \(store)), then SELECT dsr.retry_job(\(job.id));"
                )
            }
            throw error
        }
    }

    /// Whether a store's error refuses the statement for good: a trigger's exception (P0001),
    /// a constraint (class 23), a value (class 22) or the schema (class 42: a column renamed
    /// or dropped) saying no, on a second attempt, after the first made the catalog be read
    /// anew. Not a missing privilege (42501), which an operator's grant mends while dsrd
    /// keeps retrying, nor anything transient (a lock, a timeout, a lost connection).
    static func refusesForGood(_ error: any Error, attempt: Int) -> Bool {
        guard attempt >= 2, let error = error as? PostgresError, error.kind == .server, let state = error.sqlState else { return false }
        if state == "42501" { return false }
        return state == "P0001" || state.hasPrefix("22") || state.hasPrefix("23") || state.hasPrefix("42")
    }

    /// Access and portability: the person's rows into the request's staging folder, afresh.
    func export(_ request: FanOut.RequestRow, store: String, identity: IdentitySet, connector: any Connector) async throws -> JobResult {
        let formats: ExportFormats = request.kind == .portability ? [.json, .csv] : [.json]
        try fanOut.prepareDirectories()
        let staging = fanOut.staging(for: request.id)
        // A re-run starts afresh: an earlier attempt's files of their own go first (its bytes
        // in the request's pack stay there unread: other stores' tasks append to it too).
        try FileSystem.makeDirectory(staging.path)
        FileSystem.removeFiles(in: staging.path, prefix: ExportedFile.stagedName(store + "/"))
        let files = try await connector.export(identity, into: staging, formats: formats)
        Failpoints.hit("store_task.after_export_files")
        let rows = files.filter { $0.path.hasSuffix(".json") }.reduce(0) { $0 + $1.rows }
        let outcome = String(decoding: try Self.encoder.encode(TaskOutcome(rows: rows, files: files)), as: UTF8.self)
        return JobResult(effects: [SQLStatement("SELECT dsr.finish_task($1, $2, $3::jsonb)", [request.id, store, outcome])])
    }

    /// The change a rectification, restriction, objection or withdrawal asks for; an invalid
    /// one fails the task for good (planning refuses it first, so this is a safety net).
    func requestedChange(_ request: FanOut.RequestRow) throws -> StoreChange {
        do {
            return try request.change(rectifiable: fanOut.rectifiableFields)
        } catch let refusal as FanOut.RefusalReason {
            throw JobFailure.permanent(refusal.english)
        }
    }

    /// Rectification, restriction, objection, consent withdrawal: one transaction per store.
    /// A lift of a restriction waits while another of the person's requests is decided with
    /// their data restricted (PDPA s.34): the task is postponed, the request shows as waiting.
    func change(_ request: FanOut.RequestRow, store: String, identity: IdentitySet, connector: any Connector) async throws -> JobResult {
        let change = try requestedChange(request)
        if case .restrict(lift: true) = change {
            let deciding = try await fanOut.pool.withConnection { connection in
                try await connection.query("SELECT dsr.deciding_request($1) AS id", [request.id])[0].decode("id", as: UUID?.self)
            }
            if let deciding {
                try await fanOut.postpone(
                    request, because: "the lift waits until request \(deciding.uuidString.lowercased()) is decided (PDPA s.34)")
            }
        }
        let update = try await WorkGate.around(request.id, pool: fanOut.pool) { gate in
            try await connector.update(identity, change: change) { try await gate.admit() }
        }
        let outcome = ChangeOutcome(rows: update.tables.reduce(0) { $0 + $1.rows }, update: update)
        let json = String(decoding: try Self.encoder.encode(outcome), as: UTF8.self)
        return JobResult(effects: [SQLStatement("SELECT dsr.finish_task($1, $2, $3::jsonb)", [request.id, store, json])])
    }

    struct ChangeOutcome: Codable {
        let rows: Int
        let update: StoreUpdate
    }

    struct TaskOutcome: Codable {
        let rows: Int
        let files: [ExportedFile]
    }
}
