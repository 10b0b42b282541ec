import Synchronization

/// The jobs this process holds leases on, from claim until their outcome is recorded.
final class LeaseBook: Sendable {
    private let held = Mutex<[Int64: Int]>([:])

    func add(_ jobs: [Job]) {
        held.withLock { held in for job in jobs { held[job.id] = job.attempt } }
    }

    func remove(_ ids: some Sequence<Int64>) {
        held.withLock { held in for id in ids { held[id] = nil } }
    }

    var ids: [Int64] { held.withLock { Array($0.keys) } }
    var count: Int { held.withLock { $0.count } }
}
