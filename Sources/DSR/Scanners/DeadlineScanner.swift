import Logging
import Postgres

/// The 30-day clock: runs `dsr.scan_deadlines` (DPO warnings before each open request's
/// deadline and an overdue alarm, each created once, so concurrent scans from several
/// processes are harmless), and `dsr.expire_unverified` (requests that waited for identity
/// verification longer than their kind's `expire_after` are refused, with a notice), and
/// `dsr.remind_manual_tasks` (owners of open manual tasks reminded, late ones reported to the
/// DPO), and `dsr.scan_breaches` (the DPO alarmed 24, 48 and 66 hours into a breach the PDPC
/// has not been told of).
/// Scheduled every `notices.deadline_scan_interval`.
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
        let expired = try await connection.query("SELECT dsr.expire_unverified(now()) AS expired")[0].decode("expired", as: Int.self)
        if expired > 0 { logger.notice("unverified requests expired", metadata: ["dsr.count": "\(expired)"]) }
        let alarms = try await connection.query("SELECT dsr.scan_breaches(now()) AS queued")[0].decode("queued", as: Int.self)
        if alarms > 0 { logger.notice("breach alarms queued", metadata: ["dsr.count": "\(alarms)"]) }
        let chased = try await connection.query("SELECT dsr.remind_manual_tasks(now()) AS queued")[0].decode("queued", as: Int.self)
        if chased > 0 { logger.notice("manual task reminders queued", metadata: ["dsr.count": "\(chased)"]) }
    }
}
