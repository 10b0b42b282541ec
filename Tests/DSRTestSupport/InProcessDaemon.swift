import DSR
import Foundation
import Logging
import Postgres
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import TestSupport
import Testing

/// dsrd's daemon run inside the test process on a test clock: the test waits for the
/// daemon's events and advances time itself, so nothing depends on how fast the machine is.
/// (Tests that need SIGKILL, SIGTERM, systemd's socket or a process of their own start `dsrd`
/// processes, in DSRProcessTests.)
public struct InProcessDaemon: Sendable {
    public let clock: ManualClock
    public let events: EventLog

    /// The daemon as `dsrd run` would build it from Config/dsrd.toml and `overrides`
    /// (`key=value`, as after `--set`), run until `body` returns, then shut down gracefully.
    public static func run<T: Sendable>(
        database: TestDatabase, overrides: [String] = [], environment: [String: String] = [:],
        _ body: @Sendable (InProcessDaemon) async throws -> T
    ) async throws -> T {
        try await run(
            arguments: database.runArguments(overrides.flatMap { ["--set", $0] }), environment: environment, log: LogCapture(), body)
    }

    /// The daemon built from `dsrd run`'s arguments (`--config`, `--database-url`, `--set`),
    /// its log lines kept in `log`.
    ///
    /// With `realTime`, the clock follows real time (advanced every 20 ms): for end-to-end
    /// tests that let the daemon work as in production (rescues after a crash, retries)
    /// and assert only on the outcome.
    public static func run<T: Sendable>(
        arguments: [String], environment: [String: String] = [:], log: LogCapture, realTime: Bool = false,
        _ body: @Sendable (InProcessDaemon) async throws -> T
    ) async throws -> T {
        let configuration = try configuration(arguments: arguments, environment: environment)
        let harness = InProcessDaemon(clock: ManualClock(), events: EventLog())
        let daemon = try DSRDaemon(
            configuration: configuration, clock: harness.clock, events: DaemonEvents { harness.events.append($0) },
            logger: Logger(label: "dsrd") { _ in log.handler(level: .notice) })
        return try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await daemon.run()
                    return nil
                }
                // Time starts when the pool is ready (its schedules count from then).
                try await harness.next("the worker pool ready") { $0 == .ready }
                let clockwork = realTime ? Task { await harness.followRealTime() } : nil
                defer { clockwork?.cancel() }
                // A failed body still shuts the daemon down the graceful way, on a moving
                // clock: cancelling it with its waits on a stopped test clock would hang.
                let result: Result<T, any Error>
                do { result = .success(try await body(harness)) } catch { result = .failure(error) }
                trigger.triggerGracefulShutdown()
                // The shutdown's waits (the grace period, the completer's drain) run on the test
                // clock: keep it moving until the daemon has stopped.
                let pump = Task {
                    while !Task.isCancelled {
                        harness.clock.advance(by: .milliseconds(500))
                        try? await Task.sleep(for: .milliseconds(5))
                    }
                }
                defer { pump.cancel() }
                for try await _ in group {}
                return try result.get()
            }
        }
    }

    /// The configuration `dsrd run` would load from `arguments` (`--config`, `--database-url`,
    /// `--set`) and `environment`.
    public static func configuration(arguments: [String], environment: [String: String]) throws -> DSRConfiguration {
        var file = exampleConfigFile
        var settings: [String] = []
        var rest = arguments.drop { $0 == "run" }[...]
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { throw ConfigurationError("\(flag) needs a value") }
            switch flag {
            case "--config": file = value
            case "--database-url": settings.append("database.url=\(value)")
            case "--set": settings.append(value)
            default: throw ConfigurationError("an in-process daemon does not take \(flag)")
            }
        }
        return try ConfigurationLoader(environment: environment).load(file: file, overrides: settings)
    }

    /// Advances the clock as real time passes, until cancelled.
    public func followRealTime() async {
        let start = ContinuousClock.now
        var followed = Duration.zero
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
            let elapsed = ContinuousClock.now - start
            clock.advance(by: elapsed - followed)
            followed = elapsed
        }
    }

    /// Waits for the next event (after those already waited for) that `matches`. Fails the
    /// test, instead of hanging, when none comes within `limit` of real time: a bound on a
    /// broken test, not a timing assertion.
    @discardableResult
    public func next(_ what: String, limit: Duration = .seconds(60), matches: @escaping @Sendable (DaemonEvent) -> Bool) async throws
        -> DaemonEvent
    {
        try await events.next(what, limit: limit, matches: matches)
    }

    /// The start-up index checks (``DaemonEvent/storeIndexesChecked(store:missing:)``) of the
    /// stores in `stores`, once each has reported, whether before the pool was ready or after:
    /// how many lookups no index serves, or nil when the store could not be checked.
    public func indexChecks(of stores: Set<String>) async throws -> [String: Int?] {
        @Sendable func reported() -> [String: Int?] {
            var found: [String: Int?] = [:]
            for event in events.all {
                if case .storeIndexesChecked(let store, let missing) = event, stores.contains(store) { found[store] = missing }
            }
            return found
        }
        while reported().count < stores.count {
            try await next("the index checks of \(stores.sorted())") { if case .storeIndexesChecked = $0 { true } else { false } }
        }
        return reported()
    }

    /// Advances the test clock by `queue.poll_interval` of the test settings, so the pool
    /// looks for due jobs as it does when a notification was lost, and returns what the
    /// next claim took.
    @discardableResult
    public func poll() async throws -> [Int64] {
        clock.advance(by: .milliseconds(200))
        let event = try await next("a claim after the poll interval") { if case .claimed = $0 { true } else { false } }
        guard case .claimed(let ids) = event else { return [] }
        return ids
    }

    /// Polls until a claim takes job `id` (a claim already under way when the clock moved
    /// may come first and take nothing).
    public func pollUntilClaimed(_ id: Int64) async throws {
        for _ in 0..<20 where try await poll().contains(id) { return }
        Issue.record("job \(id) was not claimed in 20 polls; the daemon reported: \(events.all)")
    }

    /// Waits until `condition` (read from the database) holds, checking it at start and after
    /// every commit of finished jobs. Fails the test when it still does not hold after `limit`
    /// of real time, however busy the daemon is meanwhile (a daemon retrying forever commits
    /// attempts forever): a bound on a broken test, not a timing assertion.
    public func until(_ what: String, limit: Duration = .seconds(120), _ condition: @escaping @Sendable () async throws -> Bool)
        async throws
    {
        let deadline = ContinuousClock.now + limit
        while try await !condition() {
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                Issue.record("\(what): not so after \(limit); the daemon reported last: \(events.all.suffix(20))")
                throw CancellationError()
            }
            try await next(what, limit: min(left, .seconds(60))) { if case .recorded = $0 { true } else { false } }
        }
    }

    /// Waits until the completer has committed an attempt of each job in `ids` (counting
    /// only commits after the events already waited for).
    public func recorded(_ ids: Int64...) async throws {
        var remaining = Set(ids)
        while !remaining.isEmpty {
            let missing = remaining
            let event = try await next("jobs \(missing.sorted()) recorded") {
                if case .recorded(let recorded) = $0 { !missing.isDisjoint(with: recorded) } else { false }
            }
            if case .recorded(let recorded) = event { remaining.subtract(recorded) }
        }
    }
}

/// Runs the daemon in-process, its clock following real time, until request `id` is
/// completed (or nothing is recorded for a minute), then shuts it down; the in-process twin
/// of `runUntilCompleted`.
public func runInProcessUntilCompleted(
    _ id: UUID, _ arguments: [String], environment: [String: String] = [:], on connection: PostgresConnection
) async throws -> FinishedRun {
    let log = LogCapture()
    do {
        try await InProcessDaemon.run(arguments: arguments, environment: environment, log: log, realTime: true) { daemon in
            try await daemon.until("request \(id) completed") {
                try await connection.isCompleted(id)
            }
        }
    } catch {
        return FinishedRun(completed: false, status: 1, output: log.text + "\n\(error)")
    }
    return FinishedRun(completed: true, status: 0, output: log.text)
}
