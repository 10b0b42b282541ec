import DSR
import Synchronization
import Testing

/// Everything the daemon reported, in order, with a cursor for the test's waits.
public final class EventLog: Sendable {
    private struct State {
        var events: [DaemonEvent] = []
        var cursor = 0
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    public init() {}

    public func append(_ event: DaemonEvent) {
        let waiter = state.withLock { state in
            state.events.append(event)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    public var all: [DaemonEvent] { state.withLock { $0.events } }

    public func next(_ what: String, limit: Duration, matches: @escaping @Sendable (DaemonEvent) -> Bool) async throws -> DaemonEvent {
        try await withThrowingTaskGroup(of: DaemonEvent?.self) { group in
            group.addTask {
                while true {
                    let found = self.state.withLock { state -> DaemonEvent? in
                        while state.cursor < state.events.count {
                            let event = state.events[state.cursor]
                            state.cursor += 1
                            if matches(event) { return event }
                        }
                        return nil
                    }
                    if let found { return found }
                    if Task.isCancelled { return nil }
                    await self.arrival()
                }
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            self.wakeWaiter()
            guard let first else {
                Issue.record("no \(what) within \(limit); the daemon reported: \(self.all)")
                throw CancellationError()
            }
            return first
        }
    }

    /// Returns at the next event (or at once when one arrived meanwhile is unread).
    private func arrival() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.cursor < state.events.count { return true }
                state.waiter = continuation
                return false
            }
            if ready { continuation.resume() }
        }
    }

    private func wakeWaiter() {
        let waiter = state.withLock { state in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
