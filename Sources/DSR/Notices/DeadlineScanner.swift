import Logging
import Postgres
import ServiceLifecycle

/// Runs `dsr.scan_deadlines` every `notices.deadline_scan_interval`: DPO warnings before each
/// open request's deadline and an overdue alarm, each created once (idempotency keys make
/// concurrent scans from several processes harmless).
public struct DeadlineScanner: Service {
    let conninfo: String
    let interval: Duration
    let warnings: [Duration]
    let logger: Logger

    public init(conninfo: String, interval: Duration, warnings: [Duration], logger: Logger) {
        self.conninfo = conninfo
        self.interval = interval
        self.warnings = warnings
        self.logger = logger
    }

    public func run() async throws {
        let periods = warnings.map { "\($0.components.seconds) seconds" }
        await cancelWhenGracefulShutdown {
            var link = DatabaseLink(conninfo: conninfo, logger: logger)
            while !Task.isCancelled {
                do {
                    let connection = try await link.connection()
                    let queued = try await connection.query(
                        "SELECT dsr.scan_deadlines(now(), $1::interval[]) AS queued", [periods]
                    )[0].decode("queued", as: Int.self)
                    if queued > 0 { logger.notice("deadline notices queued", metadata: ["dsr.count": "\(queued)"]) }
                    link.succeeded()
                } catch is CancellationError {
                    break
                } catch {
                    await link.failed(error)
                    continue
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
