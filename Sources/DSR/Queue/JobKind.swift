/// What a job does (`dsr.jobs.kind`): which handler runs it.
public enum JobKind: String, Sendable, CaseIterable, Codable {
    /// Plans a rights request: resolves the person, queues one store task per store.
    case request
    /// One store's part of a request: export, erase or change.
    case storeTask = "store_task"
    /// Assembles the answer (ZIP, signed proof, change report) and completes the request.
    case finalize
    /// Sends one outbox row.
    case notice
    /// A no-op used by benchmarks and health checks.
    case probe
}
