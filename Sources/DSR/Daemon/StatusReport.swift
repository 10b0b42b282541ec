import Foundation
import Postgres

/// What `dsrd status` prints: the same views an operator reads with psql
/// (`dsr.queue_health`, `dsr.request_status`, `dsr.overdue`).
public struct StatusReport: Sendable {
    public var text: String

    /// - Parameter limit: most open requests to list.
    public static func load(from connection: PostgresConnection, limit: Int = 50) async throws -> StatusReport {
        var sections: [String] = []

        let health = try await connection.query(
            """
            SELECT ready, scheduled, running, expired_leases, completed, dead, cancelled,
                   coalesce(oldest_ready_age::text, '-') AS oldest_ready_age, live_processes
              FROM dsr.queue_health
            """)[0]
        var queue = TextTable(headers: [
            "ready", "scheduled", "running", "expired leases", "completed", "dead",
            "cancelled", "oldest ready", "live processes",
        ])
        queue.rows.append(
            try [
                "ready", "scheduled", "running", "expired_leases", "completed", "dead", "cancelled",
            ].map { String(try health.decode($0, as: Int64.self)) }
                + [try health.decode("oldest_ready_age", as: String.self), String(try health.decode("live_processes", as: Int64.self))])
        sections.append("Queue (dsr.queue_health)\n" + queue.render())

        let open = try await connection.query(
            """
            SELECT id::text, kind, status, coalesce(days_left::text, '-') AS days_left, attempts, job_state,
                   coalesce(current_step, '') AS current_step, coalesce(last_error, '') AS last_error
              FROM dsr.request_status
             WHERE completed_at IS NULL
             ORDER BY due_at
             LIMIT $1
            """, [limit])
        var requests = TextTable(headers: ["request", "kind", "status", "days left", "attempts", "job", "step / last error"])
        for row in open {
            let error = try row.decode("last_error", as: String.self)
            let step = try row.decode("current_step", as: String.self)
            requests.rows.append([
                try row.decode("id", as: String.self), try row.decode("kind", as: String.self),
                try row.decode("status", as: String.self), try row.decode("days_left", as: String.self),
                String(try row.decode("attempts", as: Int?.self) ?? 0),
                try row.decode("job_state", as: String?.self) ?? "-",
                error.isEmpty ? step : "error: " + String(error.prefix(80)),
            ])
        }
        sections.append(
            "Open requests (dsr.request_status), most urgent first\n"
                + (requests.rows.isEmpty ? "none" : requests.render()))

        let overdue = try await connection.query(
            "SELECT id::text, kind, status, overdue_by::text FROM dsr.overdue LIMIT $1", [limit])
        var late = TextTable(headers: ["request", "kind", "status", "overdue by"])
        for row in overdue {
            late.rows.append(try ["id", "kind", "status", "overdue_by"].map { try row.decode($0, as: String.self) })
        }
        sections.append("Overdue (dsr.overdue)\n" + (late.rows.isEmpty ? "none" : late.render()))
        return StatusReport(text: sections.joined(separator: "\n\n"))
    }
}
