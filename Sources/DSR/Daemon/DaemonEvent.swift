/// What the daemon reports about itself as it works, for tests and embedders that wait for
/// something to happen instead of sleeping. Emitted synchronously on the daemon's tasks: a
/// sink must return at once.
public enum DaemonEvent: Sendable, Equatable {
    /// The worker pool registered itself and is about to claim.
    case ready
    /// `LISTEN dsr_jobs` is in place: a job queued from now on wakes the pool.
    case listening
    /// One claim round: the jobs taken (none when the queue had nothing due).
    case claimed([Int64])
    /// Finished attempts committed by the completer (completed, failed or released).
    case recorded([Int64])
    /// A rescue round: how many jobs whose lease had expired went back to the queue.
    case rescued(Int)
    /// A heartbeat: how many of this process's leases were renewed.
    case leasesRenewed(Int)
    /// A job's attempt ran past its kind's timeout (`queue.*_timeout`): it is being
    /// cancelled, and its lease is no longer renewed.
    case timedOut(Int64)
    /// A periodic work round finished (`deadline scan`, `minor scan`, `export clean-up`),
    /// whether it succeeded or not.
    case periodicWorkDone(String)
    /// The check at start of a PostgreSQL store's indexes finished: how many of dsrd's
    /// lookups no index serves (each logged as a warning), or nil when the store could not
    /// be checked.
    case storeIndexesChecked(store: String, missing: Int?)
}

/// Where ``DaemonEvent``s go. `.none` drops them (what `dsrd run` uses).
public struct DaemonEvents: Sendable {
    let sink: @Sendable (DaemonEvent) -> Void

    public init(_ sink: @escaping @Sendable (DaemonEvent) -> Void) { self.sink = sink }

    public static let none = DaemonEvents { _ in }

    func emit(_ event: DaemonEvent) { sink(event) }
}
