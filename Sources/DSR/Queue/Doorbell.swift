import Dispatch
import Synchronization

/// Wakes one waiting task, or remembers that it was rung until someone waits.
/// Used to wake the fetch loop on NOTIFY or on a freed slot without polling.
///
/// A wait costs one continuation and, when it must time out, one timer on a dispatch queue:
/// the fetch loop waits once per finished job, so no task is created per wait.
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Bool, Never>?
        /// Tells a late timer or cancellation that the wait it was made for is over.
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())
    private static let timers = DispatchQueue(label: "dsrd.doorbell.timers")

    func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.rung = true
            return nil
        }
        waiter?.resume(returning: true)
    }

    /// Returns true when rung (at once, if it was rung since the last wait), false after
    /// `timeout` or when the task is cancelled. One waiter at a time.
    @discardableResult
    func wait(timeout: Duration) async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let generation = state.withLock { state -> UInt64? in
                    if state.rung {
                        state.rung = false
                        return nil
                    }
                    state.generation &+= 1
                    state.waiter = continuation
                    return state.generation
                }
                guard let generation else {
                    continuation.resume(returning: true)
                    return
                }
                if Task.isCancelled { expire(generation) }
                let nanoseconds = max(0, timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
                Self.timers.asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) { [self] in expire(generation) }
            }
        } onCancel: {
            let generation = state.withLock { $0.generation }
            expire(generation)
        }
    }

    /// Ends the wait `generation` (if it is still going) with "not rung".
    private func expire(_ generation: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard state.generation == generation, let waiter = state.waiter else { return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: false)
    }
}
