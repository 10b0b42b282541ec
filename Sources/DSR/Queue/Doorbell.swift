import Synchronization

/// Wakes one waiting task, or remembers that it was rung until someone waits.
/// Used to wake the fetch loop on NOTIFY or on a freed slot without polling.
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.rung = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns true when rung (at once, if it was rung since the last wait), false after
    /// `timeout` or when the task is cancelled. One waiter at a time.
    @discardableResult
    func wait(timeout: Duration) async -> Bool {
        if state.withLock({ state in
            defer { state.rung = false }
            return state.rung
        }) { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.waitForRing()
                return !Task.isCancelled
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let rung = await group.next() ?? false
            group.cancelAll()
            self.wakeWaiter()
            return rung
        }
    }

    private func waitForRing() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.rung || Task.isCancelled {
                        state.rung = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.wakeWaiter()
        }
    }

    private func wakeWaiter() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
