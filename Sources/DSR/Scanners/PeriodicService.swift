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
public struct PeriodicService: Service {
    let work: any PeriodicWork
    let interval: Duration
    let conninfo: String
    let logger: Logger

    public init(_ work: any PeriodicWork, every interval: Duration, conninfo: String, logger: Logger) {
        self.work = work
        self.interval = interval
        self.conninfo = conninfo
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var link = DatabaseLink(conninfo: conninfo, logger: logger)
            while !Task.isCancelled {
                do {
                    try await work.run(on: try await link.connection(), logger: logger)
                    link.succeeded()
                } catch is CancellationError {
                    break
                } catch {
                    logger.warning("periodic work failed", metadata: ["dsr.work": "\(work.name)", "dsr.error": "\(error)"])
                    await link.failed(error)  // drops a broken connection, backs off
                    continue
                }
                try? await Task.sleep(for: interval)
            }
            await link.close()
        }
    }
}
