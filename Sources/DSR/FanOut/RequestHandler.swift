import Foundation
import Logging
import Postgres

/// Job kind `request`: plans a rights request.
///
/// It resolves who the person is (the stores' authoritative
/// tables, repeated until no new identifier turns up), then queues one `store_task` per
/// store. A phone number alone that matches several customers is not enough: the request
/// waits for identity verification instead of acting on a stranger's data. A rectification
/// of a field no store can correct, or with an invalid value, is refused with the reason.
public struct RequestHandler: JobHandler {
    let fanOut: FanOut

    public init(fanOut: FanOut) { self.fanOut = fanOut }

    public func handle(_ job: Job, context: JobContext) async throws -> JobResult {
        guard let requestID = job.requestID else { throw JobFailure.permanent("request job \(job.id) has no request_id") }
        let request = try await fanOut.loadRequest(requestID)
        let operation = request.operation
        if operation == "erase" { _ = try fanOut.requireProofKeys() }
        if !["export", "erase"].contains(operation) {
            do {
                _ = try request.change(rectifiable: fanOut.rectifiableFields)
            } catch let refusal as FanOut.RefusalReason {
                context.logger.notice("request refused", metadata: ["dsr.reason": "\(refusal.text)"])
                return JobResult(effects: [SQLStatement("SELECT dsr.refuse_request($1, $2)", [requestID, refusal.text])])
            }
        }
        guard request.status == "received" || request.status == "in_progress" || request.status == "waiting" else {
            return .none  // refused or cancelled meanwhile
        }

        var identity = request.given
        var matches = 0
        do {
            for _ in 0..<3 {
                var next = identity
                matches = 0
                for connector in fanOut.connectors {
                    let resolution = try await connector.resolve(identity)
                    matches += resolution.matches
                    next.formUnion(resolution.identity)
                }
                if next == identity { break }
                identity = next
            }
        } catch let error as ConnectorError {
            if job.attempt >= 3, case .unreachable(let store, let reason) = error {
                try await warnStoreUnreachable(requestID: requestID, store: store, reason: reason)
            }
            throw error
        }

        if !request.given.hasStrongIdentifier && matches > 1 {
            context.logger.notice("phone matches several customers; asking for identity verification")
            return JobResult(effects: [
                SQLStatement(
                    "SELECT dsr.ask_identity_verification($1, $2)",
                    [requestID, "The phone number is shared by several customer accounts; please also give your email or customer number."])
            ])
        }

        let identities = String(decoding: try JSONEncoder().encode(identity), as: UTF8.self)
        let exportFile = request.exportFile ?? Self.unguessableName()
        var effects = [
            SQLStatement(
                """
                UPDATE dsr.requests
                   SET status = 'in_progress', identities = $2::jsonb, updated_at = now(),
                       current_step = CASE $5::text WHEN 'erase' THEN 'erasing in ' WHEN 'export' THEN 'collecting data from '
                                      ELSE 'applying the change in ' END || $3::int || ' stores',
                       result = coalesce(result, '{}') || jsonb_build_object('export_file', $4::text)
                 WHERE id = $1 AND completed_at IS NULL
                """, [requestID, identities, fanOut.connectors.count, exportFile, operation]),
            SQLStatement(
                "INSERT INTO dsr.request_events (request_id, step, detail) VALUES ($1, 'planned', jsonb_build_object('stores', $2::int))",
                [requestID, fanOut.connectors.count]),
        ]
        for connector in fanOut.connectors {
            effects.append(SQLStatement(
                "INSERT INTO dsr.request_tasks (request_id, store, operation) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                [requestID, connector.mapping.name, operation]))
            effects.append(SQLStatement(
                "INSERT INTO dsr.jobs (kind, request_id, payload) VALUES ('store_task', $1, jsonb_build_object('store', $2::text))",
                [requestID, connector.mapping.name]))
        }
        if fanOut.connectors.isEmpty {
            effects.append(SQLStatement("INSERT INTO dsr.jobs (kind, request_id) VALUES ('finalize', $1)", [requestID]))
        }
        context.logger.info("request planned", metadata: ["dsr.stores": "\(fanOut.connectors.count)"])
        return JobResult(effects: effects)
    }

    func warnStoreUnreachable(requestID: UUID, store: String, reason: String) async throws {
        try await fanOut.pool.withConnection { connection in
            try await connection.execute(
                "SELECT dsr.notify_dpo($1, $2, 'dpo_store_unreachable', jsonb_build_object('store', $3::text, 'last_error', $4::text))",
                ["store-unreachable:\(store):\(requestID.uuidString.lowercased())", requestID, store, String(reason.prefix(500))])
            try await connection.execute(
                "UPDATE dsr.requests SET status = 'waiting', current_step = $2, updated_at = now() WHERE id = $1 AND completed_at IS NULL",
                [requestID, "waiting for store \(store) (unreachable)"])
        }
    }

    /// 128 random bits: nobody can find an export by guessing its name.
    static func unguessableName() -> String {
        var generator = SystemRandomNumberGenerator()
        return Digests.hex((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }) + ".zip"
    }
}
