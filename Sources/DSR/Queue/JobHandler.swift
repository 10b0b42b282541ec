import Logging

/// Runs one kind of job.
///
/// Work outside dsrd's database (stores, files, mail) must be idempotent: a job can run
/// again after a crash. Changes to dsrd's own database go in ``JobResult/effects``: they
/// commit in the same transaction that marks the job completed, and only if this worker
/// still holds the job's lease, so they happen exactly once.
public protocol JobHandler: Sendable {
    func handle(_ job: Job, context: JobContext) async throws -> JobResult
}

public struct JobContext: Sendable {
    public let logger: Logger
    /// Identity of this worker process, as stored in `dsr.jobs.locked_by`.
    public let workerID: String
}

public struct JobResult: Sendable {
    public var effects: [SQLStatement]

    public init(effects: [SQLStatement] = []) { self.effects = effects }

    public static let none = JobResult()
}

/// Errors with a retry decision attached. Any other error thrown by a handler is retried
/// with the configured backoff until the job runs out of attempts.
public enum JobFailure: Error, CustomStringConvertible {
    /// Retrying cannot help; the job becomes dead at once.
    case permanent(String)
    /// Try again after this delay instead of the backoff.
    case retry(after: Duration, String)
    /// Not a failure: the job cannot run yet (its store is paused, or an earlier notice of its
    /// request must go first). It goes back to the queue for `after`, without counting the
    /// attempt.
    case postpone(after: Duration, String)

    public var description: String {
        switch self {
        case .permanent(let reason): reason
        case .retry(_, let reason): reason
        case .postpone(_, let reason): reason
        }
    }
}
