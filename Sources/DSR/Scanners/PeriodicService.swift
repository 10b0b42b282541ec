import Logging
import Postgres
import ServiceLifecycle

/// Work a daemon does on a schedule (the deadline clock, the minors scan, export clean-up).
public protocol PeriodicWork: Sendable {
    /// For logs: `deadline scan`, `minor scan`...
    var name: String { get }
    /// Runs once on dsrd's database. Throwing is reported and retried on the next round.
    func run(on connection: PostgresConnection, logger: Logger) async throws
}

/// Runs one `PeriodicWork` every `interval`, first at start, on a connection of its own that
/// is re-established after it breaks (so a PostgreSQL restart never leaves a scanner on a
/// dead connection). Stops on graceful shutdown.
/// The interval is measured on `clock` (tests advance a test clock).
public struct PeriodicService<C: Clock>: Service where C.Duration == Duration {
    let work: any PeriodicWork
    let interval: Duration
    let conninfo: String
    private let settings: [(name: String, value: String)]
    let clock: C
    let events: DaemonEvents
    let logger: Logger

    public init(
        _ work: any PeriodicWork, every interval: Duration, conninfo: String, settings: [(name: String, value: String)] = [],
        clock: C, events: DaemonEvents = .none, logger: Logger
    ) {
        self.work = work
        self.interval = interval
        self.conninfo = conninfo
        self.settings = settings
        self.clock = clock
        self.events = events
        self.logger = logger
    }

    /// Rounds keep to a schedule fixed at start: one every `interval`, missed ones skipped
    /// (a round that overran starts the next on the schedule, not at once); a failed round
    /// is tried again after the connection's backoff. The next round's
    /// time is fixed before the round is reported, so a test that advances its clock by one
    /// interval after the report always gets exactly one more round.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var link = DatabaseLink(conninfo: conninfo, settings: settings, logger: logger)
            var next = clock.now
            while !Task.isCancelled {
                do {
                    try await work.run(on: try await link.connection(), logger: logger)
                    link.succeeded()
                } catch is CancellationError {
                    break
                } catch {
                    logger.warning("periodic work failed", metadata: ["dsr.work": "\(work.name)", "dsr.error": "\(error)"])
                    events.emit(.periodicWorkDone(work.name))
                    await link.failed(error)  // drops a broken connection, backs off, then tries again
                    continue
                }
                next = next.nextTick(every: interval, after: clock.now)
                events.emit(.periodicWorkDone(work.name))
                try? await clock.sleep(until: next, tolerance: nil)
            }
            await link.close()
        }
    }
}
