import Foundation
import Postgres

extension MonthlyReport {
    /// Values for the `dpo_monthly_report` template: the summary's figures as text.
    public func noticeValues(locale: String, file: String?) -> [String: Any] {
        var values: [String: Any] = [
            "month": month.description, "month_name": month.name(locale: locale), "received_count": receivedCount,
            "answered_count": total.answered, "on_time_count": total.onTime, "on_time_percent": ReportWords.percent(total.onTimePercent),
            "late_count": total.late, "median_days": ReportWords.days(total.medianDays), "worst_days": ReportWords.days(total.worstDays),
            "refused_count": refusals.reduce(0) { $0 + $1.count }, "cancelled_count": cancelled, "open_count": openAtEnd,
            "overdue_count": overdueAtEnd, "has_breaches": true, "breach_count": breaches.recorded,
        ]
        if let file { values["report_file"] = file }
        return values
    }

    /// Representative values for `dsrd templates`.
    static func sampleNoticeValues(locale: String) -> [String: Any] {
        let report = MonthlyReport(
            month: ReportMonth("2026-11", timeZone: TimeZone(identifier: "Asia/Bangkok")!)!, readAt: Date(),
            received: [
                Received(kind: "access", status: "completed", count: 38), Received(kind: "erasure", status: "in_progress", count: 15),
            ],
            answered: [Answers(kind: nil, answered: 41, onTime: 40, medianDays: 6.4, worstDays: 31.2)], cancelled: 1, openAtEnd: 12,
            overdueAtEnd: 0, refusals: [Refusals(ground: "legal_claims", section: "s.33", textTH: "", textEN: "", count: 2)],
            breaches: Breaches(recorded: 1, highRisk: 0, risk: 1, unlikely: 0, notifiedInTime: 1, notifiedLate: 0, notNotified: 0))
        return report.noticeValues(locale: locale, file: "/var/lib/dsrd/reports/dsr-report-2026-11.html")
    }

    /// Queues the report as an email to the DPO (`notices.dpo_email`, sent by `dsrd run` like
    /// every DPO notice): the `dpo_monthly_report` template's subject and text, and the whole
    /// report as the HTML part. Once per month: returns the outbox id, or nil when this month's
    /// report was queued before.
    public func queueForDPO(
        on connection: PostgresConnection, templates: NoticeTemplates, locale: String, company: DSRConfiguration.Company,
        timeZone: TimeZone, file: String?
    ) async throws -> Int64? {
        var values = noticeValues(locale: locale, file: file)
        values.merge(NoticeVocabulary.companyValues(company, locale: locale)) { $1 }
        let text = try templates.render("dpo_monthly_report", channel: .email, language: Language(code: locale), values: values)
        let html = html(locale: locale, company: company, timeZone: timeZone)
        return try await connection.query(
            "SELECT dsr.queue_dpo_report($1, $2, $3, $4) AS id", [month.description, text.subject ?? "", text.text, html]
        )[0].decode("id", as: Int64?.self)
    }
}
