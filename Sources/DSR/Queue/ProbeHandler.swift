import Foundation

/// A diagnostic job (`kind = 'probe'`) for benchmarks, health checks and tests.
///
/// Payload, all optional: `sleep_ms` (work for this long, cancellable), `fail` (throw this
/// message), `fail_attempts` (fail only the first N attempts), `permanent` (fail without
/// retries), `record` (insert a row in `dsr.probe_results` on completion, to count effects).
/// With an empty payload it is a no-op.
public struct ProbeHandler: JobHandler {
    struct Payload: Decodable {
        var sleep_ms: Int?
        var fail: String?
        var fail_attempts: Int?
        var permanent: Bool?
        var record: Bool?
    }

    public init() {}

    public func handle(_ job: Job, context: JobContext) async throws -> JobResult {
        let payload = job.payload == "{}" ? Payload() : try job.decodePayload(Payload.self)
        if let milliseconds = payload.sleep_ms, milliseconds > 0 {
            try await Task.sleep(for: .milliseconds(milliseconds))
        }
        if let message = payload.fail, job.attempt <= (payload.fail_attempts ?? Int.max) {
            if payload.permanent == true { throw JobFailure.permanent(message) }
            throw ProbeError(message: message)
        }
        guard payload.record == true else { return .none }
        return JobResult(effects: [
            SQLStatement(
                "INSERT INTO dsr.probe_results (job_id, attempt, worker) VALUES ($1, $2, $3)",
                [job.id, job.attempt, context.workerID])
        ])
    }

    struct ProbeError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}
