import DSR
import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// Breaches (PDPA s.37(4)): the record and its guards, the 24/48/66-hour alarms on a test
/// clock, the people affected found by identity resolution, the PDPC draft.
@Suite("Personal data breaches")
struct BreachTests {
    /// The DPO's email states the PDPC deadline (the outbox keeps it as `deadline`, which once
    /// rendered as nothing: "คือภายใน  (มาตรา 37(4))").
    @Test func theDPOIsToldTheDeadlineInWords() async throws {
        try await TestDatabase.migrated { database, connection in
            // An hour ago: a fixed date would, a day later, also queue the 24-hour alarm.
            let aware = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 3600).rounded())
            _ = try await connection.query(
                "SELECT dsr.report_breach('Laptop with a customer export stolen', ARRAY['contact'], ARRAY['customer'], $1, 'high') AS id",
                [aware])
            let sink = try await ScriptedServer.smtpSink()
            try await database.sendNotice("dpo_breach_reported", to: sink, on: connection)
            let text = plainText(of: try #require(try sink.messages().first))
            let bangkok = TimeZone(identifier: "Asia/Bangkok")!
            let deadline = NoticeVocabulary.date(aware.addingTimeInterval(72 * 3600), locale: "th", timeZone: bangkok)
            let fixed = try #require(DateTexts.parseISO("2026-11-26T09:00:00+07:00"))
            #expect(NoticeVocabulary.date(fixed.addingTimeInterval(72 * 3600), locale: "th", timeZone: bangkok) == "29 พฤศจิกายน 2569")
            #expect(text.contains("คือภายใน \(deadline) (มาตรา 37(4))"), "\(text)")
            try await sink.stop()
        }
    }

    /// A breach unlikely to result in a risk needs no PDPC notification: the DPO's email and
    /// dsr.breach_status give no deadline. One that is a risk cannot be closed before the PDPC
    /// was told.
    @Test func anUnlikelyRiskHasNoPDPCDeadlineAndARiskIsNotClosedUntold() async throws {
        try await TestDatabase.migrated { database, connection in
            let unlikely = try await connection.query(
                "SELECT dsr.report_breach('A printout left in the office', ARRAY['contact'], ARRAY['customer'], now(), 'unlikely') AS id"
            )[0].decode("id", as: Int.self)
            let sink = try await ScriptedServer.smtpSink()
            try await database.sendNotice("dpo_breach_reported", to: sink, on: connection)
            let text = plainText(of: try #require(try sink.messages().first))
            #expect(text.contains("จึงไม่ต้องแจ้งสำนักงานคณะกรรมการคุ้มครองข้อมูลส่วนบุคคล (มาตรา 37(4))"), "\(text)")
            #expect(!text.contains("คือภายใน"), "\(text)")
            try await sink.stop()
            #expect(
                try await connection.count("SELECT count(*) FROM dsr.breach_status WHERE id = $1 AND pdpc_deadline IS NULL", [unlikely])
                    == 1)
            let high = try await connection.query(
                "SELECT dsr.report_breach('Laptop stolen', ARRAY['contact'], ARRAY['customer'], now(), 'high') AS id")[0].decode(
                    "id", as: Int.self)
            let refusal = await #expect(throws: PostgresError.self) { try await connection.query("SELECT dsr.close_breach($1)", [high]) }
            #expect(refusal?.message == "breach \(high) (risk: high) must be notified to the PDPC before it is closed")
            #expect(try await connection.count("SELECT count(*) FROM dsr.breaches WHERE closed_at IS NOT NULL") == 0)
            _ = try await connection.query("SELECT dsr.close_breach($1)", [unlikely])
            #expect(try await connection.count("SELECT count(*) FROM dsr.breaches WHERE closed_at IS NOT NULL") == 1)
        }
    }

    @Test func alarmsFireOnceEachUntilThePDPCIsNotifiedAndTheGuardsChangeNothing() async throws {
        try await TestDatabase.migrated { _, connection in
            let aware = Date().addingTimeInterval(-3600)
            let breach = try await connection.query(
                "SELECT dsr.report_breach('Laptop with a customer export stolen', ARRAY['contact'], ARRAY['customer'], $1, 'risk') AS id",
                [aware])[0].decode("id", as: Int64.self)
            #expect(try await connection.count("SELECT count(*) FROM dsr.outbox WHERE template = 'dpo_breach_reported'") == 1)
            func scan(hours: Double) async throws -> Int {
                try await connection.query(
                    "SELECT dsr.scan_breaches($1::timestamptz + $2 * interval '1 hour') AS n", [aware, hours])[0].decode("n", as: Int.self)
            }
            #expect(try await scan(hours: 23.9) == 0)
            #expect(try await scan(hours: 24) == 1)
            #expect(try await scan(hours: 30) == 0)
            #expect(try await scan(hours: 48.5) == 1)
            #expect(try await scan(hours: 66) == 1)
            #expect(try await scan(hours: 70) == 0)
            let alarms = try await connection.query(
                "SELECT (variables ->> 'hours')::int AS h FROM dsr.outbox WHERE template = 'dpo_breach_alarm' ORDER BY id"
            ).map { try $0.decode("h", as: Int.self) }
            #expect(alarms == [24, 48, 66])

            // Guards: each refuses with a clear error and changes nothing.
            let before = try await connection.count("SELECT count(*) FROM dsr.breaches")
            let future = await postgresError {
                try await connection.execute(
                    "SELECT dsr.report_breach('x', '{}', '{}', now() + interval '1 day', 'high')")
            }
            #expect(future?.message.contains("not in the future") == true)
            let badRisk = await postgresError {
                try await connection.execute("SELECT dsr.report_breach('x', '{}', '{}', now(), 'medium')")
            }
            #expect(badRisk?.message.contains("unlikely, risk or high") == true)
            #expect(try await connection.count("SELECT count(*) FROM dsr.breaches") == before)
            let notHigh = await postgresError {
                try await connection.execute("SELECT dsr.notify_breach_subjects($1, 600)", [breach])
            }
            #expect(notHigh?.message.contains("only of a high risk") == true)
            #expect(try await connection.count("SELECT count(*) FROM dsr.outbox WHERE template = 'breach_notice'") == 0)

            // An old breach needs the reasons for the delay.
            let old = try await connection.query(
                "SELECT dsr.report_breach('Old incident', '{}', '{}', now() - interval '4 days', 'risk') AS id")[0].decode(
                    "id", as: Int64.self)
            let late = await postgresError {
                try await connection.execute("SELECT dsr.record_pdpc_notification($1, 'PDPC-1')", [old])
            }
            #expect(late?.message.contains("reasons of the delay") == true)
            #expect(try await connection.count("SELECT count(*) FROM dsr.breaches WHERE pdpc_notified_at IS NOT NULL") == 0)
            _ = try await connection.query(
                "SELECT dsr.record_pdpc_notification($1, 'PDPC-1', 'found in the annual audit') AS m", [old])
            // Once notified, no more alarms.
            _ = try await connection.query("SELECT dsr.record_pdpc_notification($1, 'PDPC-2') AS m", [breach])
            #expect(try await scan(hours: 200) == 0)
            let status = try await connection.query("SELECT hours_left, pdpc_reference FROM dsr.breach_status WHERE id = $1", [breach])[0]
            #expect(try status.decode("hours_left", as: Double?.self) == nil)
            #expect(try status.decode("pdpc_reference", as: String.self) == "PDPC-2")
        }
    }

    /// Identifiers resolve across the stores: a person given by email and again by customer id
    /// is one person; the notices are queued once each, spaced to the rate; the draft states it.
    @Test func peopleAreFoundByIdentityResolutionAndToldOnceAtTheRate() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let configuration = try InProcessDaemon.configuration(
                    arguments: database.runArguments(), environment: stores.environment)
                let fanOut = try FanOut.make(
                    configuration: configuration, pool: ConnectionPool(conninfo: database.conninfo, maximum: 2))
                let breach = try await connection.query(
                    "SELECT dsr.report_breach('Shipping labels exposed', ARRAY['contact', 'personal'], ARRAY['order'], now(), 'high', 'phishing', 'link removed') AS id"
                )[0].decode("id", as: Int64.self)
                let list = """
                    # from the incident report
                    somchai.test@example.co.th
                    customer_id:T-1
                    email:mali.test@example.co.th
                    nobody@example.com
                    """
                let affected = AffectedPeople(fanOut: fanOut)
                let given = try AffectedPeople.identifiers(fromList: list, kinds: IdentityKind.builtIn)
                #expect(given.count == 4)
                let people = try await affected.resolve(given, concurrency: 3)
                // T-1 twice is one person; T-2; and the unknown address, told on what was given.
                #expect(people.map(\.email) == ["somchai.test@example.co.th", "mali.test@example.co.th", "nobody@example.com"])
                #expect(try await affected.record(people, breach: breach, foundBy: "test list") == 3)
                #expect(try await affected.record(people, breach: breach, foundBy: "test list") == 0)
                let queued = try await connection.query("SELECT dsr.notify_breach_subjects($1, 120) AS n", [breach])[0].decode(
                    "n", as: Int.self)
                #expect(queued == 3)
                #expect(
                    try await connection.query("SELECT dsr.notify_breach_subjects($1, 120) AS n", [breach])[0].decode("n", as: Int.self)
                        == 0)
                // 120 per minute: half a second apart.
                let gaps = try await connection.query(
                    """
                    SELECT extract(epoch FROM j.run_at - lag(j.run_at) OVER (ORDER BY j.run_at))::float8 AS gap
                      FROM dsr.outbox AS o JOIN dsr.jobs AS j ON (j.payload ->> 'outbox_id')::bigint = o.id
                     WHERE o.template = 'breach_notice' ORDER BY j.run_at
                    """
                ).compactMap { try $0.decode("gap", as: Double?.self) }
                #expect(gaps.count == 2 && gaps.allSatisfy { abs($0 - 0.5) < 0.001 }, "\(gaps)")
                let draft = try await BreachDraft(configuration: configuration).render(breach: breach, language: .english, on: connection)
                #expect(draft.text.contains("Nature of the breach: Shipping labels exposed"))
                #expect(draft.text.contains("Approximate number of data subjects affected: 3"))
                #expect(draft.text.contains("3 notified or being notified"))
                let thai = try await BreachDraft(configuration: configuration).render(breach: breach, language: .thai, on: connection)
                #expect(thai.text.contains("มาตรา 37(4)"))
            }
        }
    }
}
