import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

@testable import DSR

/// The DPO's monthly report (`dsrd report`): its figures against an independent count of the
/// same requests, the month taken in the company's time zone, the HTML page, the breach section
/// only when there is a breach register, and the email through the outbox.
@Suite("Monthly DPO report")
struct MonthlyReportTests {
    static let bangkok = TimeZone(identifier: "Asia/Bangkok")!
    static let october = ReportMonth("2026-10", timeZone: bangkok)!

    /// Requests around October 2026 in Bangkok time (+07). Answered in October: A (3 days), B
    /// (17), D (refused after 2) and K (30, at its deadline to the second) on time, C (39) late:
    /// 4 of 5, 80.0%, median 17.0, longest 39.0. H is answered at 01:00 on 1 November in
    /// Bangkok, still 31 October in UTC.
    static func octoberRequests(on connection: PostgresConnection) async throws -> [String: UUID] {
        let requests: [(name: String, kind: String, received: String)] = [
            ("A", "access", "2026-10-02T10:00:00+07:00"), ("B", "erasure", "2026-10-03T09:00:00+07:00"),
            ("C", "access", "2026-09-01T09:00:00+07:00"), ("D", "rectification", "2026-10-04T09:00:00+07:00"),
            ("E", "objection", "2026-10-31T23:30:00+07:00"), ("F", "erasure", "2026-09-05T09:00:00+07:00"),
            ("G", "access", "2026-10-10T09:00:00+07:00"), ("H", "access", "2026-10-31T20:00:00+07:00"),
            ("I", "access", "2026-11-01T03:00:00+07:00"), ("J", "portability", "2026-10-12T09:00:00+07:00"),
            ("K", "erasure", "2026-10-01T08:00:00+07:00"),
        ]
        var ids: [String: UUID] = [:]
        for request in requests {
            let options = request.kind == "rectification" ? #"{"changes": {"address": "99/1 Sukhumvit"}}"# : "{}"
            ids[request.name] = try await connection.query(
                "SELECT dsr.submit($1, jsonb_build_object('email', $2::text), $3::jsonb || jsonb_build_object('received_at', $4::text)) AS id",
                [request.kind, "\(request.name.lowercased())@example.co.th", options, request.received]
            )[0].decode("id", as: UUID.self)
        }
        try await connection.cancelRequestJobs()
        let endings: [(String, String, String)] = [
            ("A", "completed", "2026-10-05T10:00:00+07:00"), ("B", "completed", "2026-10-20T09:00:00+07:00"),
            ("C", "completed", "2026-10-10T09:00:00+07:00"), ("G", "cancelled", "2026-10-11T09:00:00+07:00"),
            ("H", "completed", "2026-11-01T01:00:00+07:00"), ("J", "completed", "2026-11-20T09:00:00+07:00"),
            ("K", "completed", "2026-10-31T08:00:00+07:00"),
        ]
        for (name, status, at) in endings {
            try await connection.execute(
                "UPDATE dsr.requests SET status = $2, current_step = $2, completed_at = $3::timestamptz WHERE id = $1",
                [ids[name]!, status, at])
        }
        try await connection.execute("SELECT dsr.refuse_request($1, 'invalid_request', 'the address is the one on file')", [ids["D"]!])
        try await connection.execute(
            "UPDATE dsr.requests SET completed_at = '2026-10-06T09:00:00+07:00' WHERE id = $1", [ids["D"]!])
        return ids
    }

    @Test func theFiguresMatchAnIndependentCountOfTheMonthsRequests() async throws {
        try await TestDatabase.migrated { _, connection in
            _ = try await Self.octoberRequests(on: connection)
            let report = try await MonthlyReport.load(from: connection, month: Self.october)

            // Counted again with the month written as local dates, not as instants.
            func inOctober(_ column: String) -> String {
                "(\(column) AT TIME ZONE 'Asia/Bangkok') >= '2026-10-01' AND (\(column) AT TIME ZONE 'Asia/Bangkok') < '2026-11-01'"
            }
            let answeredInOctober = "status IN ('completed', 'refused') AND " + inOctober("completed_at")
            let received = try await connection.count("SELECT count(*) FROM dsr.requests WHERE " + inOctober("received_at"))
            let answered = try await connection.count("SELECT count(*) FROM dsr.requests WHERE \(answeredInOctober)")
            let onTime = try await connection.count(
                "SELECT count(*) FROM dsr.requests WHERE \(answeredInOctober) AND completed_at <= due_at")
            let days = try await connection.query(
                "SELECT extract(epoch FROM completed_at - received_at)::float8 / 86400 AS d FROM dsr.requests WHERE \(answeredInOctober) ORDER BY d"
            ).map { try $0.decode("d", as: Double.self) }
            let median = days.count % 2 == 1 ? days[days.count / 2] : (days[days.count / 2 - 1] + days[days.count / 2]) / 2
            let refusals = try await connection.count(
                "SELECT count(*) FROM dsr.refusals WHERE " + inOctober("refused_at"))

            #expect(report.receivedCount == received)
            #expect(report.total.answered == answered)
            #expect(report.total.onTime == onTime)
            #expect(report.total.onTimePercent == Double(onTime) * 100 / Double(answered))
            #expect(report.total.medianDays == median)
            #expect(report.total.worstDays == days.last)
            #expect(report.refusals.reduce(0) { $0 + $1.count } == refusals)
            // And what those counts must be, so that both cannot be wrong the same way.
            #expect((received, answered, onTime, refusals) == (8, 5, 4, 1))
            #expect(report.total.onTimePercent == 80)
            #expect(report.total.medianDays == 17)
            #expect(report.total.worstDays == 39)
            #expect(report.cancelled == 1)
            #expect((report.openAtEnd, report.overdueAtEnd) == (4, 1))  // E, F, H, J open at the end; F past its deadline
            #expect(
                report.refusals == [
                    .init(
                        ground: "invalid_request", section: "s.30-36", textTH: "คำขอไม่สามารถดำเนินการได้ตามที่ระบุ",
                        textEN: "The request cannot be carried out as it was made.", count: 1)
                ])
            #expect(report.received.first { $0.kind == "access" && $0.status == "completed" }?.count == 2)  // A and H; C came in September
            #expect(
                report.answered.first { $0.kind == "access" }
                    == .init(kind: "access", answered: 2, onTime: 1, medianDays: 21, worstDays: 39))
            // The breach register always exists (migration 0020): a month without breaches says so.
            #expect(
                report.breaches
                    == .init(recorded: 0, highRisk: 0, risk: 0, unlikely: 0, notifiedInTime: 0, notifiedLate: 0, notNotified: 0))

            let html = report.html(locale: "en", company: .init(), timeZone: Self.bangkok)
            #expect(html.hasPrefix("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">"))
            #expect(html.contains("<tr id=\"on-time\"><th>Answered on time</th><td class=\"number\">80.0% (4)</td></tr>"))
            #expect(html.contains("<th>Median days to answer</th><td class=\"number\">17.0</td>"))
            #expect(html.contains("<title>Monthly report: data subject rights requests — October 2026</title>"))
            #expect(html.components(separatedBy: "<svg ").count - 1 == 3)
            #expect(!html.contains("<script") && !html.contains("href=") && !html.contains("src="))
            #expect(html.contains("<h2 id=\"breaches\">Personal data breaches</h2>"))
            #expect(!html.contains("@example.co.th"), "no personal data")
            let thai = report.html(locale: "th", company: .init(), timeZone: Self.bangkok)
            #expect(thai.contains("ตุลาคม 2569") && thai.contains("<html lang=\"th\">"))
        }
    }

    /// The breach section counts the month's breaches (`dsr.breaches`) by risk and by the
    /// 72-hour notification.
    @Test func theBreachSectionCountsTheMonthsBreaches() async throws {
        try await TestDatabase.migrated { _, connection in
            try await connection.execute(
                """
                INSERT INTO dsr.breaches (summary, became_aware_at, risk, pdpc_notified_at, pdpc_reference) VALUES
                ('a', '2026-10-03T09:00:00+07:00', 'high', '2026-10-04T09:00:00+07:00', 'PDPC-a'),
                ('b', '2026-10-10T09:00:00+07:00', 'risk', '2026-10-14T09:00:00+07:00', 'PDPC-b'),
                ('c', '2026-10-20T09:00:00+07:00', 'unlikely', NULL, NULL),
                ('d', '2026-10-31T23:00:00+07:00', 'risk', NULL, NULL),
                ('e', '2026-11-01T01:00:00+07:00', 'high', NULL, NULL)
                """)
            let report = try await MonthlyReport.load(from: connection, month: Self.october)
            #expect(
                report.breaches
                    == .init(recorded: 4, highRisk: 1, risk: 2, unlikely: 1, notifiedInTime: 1, notifiedLate: 1, notNotified: 1))
            let html = report.html(locale: "en", company: .init(), timeZone: Self.bangkok)
            #expect(html.contains("<h2 id=\"breaches\">Personal data breaches</h2>"))
            #expect(html.contains("<tr><th>PDPC told after 72 hours</th><td class=\"number\">1</td></tr>"))
        }
    }

    /// `dsrd report --email` queues the report once per month; the DPO receives the template's
    /// summary as text and the whole report as the HTML part.
    @Test func theReportReachesTheDPOOnceAsAnEmail() async throws {
        try await TestDatabase.migrated { database, connection in
            _ = try await Self.octoberRequests(on: connection)
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let file = directory.appendingPathComponent("report.html").path
            let arguments = ["report", "--config", exampleConfigFile, "--database-url", database.conninfo, "--month", "2026-10"]
            let first = try await DaemonProcess.run(arguments + ["--output", file, "--email", "--lang", "en"] + SeedCompany.arguments)
            #expect(first.status == 0, "\(first.output)")
            #expect(first.output.contains("the 2026-10 report is queued to the DPO"))
            let again = try await DaemonProcess.run(arguments + ["--email"])
            #expect(again.status == 0 && again.output.contains("was queued before"), "\(again.output)")
            #expect(try await connection.count("SELECT count(*) FROM dsr.outbox WHERE template = 'dpo_monthly_report'") == 1)
            let written = try String(contentsOfFile: file, encoding: .utf8)
            #expect(written.contains("80.0% (4)"))

            let sink = try await ScriptedServer.smtpSink()
            try await database.sendNotice("dpo_monthly_report", to: sink, on: connection)
            // An ASCII subject is sent as it is, folded.
            func subject(_ message: String) -> String {
                (header("Subject", in: message) ?? "").replacingOccurrences(of: "\r\n ", with: " ")
            }
            let message = try #require(try sink.messages().first { subject($0).hasPrefix("[dsrd] monthly report 2026-10") })
            #expect(header("To", in: message) == "<dpo@smarttec.example>")
            #expect(subject(message) == "[dsrd] monthly report 2026-10: 80.0% answered on time")
            let text = plainText(of: message)
            #expect(text.contains("Answered: 5 (4 on time, 80.0%; 1 late)"), "\(text)")
            #expect(text.contains(file))
            let html = Self.htmlPart(of: message)
            #expect(html.contains("<tr id=\"on-time\"><th>Answered on time</th><td class=\"number\">80.0% (4)</td></tr>"))
            #expect(html.contains("<svg "))
            try await sink.stop()
        }
    }

    /// A month of demo-like requests renders every section. With `DSRD_EXAMPLE_REPORT=FILE`
    /// the page is written there (how docs/monthly-report-example.html was made).
    @Test func aBusyMonthRendersEverySection() async throws {
        try await TestDatabase.migrated { _, connection in
            try await DemoMonth.fill(on: connection, month: Self.october, seed: 2026)
            let report = try await MonthlyReport.load(from: connection, month: Self.october)
            #expect(report.receivedCount >= 60)
            #expect(report.total.answered > 0 && report.total.late > 0)
            #expect(report.refusals.count >= 3)
            #expect(report.breaches.recorded == 2)
            var company = DSRConfiguration.Company()
            for (key, value) in SeedCompany.settings where key == "company.name_th" { company.nameTH = value }
            let html = report.html(locale: "th", company: company, timeZone: Self.bangkok)
            #expect(html.components(separatedBy: "<svg ").count - 1 == 4)
            if let path = ProcessInfo.processInfo.environment["DSRD_EXAMPLE_REPORT"] {
                try html.write(toFile: path, atomically: true, encoding: .utf8)
            }
        }
    }

    /// The decoded text/html part of a message built by dsrd (base64 body).
    static func htmlPart(of message: String) -> String {
        guard
            let part = message.components(
                separatedBy: "Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            )
            .last,
            let encoded = part.components(separatedBy: "\r\n--").first
        else { return "" }
        return String(decoding: Data(base64Encoded: encoded.replacingOccurrences(of: "\r\n", with: "")) ?? Data(), as: UTF8.self)
    }
}

/// A month like the demo's: about three requests a day of every kind, most answered within a
/// fortnight, a few late, some refused on various grounds, a few cancelled or still open, and
/// two breaches. Seeded, so the same seed gives the same month.
enum DemoMonth {
    static func fill(on connection: PostgresConnection, month: ReportMonth, seed: UInt64) async throws {
        var random = SplitMix64(state: seed)
        let kinds = [
            ("access", 30), ("erasure", 22), ("consent_withdrawal", 14), ("objection", 10), ("rectification", 12), ("portability", 6),
            ("restriction", 6),
        ]
        let grounds = ["identity_not_verified", "legal_claims", "required_by_law", "manifestly_unfounded"]
        let days = Int(month.end.timeIntervalSince(month.start) / 86_400)
        // From 5 days before the month: some of those are answered in it, a few late.
        for index in -15..<(days * 3) {
            var pick = Int.random(in: 0..<100, using: &random)
            let kind =
                kinds.first {
                    pick -= $0.1
                    return pick < 0
                }?.0 ?? "access"
            let received = month.start.addingTimeInterval(Double(index) / 3 * 86_400 + Double.random(in: 0..<28_000, using: &random))
            let options = kind == "rectification" ? #"{"changes": {"address": "99/1 Sukhumvit"}}"# : "{}"
            let id = try await connection.query(
                "SELECT dsr.submit($1, jsonb_build_object('email', $2::text), $3::jsonb || jsonb_build_object('received_at', $4::text)) AS id",
                [kind, "demo\(index)@example.co.th", options, DateFormatter.iso(received)]
            )[0].decode("id", as: UUID.self)
            let outcome = Int.random(in: 0..<100, using: &random)
            // Those received before the month are the ones answered late, or near the deadline.
            let taken: Double =
                index < 0
                ? Double.random(in: 24...37, using: &random)
                : outcome < 80
                    ? Double.random(in: 0.02...14, using: &random)
                    : outcome < 88
                        ? Double.random(in: 14...29.5, using: &random)
                        : outcome < 92 ? Double.random(in: 30.5...38, using: &random) : 999
            let answeredAt = received.addingTimeInterval(taken * 86_400)
            guard taken < 999, answeredAt < month.end, index >= 0 || answeredAt >= month.start else { continue }
            if outcome % 10 == 3 && kind != "objection" && kind != "consent_withdrawal" {
                let ground = grounds[Int.random(in: 0..<grounds.count, using: &random)]
                let kindGround =
                    kind == "portability" || kind == "access" ? (ground == "legal_claims" ? "required_by_law" : ground) : ground
                let applies = try await connection.count(
                    "SELECT count(*) FROM dsr.refusal_grounds WHERE code = $1 AND $2 = ANY (applies_to)", [kindGround, kind])
                if applies == 1 {
                    try await connection.execute("SELECT dsr.refuse_request($1, $2, 'demo')", [id, kindGround])
                    try await connection.execute("UPDATE dsr.requests SET completed_at = $2 WHERE id = $1", [id, answeredAt])
                    continue
                }
            }
            let status = outcome % 25 == 7 ? "cancelled" : "completed"
            try await connection.execute(
                "UPDATE dsr.requests SET status = $2, current_step = $2, completed_at = $3 WHERE id = $1", [id, status, answeredAt])
        }
        try await connection.cancelRequestJobs()
        try await connection.execute(
            """
            INSERT INTO dsr.breaches (summary, became_aware_at, risk, pdpc_notified_at, pdpc_reference)
            VALUES ('demo: a laptop with an order export was stolen', $1, 'high', $1::timestamptz + interval '40 hours', 'PDPC-demo'),
                   ('demo: a newsletter sent with addresses in Cc', $2, 'unlikely', NULL, NULL)
            """, [month.start.addingTimeInterval(9 * 86_400 + 36_000), month.start.addingTimeInterval(21 * 86_400 + 50_000)])
    }
}

extension DateFormatter {
    /// `2026-10-02T03:00:00Z`.
    static func iso(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
}
