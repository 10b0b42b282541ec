/// Where a job is in the queue (`dsr.jobs.state`).
public enum JobState: String, Sendable, CaseIterable, Codable {
    /// Waiting for `run_at`, then claimable.
    case available
    /// Claimed by a worker that holds its lease.
    case running
    case completed
    /// Out of attempts or failed for good; `dsr.retry_job` makes it available again.
    case dead
    case cancelled
}
