import Foundation

/// Stands in for the connector fan-out until stores are wired up: records that the request
/// was picked up and what comes next, and leaves it open. It never completes a request,
/// since nothing has been exported or erased yet.
public struct PlaceholderRequestHandler: JobHandler {
    struct Payload: Decodable {
        let request_kind: RequestKind
    }

    public init() {}

    public func handle(_ job: Job, context: JobContext) async throws -> JobResult {
        guard let requestID = job.requestID else {
            throw JobFailure.permanent("request job \(job.id) has no request_id")
        }
        let payload = try job.decodePayload(Payload.self)
        let step = Self.step(for: payload.request_kind)
        context.logger.info("request accepted; awaiting connectors", metadata: ["dsr.request_kind": "\(payload.request_kind.rawValue)"])
        return JobResult(effects: [
            SQLStatement(
                """
                UPDATE dsr.requests SET status = 'in_progress', current_step = $2, updated_at = now()
                 WHERE id = $1 AND status IN ('received', 'in_progress')
                """,
                [requestID, step]),
            SQLStatement(
                """
                INSERT INTO dsr.request_events (request_id, step, detail)
                VALUES ($1, 'placeholder_step', jsonb_build_object('job_id', $2::bigint, 'attempt', $3::int, 'kind', $4::text))
                """,
                [requestID, job.id, job.attempt, payload.request_kind.rawValue]),
        ])
    }

    static func step(for kind: RequestKind) -> String {
        switch kind {
        case .access, .portability: "accepted; waiting for store connectors to assemble the export"
        case .erasure: "accepted; waiting for store connectors to erase and prove deletion"
        case .rectification: "accepted; waiting for store connectors to apply the corrections"
        case .restriction: "accepted; waiting for store connectors to restrict processing"
        case .objection, .consentWithdrawal: "accepted; waiting for the marketing store to stop processing"
        }
    }
}
