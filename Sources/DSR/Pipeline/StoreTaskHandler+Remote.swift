import Foundation
import Postgres

extension StoreTaskHandler {
    /// An asynchronous job an HTTP store accepted (`dsr.request_tasks.remote`).
    struct RemoteJob: Codable {
        var statusURL: String
        var submittedAt: Date
        var polls: Int

        enum CodingKeys: String, CodingKey {
            case polls
            case statusURL = "status_url"
            case submittedAt = "submitted_at"
        }
    }

    /// An erasure or change in an HTTP store. The first attempt submits it (with an
    /// idempotency key: a repeat after a crash is a no-op on the store's side); a store that
    /// answers 202 is polled, the task showing `remote` and the job postponed (no attempt
    /// used) with a growing delay, for up to the mapping's `async_wait_days`. A finished
    /// erasure is checked by asking the store for the person's rows again.
    func remote(_ request: FanOut.RequestRow, identity: IdentitySet, connector: HTTPConnector) async throws -> JobResult {
        let store = connector.mapping.name
        let operation = request.operation
        let change = operation == .erase ? nil : try requestedChange(request)
        if operation == .erase { _ = try fanOut.requireProofKeys() }
        let recorded = try await remoteJob(request.id, store: store)
        let answer: HTTPConnector.Answer
        if let recorded {
            answer = try await connector.poll(recorded.statusURL)
        } else {
            answer = try await connector.submit(operation, identity: identity, change: change, requestID: request.id)
            Failpoints.hit("remote.after_submit")
        }
        switch answer {
        case .failed(let reason):
            throw JobFailure.permanent("store \(store) did not \(operation.rawValue): \(reason)")
        case .pending(let statusURL):
            let job = RemoteJob(statusURL: statusURL, submittedAt: recorded?.submittedAt ?? Date(), polls: (recorded?.polls ?? -1) + 1)
            let limit = TimeInterval(connector.mapping.http.asyncWaitDays) * 86_400
            if Date().timeIntervalSince(job.submittedAt) > limit {
                throw JobFailure.permanent(
                    "store \(store) accepted the \(operation.rawValue) \(connector.mapping.http.asyncWaitDays) days ago and has not finished it (async_wait_days)"
                )
            }
            try await recordWaiting(request.id, store: store, job: job)
            throw JobFailure.postpone(
                after: fanOut.polling.delay(afterPolls: job.polls), "store \(store) is still working on the \(operation.rawValue)")
        case .done(let counts):
            if operation == .erase { return try await finishRemoteErasure(request.id, identity: identity, connector: connector, counts) }
            let action: String =
                switch change {
                case .rectify: "rectified"
                case .restrict(let lift): lift ? "unrestricted" : "restricted"
                case .object, nil: "withdrawn"
                }
            let update = StoreUpdate(
                store: store,
                tables: counts.keys.sorted().map { .init(name: $0, action: action, column: nil, rows: counts[$0]?.updated ?? 0) })
            let outcome = ChangeOutcome(rows: update.tables.reduce(0) { $0 + $1.rows }, update: update)
            let json = String(decoding: try Self.encoder.encode(outcome), as: UTF8.self)
            return JobResult(effects: [SQLStatement("SELECT dsr.finish_task($1, $2, $3::jsonb)", [request.id, store, json])])
        }
    }

    /// The store's counts become the erasure's plan (what the proof states); the person's rows
    /// it still returns must be only those it says it holds.
    func finishRemoteErasure(_ requestID: UUID, identity: IdentitySet, connector: HTTPConnector, _ counts: [String: HTTPConnector.Counts])
        async throws -> JobResult
    {
        let mapping = connector.mapping
        let plan = StoreErasure(
            store: mapping.name,
            tables: mapping.tables.map { table in
                let count = counts[table.name] ?? .init()
                let held = count.held ?? 0
                return .init(
                    name: table.name, strategy: table.rowStrategy.rawValue, columns: [:], deleted: count.deleted ?? 0,
                    anonymised: count.anonymised ?? 0, heldAnonymised: 0, heldUnchanged: held,
                    held: held == 0 ? [] : [.init(rule: count.heldRule ?? "kept by the store", rows: held, until: nil, treatment: "kept")])
            }, suppressionEntries: 0)
        let remainder = try await connector.remainder(identity)
        for table in plan.tables {
            let left = remainder[table.name]?.matching ?? 0
            if left > table.heldUnchanged {
                throw ConnectorError.invalidResponse(
                    store: mapping.name,
                    reason:
                        "the store reported the erasure done, but still returns \(left) rows of \(table.name), \(table.heldUnchanged) of them held"
                )
            }
        }
        let outcome = ErasureOutcome(
            rows: plan.tables.reduce(0) { $0 + $1.erased }, discovery: remainder.mapValues(\.matching),
            notAnonymised: remainder.mapValues(\.notAnonymised))
        return JobResult(effects: [
            SQLStatement(
                "UPDATE dsr.request_tasks SET plan = coalesce(plan, $3::jsonb) WHERE request_id = $1 AND store = $2",
                [requestID, mapping.name, String(decoding: try Self.encoder.encode(plan), as: UTF8.self)]),
            SQLStatement(
                "SELECT dsr.finish_task($1, $2, $3::jsonb)",
                [requestID, mapping.name, String(decoding: try Self.encoder.encode(outcome), as: UTF8.self)]),
        ])
    }

    func remoteJob(_ requestID: UUID, store: String) async throws -> RemoteJob? {
        let text = try await fanOut.pool.withConnection { connection in
            try await connection.query(
                "SELECT remote::text AS remote FROM dsr.request_tasks WHERE request_id = $1 AND store = $2", [requestID, store]
            ).first?.decode("remote", as: String?.self)
        }
        return try text.map { try Self.decoder.decode(RemoteJob.self, from: Data($0.utf8)) }
    }

    func recordWaiting(_ requestID: UUID, store: String, job: RemoteJob) async throws {
        let encoder = Self.encoder
        encoder.dateEncodingStrategy = .iso8601
        let json = String(decoding: try encoder.encode(job), as: UTF8.self)
        try await fanOut.pool.withConnection { connection in
            try await connection.transaction { connection in
                try connection.execute(
                    "UPDATE dsr.request_tasks SET state = 'remote', remote = $3::jsonb, last_error = NULL WHERE request_id = $1 AND store = $2 AND state <> 'done'",
                    [requestID, store, json])
                try connection.execute(
                    """
                    UPDATE dsr.requests SET status = 'in_progress', updated_at = now(),
                           current_step = left('waiting for ' || $2 || ' to finish (asynchronous, polled)', 300)
                     WHERE id = $1 AND completed_at IS NULL AND status IN ('in_progress', 'waiting')
                       AND NOT EXISTS (SELECT 1 FROM dsr.request_tasks WHERE request_id = $1 AND state = 'waiting')
                       AND current_step IS DISTINCT FROM left('waiting for ' || $2 || ' to finish (asynchronous, polled)', 300)
                    """, [requestID, store])
            }
        }
    }

    /// A processor is told of the request; its acknowledgement is the task's outcome.
    func notify(_ webhook: ProcessorWebhook, request: FanOut.RequestRow, identity: IdentitySet) async throws -> JobResult {
        let change = request.operation.isChange ? try requestedChange(request) : nil
        let acknowledgement = try await webhook.deliver(
            webhook.event(kind: request.kind, requestID: request.id, identity: identity, change: change))
        let json = String(decoding: try Self.encoder.encode(["processor": acknowledgement]), as: UTF8.self)
        return JobResult(effects: [
            SQLStatement("SELECT dsr.finish_task($1, $2, $3::jsonb)", [request.id, webhook.processor.taskName, json])
        ])
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
