import Logging
import Postgres

/// The 30-day clock: runs `dsr.scan_deadlines` (DPO warnings before each open request's
/// deadline and an overdue alarm, each created once, so concurrent scans from several
/// processes are harmless). Scheduled every `notices.deadline_scan_interval`.
public struct DeadlineScanner: PeriodicWork {
    let warnings: [Duration]

    public init(warnings: [Duration]) { self.warnings = warnings }

    public var name: String { "deadline scan" }

    public func run(on connection: PostgresConnection, logger: Logger) async throws {
        let periods = warnings.map { "\($0.components.seconds) seconds" }
        let queued = try await connection.query(
            "SELECT dsr.scan_deadlines(now(), $1::interval[]) AS queued", [periods]
        )[0].decode("queued", as: Int.self)
        if queued > 0 { logger.notice("deadline notices queued", metadata: ["dsr.count": "\(queued)"]) }
    }
}
