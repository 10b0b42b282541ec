/// How a job attempt ended, as the worker records it.
public enum JobOutcome: Sendable {
    case completed(JobResult)
    /// Failed; runs again after `retryAfter`, or becomes dead when it is `nil`. With a
    /// `retryBudget` the job is retried by time, not attempts: until its first failure plus
    /// the budget (`dsr.jobs.retry_until`), then it is dead.
    case failed(reason: String, retryAfter: Duration?, retryBudget: Duration? = nil)
    /// Given back unfinished (shutdown): available again at once, the attempt not counted.
    case released
    /// Not run now, by design (its store is paused): available again after `after`, the
    /// attempt not counted, `reason` shown as its last error.
    case postponed(after: Duration, reason: String)
}

public struct FinishedJob: Sendable {
    public let job: Job
    public let outcome: JobOutcome
}
