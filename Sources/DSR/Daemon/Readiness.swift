import Synchronization

/// Shared between the worker pool and the systemd notifier: whether the first database
/// round-trip succeeded, and when the fetch loop last went round (for the watchdog).
public final class Readiness: Sendable {
    private let ready = Atomic<Bool>(false)
    private let lastTickNanoseconds = Atomic<Int64>(0)
    private let origin = ContinuousClock.now

    public init() {}

    public var isReady: Bool { ready.load(ordering: .acquiring) }

    public func markReady() {
        tick()
        ready.store(true, ordering: .releasing)
    }

    /// Called by the fetch loop each time round.
    public func tick() {
        let elapsed = ContinuousClock.now - origin
        lastTickNanoseconds.store(
            elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000,
            ordering: .relaxed)
    }

    /// Time since the fetch loop last went round.
    public var sinceLastTick: Duration {
        (ContinuousClock.now - origin) - .nanoseconds(lastTickNanoseconds.load(ordering: .relaxed))
    }
}
