import Synchronization

/// The attempts' timeouts, kept by one loop instead of a sleeping task per attempt.
///
/// A `Task.sleep` that is cancelled returns at once, but on Linux its timer (a task and a
/// dispatch source, about 400 bytes) stays allocated until the deadline it was set for: each
/// attempt's timeout, cancelled when the attempt finished, held its memory for the length of
/// the timeout (5 minutes for a request). The daemon's memory grew with every job it ran in
/// that time, by about 0.75 KiB a job: 116 MiB after 100,000 no-op jobs. Here a wait is a
/// continuation in a table; cancelling it removes it; the loop wakes every `tick` of the
/// clock (a test's clock too) and ends the waits whose deadline has come.
final class DeadlineKeeper<C: Clock>: Sendable where C.Duration == Duration {
    private struct Waiter {
        let deadline: C.Instant
        let continuation: CheckedContinuation<Bool, Never>
    }

    private let waiters = Mutex<[UInt64: Waiter]>([:])
    private let nextID = Atomic<UInt64>(0)
    private let clock: C
    /// How late a timeout may be noticed: the shortest timeout's tenth, between 10 ms and 1 s.
    let tick: Duration

    init(clock: C, shortestTimeout: Duration) {
        self.clock = clock
        tick = min(max(shortestTimeout / 10, .milliseconds(10)), .seconds(1))
    }

    /// Waits until `deadline` has passed (true) or the waiting task is cancelled (false).
    func wait(until deadline: C.Instant) async -> Bool {
        let id = nextID.add(1, ordering: .relaxed).newValue
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                // Under the lock with the cancellation's removal: a cancellation before this
                // point is seen here, one after it finds the waiter.
                let immediate = waiters.withLock { waiters -> Bool? in
                    if Task.isCancelled { return false }
                    if clock.now >= deadline { return true }
                    waiters[id] = Waiter(deadline: deadline, continuation: continuation)
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            waiters.withLock { $0.removeValue(forKey: id) }?.continuation.resume(returning: false)
        }
    }

    /// Waits currently held (the tests' view).
    var count: Int { waiters.withLock { $0.count } }

    /// Ends the waits whose deadline has come, every `tick`, until cancelled; then ends the
    /// rest as cancelled.
    func run() async {
        while (try? await clock.sleep(for: tick)) != nil {
            let now = clock.now
            let due = waiters.withLock { waiters -> [Waiter] in
                let due = waiters.filter { $0.value.deadline <= now }
                for id in due.keys { waiters[id] = nil }
                return Array(due.values)
            }
            for waiter in due { waiter.continuation.resume(returning: true) }
        }
        let rest = waiters.withLock { waiters -> [Waiter] in
            defer { waiters.removeAll() }
            return Array(waiters.values)
        }
        for waiter in rest { waiter.continuation.resume(returning: false) }
    }
}
