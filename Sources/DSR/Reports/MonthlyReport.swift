import Foundation
import Postgres

/// The figures of the DPO's monthly report, read from dsrd's database with bound parameters:
/// requests received in the month (by kind and current status), requests answered in it
/// (completed or refused: on time when `completed_at <= due_at`, the deadline as extended;
/// median and worst days from receipt to answer), cancellations, what was open and overdue
/// when the month ended, refusals by ground, and the breaches the company became aware of.
public struct MonthlyReport: Sendable {
    public let month: ReportMonth
    /// When the figures were read. For a month not yet over, "at the end of the month" means now.
    public let readAt: Date
    public let received: [Received]
    /// One row per kind answered in the month, then the total (`kind` nil).
    public let answered: [Answers]
    /// Requests cancelled in the month (ended without an answer, e.g. duplicates).
    public let cancelled: Int
    /// Requests received before the month's end and still open then.
    public let openAtEnd: Int
    /// Of those, past their deadline then.
    public let overdueAtEnd: Int
    public let refusals: [Refusals]
    /// From the breach register (`dsr.breaches`).
    public let breaches: Breaches

    public struct Received: Sendable, Equatable {
        public let kind: String
        public let status: String
        public let count: Int
    }

    public struct Answers: Sendable, Equatable {
        /// Nil for the total over every kind.
        public let kind: String?
        public let answered: Int
        public let onTime: Int
        public let medianDays: Double?
        public let worstDays: Double?

        /// Share answered by the deadline, 0 to 100; nil when nothing was answered.
        public var onTimePercent: Double? { answered == 0 ? nil : Double(onTime) * 100 / Double(answered) }
        public var late: Int { answered - onTime }
    }

    public struct Refusals: Sendable, Equatable {
        public let ground: String
        public let section: String
        public let textTH: String
        public let textEN: String
        public let count: Int
    }

    public struct Breaches: Sendable, Equatable {
        /// Breaches the company became aware of in the month.
        public let recorded: Int
        public let highRisk: Int
        public let risk: Int
        public let unlikely: Int
        /// Of those needing a PDPC notification (risk or high risk): told within 72 hours, later, not yet.
        public let notifiedInTime: Int
        public let notifiedLate: Int
        public let notNotified: Int
    }

    /// The answered total over every kind.
    public var total: Answers {
        answered.first { $0.kind == nil } ?? Answers(kind: nil, answered: 0, onTime: 0, medianDays: nil, worstDays: nil)
    }

    public var receivedCount: Int { received.reduce(0) { $0 + $1.count } }

    /// Reads the month's figures.
    public static func load(from connection: PostgresConnection, month: ReportMonth, now: Date = Date()) async throws -> MonthlyReport {
        let start = month.start
        let end = month.end
        let cutoff = min(end, now)
        let received = try await connection.query(
            """
            SELECT kind, status, count(*)::bigint AS n
              FROM dsr.requests WHERE received_at >= $1 AND received_at < $2
             GROUP BY kind, status ORDER BY kind, status
            """, [start, end]
        ).map {
            Received(
                kind: try $0.decode("kind", as: String.self), status: try $0.decode("status", as: String.self),
                count: try $0.decode("n", as: Int.self))
        }
        let rows = try await connection.query(
            """
            SELECT kind, count(*)::bigint AS answered, count(*) FILTER (WHERE completed_at <= due_at)::bigint AS on_time,
                   (percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - received_at)::float8)) / 86400 AS median_days,
                   max(extract(epoch FROM completed_at - received_at)::float8) / 86400 AS worst_days
              FROM dsr.requests
             WHERE status IN ('completed', 'refused') AND completed_at >= $1 AND completed_at < $2
             GROUP BY ROLLUP (kind)
            """, [start, end]
        ).map {
            Answers(
                kind: try $0.decode("kind", as: String?.self), answered: try $0.decode("answered", as: Int.self),
                onTime: try $0.decode("on_time", as: Int.self), medianDays: try $0.decode("median_days", as: Double?.self),
                worstDays: try $0.decode("worst_days", as: Double?.self))
        }
        // The rights in the order the report lists them everywhere, the total last.
        func place(_ answers: Answers) -> Int {
            guard let kind = answers.kind else { return Int.max }
            return ReportWords.kindOrder.firstIndex(of: kind) ?? ReportWords.kindOrder.count
        }
        let answered = rows.sorted { place($0) < place($1) }
        let ended = try await connection.query(
            """
            SELECT (SELECT count(*) FROM dsr.requests WHERE status = 'cancelled' AND completed_at >= $1 AND completed_at < $2)::bigint AS cancelled,
                   count(*)::bigint AS open, count(*) FILTER (WHERE due_at < $3)::bigint AS overdue
              FROM dsr.requests WHERE received_at < $3 AND (completed_at IS NULL OR completed_at >= $3)
            """, [start, end, cutoff])[0]
        let refusals = try await connection.query(
            """
            SELECT coalesce(r.ground, 'unspecified') AS ground, coalesce(g.section, '-') AS section,
                   coalesce(g.text_th, '') AS text_th, coalesce(g.text_en, '') AS text_en, count(*)::bigint AS n
              FROM dsr.refusals AS r LEFT JOIN dsr.refusal_grounds AS g ON g.code = coalesce(r.ground, 'unspecified')
             WHERE r.refused_at >= $1 AND r.refused_at < $2
             GROUP BY 1, 2, 3, 4 ORDER BY n DESC, ground
            """, [start, end]
        ).map {
            Refusals(
                ground: try $0.decode("ground", as: String.self), section: try $0.decode("section", as: String.self),
                textTH: try $0.decode("text_th", as: String.self), textEN: try $0.decode("text_en", as: String.self),
                count: try $0.decode("n", as: Int.self))
        }
        return MonthlyReport(
            month: month, readAt: now, received: received, answered: answered, cancelled: try ended.decode("cancelled", as: Int.self),
            openAtEnd: try ended.decode("open", as: Int.self), overdueAtEnd: try ended.decode("overdue", as: Int.self),
            refusals: refusals, breaches: try await breaches(from: connection, start: start, end: end))
    }

    /// The breach section's figures: breaches the company became aware of in the month.
    static func breaches(from connection: PostgresConnection, start: Date, end: Date) async throws -> Breaches {
        let row = try await connection.query(
            """
            SELECT count(*)::bigint AS recorded,
                   count(*) FILTER (WHERE risk = 'high')::bigint AS high, count(*) FILTER (WHERE risk = 'risk')::bigint AS risk,
                   count(*) FILTER (WHERE risk = 'unlikely')::bigint AS unlikely,
                   count(*) FILTER (WHERE risk <> 'unlikely' AND pdpc_notified_at <= became_aware_at + interval '72 hours')::bigint AS in_time,
                   count(*) FILTER (WHERE risk <> 'unlikely' AND pdpc_notified_at > became_aware_at + interval '72 hours')::bigint AS late,
                   count(*) FILTER (WHERE risk <> 'unlikely' AND pdpc_notified_at IS NULL)::bigint AS not_notified
              FROM dsr.breaches WHERE became_aware_at >= $1 AND became_aware_at < $2
            """, [start, end])[0]
        return Breaches(
            recorded: try row.decode("recorded", as: Int.self), highRisk: try row.decode("high", as: Int.self),
            risk: try row.decode("risk", as: Int.self), unlikely: try row.decode("unlikely", as: Int.self),
            notifiedInTime: try row.decode("in_time", as: Int.self), notifiedLate: try row.decode("late", as: Int.self),
            notNotified: try row.decode("not_notified", as: Int.self))
    }
}
