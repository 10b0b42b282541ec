import Synchronization

/// The jobs this process holds leases on, from claim until their outcome is recorded. A job
/// whose attempt ran past its timeout is marked overdue: the heartbeat stops renewing its
/// lease, so if its handler cannot be interrupted the rescuer frees it one lease later.
final class LeaseBook: Sendable {
    private struct Held {
        var attempt: Int
        var overdue = false
    }

    private let held = Mutex<[Int64: Held]>([:])

    func add(_ jobs: [Job]) {
        held.withLock { held in for job in jobs { held[job.id] = Held(attempt: job.attempt) } }
    }

    func remove(_ ids: some Sequence<Int64>) {
        held.withLock { held in for id in ids { held[id] = nil } }
    }

    func markOverdue(_ id: Int64) {
        held.withLock { held in held[id]?.overdue = true }
    }

    /// Every job held, overdue or not.
    var ids: [Int64] { held.withLock { Array($0.keys) } }
    /// The jobs whose leases the heartbeat renews: those still within their timeout.
    var renewable: [Int64] { held.withLock { $0.filter { !$0.value.overdue }.map(\.key) } }
    var count: Int { held.withLock { $0.count } }
}
