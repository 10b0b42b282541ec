import DSRTestSupport
import Foundation
import Logging
import Postgres
import TestSupport
import Testing

@testable import DSR

@Suite("Notices through the outbox")
struct NoticeTests {
    @Test func thaiCompletionNoticeReachesARealSMTPServer() async throws {
        try await TestDatabase.migrated { database, connection in
            let sink = try await ScriptedServer.smtpSink()
            let id = try await connection.query(
                "SELECT dsr.submit('access', '{\"email\": \"somchai@example.co.th\"}') AS id")[0].decode("id", as: UUID.self)
            try await connection.execute(
                "SELECT dsr.complete_request($1, '{\"rows_exported\": 42, \"stores\": \"customer, order\"}')", [id])
            try await connection.execute("SELECT dsr.complete_request($1, '{}')", [id])  // idempotent: no new notices
            try await connection.cancelRequestJobs()
            #expect(try await connection.count("SELECT count(*) FROM dsr.outbox") == 3)
            let daemon = try BackgroundDaemon(database.noticeArguments(smtpPort: sink.port))
            #expect(try await eventually { try sink.messages().count == 3 }, "\(daemon.output)")
            #expect(await daemon.stop() == 0)

            let messages = try sink.messages()
            let completed = try #require(
                messages.first { decodeHeader(header("Subject", in: $0) ?? "").hasPrefix("คำขอใช้สิทธิ์ของท่านดำเนินการเสร็จแล้ว") })
            #expect(
                decodeHeader(header("Subject", in: completed) ?? "")
                    == "คำขอใช้สิทธิ์ของท่านดำเนินการเสร็จแล้ว (เลขที่ \(id.uuidString.lowercased().prefix(8)))")
            #expect(header("To", in: completed) == "<somchai@example.co.th>")
            #expect(decodeHeader(header("From", in: completed) ?? "").contains("<privacy@smarttec.example>"))
            #expect(
                completed.contains("Content-Type: text/plain; charset=UTF-8")
                    && completed.contains("Content-Type: text/html; charset=UTF-8"))
            let body = plainText(of: completed)
            #expect(body.contains(id.uuidString.lowercased()))
            #expect(body.contains("เพื่อความปลอดภัย เราไม่ส่งข้อมูลทางอีเมล"))
            #expect(!body.contains("somchai"))
            let report = try #require(messages.first { header("To", in: $0) == "<dpo@smarttec.example>" })
            #expect(plainText(of: report).contains("42"))
            #expect(try await connection.count("SELECT count(*) FROM dsr.outbox WHERE state = 'sent' AND sent_at IS NOT NULL") == 3)
            #expect(!daemon.output.contains("somchai"))
        }
    }

    /// The acknowledgement and a refusal (or an answer) are queued close together and sent by
    /// different workers: the later one waits while the earlier is still to be sent, so the
    /// person reads them in the order they were queued.
    @Test func aLaterNoticeToThePersonWaitsUntilTheEarlierOneIsSent() async throws {
        try await TestDatabase.migrated { database, connection in
            let sink = try await ScriptedServer.smtpSink()
            let id = try await connection.query(
                "SELECT dsr.submit('access', '{\"email\": \"somchai@example.co.th\"}') AS id")[0].decode("id", as: UUID.self)
            try await connection.cancelRequestJobs()
            // The acknowledgement's job waits for a retry an hour away (its server was busy).
            #expect(
                try await connection.execute(
                    "UPDATE dsr.jobs SET run_at = now() + interval '1 hour' WHERE kind = 'notice' AND request_id = $1", [id]) == 1)
            try await connection.execute(
                "SELECT dsr.complete_request($1, '{\"rows_exported\": 1, \"stores\": \"customer\"}')", [id])
            // A notice of the request to another address does not wait for it.
            try await connection.execute(
                """
                SELECT dsr.enqueue_notice_to('test:other-address', $1, 'verification_code', 'subject', 'email',
                                             'mali@example.co.th', 'th', '{"code": "123456", "minutes": 15, "kind": "access"}')
                """, [id])
            let daemon = try BackgroundDaemon(database.noticeArguments(smtpPort: sink.port))
            // The DPO's report and the other address's notice go; the person's completion
            // waits for the acknowledgement.
            let waited = try await eventually {
                let waiting = try await connection.count(
                    """
                    SELECT count(*) FROM dsr.jobs j JOIN dsr.outbox o ON o.id = (j.payload ->> 'outbox_id')::bigint
                     WHERE o.template = 'completed' AND o.state = 'pending' AND j.state = 'available'
                       AND j.last_error LIKE 'waits for an earlier notice%' AND j.attempt = 0
                    """)
                let sent = try sink.messages().count
                return waiting == 1 && sent == 2
            }
            #expect(waited, "the completion notice did not wait for the acknowledgement: \(daemon.output)")
            #expect(
                try Set(sink.messages().compactMap { header("To", in: $0) }) == ["<dpo@smarttec.example>", "<mali@example.co.th>"])
            // The acknowledgement's retry comes: it goes, then the completion.
            try await connection.execute(
                "UPDATE dsr.jobs SET run_at = now() WHERE kind = 'notice' AND request_id = $1 AND state = 'available'", [id])
            #expect(try await eventually { try sink.messages().count == 4 }, "\(daemon.output)")
            #expect(await daemon.stop() == 0)
            let order = try await connection.query(
                "SELECT template FROM dsr.outbox WHERE request_id = $1 AND recipient = 'somchai@example.co.th' AND state = 'sent' ORDER BY sent_at",
                [id]
            ).map { try $0.decode("template", as: String.self) }
            #expect(order == ["received", "completed"])
        }
    }

    /// A notice job starts from the outbox row its claim read, without locking it: the row
    /// moves to `sending` only if it is still as read. One another worker sent meanwhile is
    /// not sent again (the locked start finds it sent); one still pending is sent once, its
    /// attempt counted once.
    @Test func aNoticeStartsFromItsClaimOnlyIfTheRowIsStillAsRead() async throws {
        try await TestDatabase.migrated { database, connection in
            let sink = try await ScriptedServer.smtpSink()
            for email in ["somchai@example.co.th", "mali@example.co.th"] {
                try await connection.execute("SELECT dsr.submit('access', jsonb_build_object('email', $1::text))", [email])
            }
            try await connection.cancelRequestJobs()
            let jobs = try await connection.transactionIf(false) { connection in
                try QueueStore.claim(connection, limit: 10, workerID: "test", lease: .seconds(60), context: .daemon)
            }
            #expect(jobs.count == 2 && jobs.allSatisfy { $0.kind == "notice" && $0.claimedRow(NoticeHandler.claimPrefix) != nil })
            let outboxIDs = try jobs.map { try $0.decodePayload(NoticeHandler.Payload.self).outbox_id }
            // Another worker (a rescued lease) sent the first meanwhile.
            try await connection.execute(
                "UPDATE dsr.outbox SET state = 'sent', sent_at = now(), send_attempts = 1 WHERE id = $1", [outboxIDs[0]])
            let configuration = try ConfigurationLoader(environment: [:]).load(
                file: ConfigurationTests.exampleFile,
                overrides: [
                    "email.smtp_url=smtp://127.0.0.1:\(sink.port)", "email.require_tls=false",
                    "email.from_address=privacy@smarttec.example", "notices.dpo_email=dpo@smarttec.example",
                ])
            let pool = ConnectionPool(conninfo: database.conninfo, maximum: 2)
            let handler = try NoticeHandler.make(configuration: configuration, pool: pool)
            let context = JobContext(logger: Logger(label: "test"), workerID: "test")
            #expect(try await handler.handle(jobs[0], context: context).effects.isEmpty)
            #expect(try sink.messages().isEmpty)
            #expect(try await handler.handle(jobs[1], context: context).effects.count == 1)
            #expect(try sink.messages().count == 1)
            let rows = try await connection.query(
                "SELECT state, send_attempts FROM dsr.outbox WHERE id = ANY($1::bigint[]) ORDER BY id", [outboxIDs])
            #expect(
                try rows.map { "\(try $0.decode("state", as: String.self)) \(try $0.decode("send_attempts", as: Int.self))" } == [
                    "sent 1", "sending 1",
                ])
            await pool.close()
        }
    }

    @Test func smsGatewayIsRetriedOnceAfterA500AndDeliveredOnce() async throws {
        try await TestDatabase.migrated { database, connection in
            let gateway = try await ScriptedServer.httpStub(statuses: [500, 201])
            let secret = FileManager.default.temporaryDirectory.appendingPathComponent("sms-\(UUID()).secret")
            try "gateway-token\n".write(to: secret, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: secret) }
            _ = try await connection.query(
                "SELECT dsr.submit('access', '{\"phone\": \"081-234-5678\"}', '{\"channels\": [\"sms\"]}')")
            try await connection.cancelRequestJobs()
            let daemon = try BackgroundDaemon(
                database.runArguments([
                    "--set", "sms.url=\(gateway.url)/2010-04-01/Messages",
                    "--set", "sms.username=AC123", "--set", "sms.password_file=\(secret.path)",
                    "--set", "company.short_name=AcmeShop",
                ]))
            #expect(
                try await eventually { try await connection.count("SELECT count(*) FROM dsr.outbox WHERE state = 'sent'") == 1 },
                "\(daemon.output)")
            #expect(await daemon.stop() == 0)
            let requests = try gateway.requests()
            try #require(requests.count == 2)
            #expect(requests[0].body == requests[1].body)
            let form = Dictionary(
                uniqueKeysWithValues: requests[1].body.split(separator: "&").map { pair -> (String, String) in
                    let parts = pair.split(separator: "=", maxSplits: 1).map {
                        String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
                    }
                    return (parts[0], parts.count > 1 ? parts[1] : "")
                })
            #expect(form["To"] == "+66812345678")
            // No sms.sender: the company's short name sends it.
            #expect(form["From"] == "AcmeShop")
            #expect(form["Body"]?.hasPrefix("AcmeShop: ได้รับคำขอ") == true)
            #expect(requests[1].headers["Authorization"] == "Basic " + Data("AC123:gateway-token".utf8).base64EncodedString())
            #expect(requests[1].headers["Idempotency-Key"]?.hasSuffix(":received:sms") == true)
            #expect(try await connection.count("SELECT send_attempts FROM dsr.outbox") == 2)
        }
    }

    @Test func smsGatewayRefusalIsMarkedFailedAndReportedToTheDPO() async throws {
        try await TestDatabase.migrated { database, connection in
            let gateway = try await ScriptedServer.httpStub(statuses: [400], body: #"{"error": "invalid number"}"#)
            _ = try await connection.query(
                "SELECT dsr.submit('objection', '{\"phone\": \"+66812345678\"}', '{\"channels\": [\"sms\"]}')")
            try await connection.cancelRequestJobs()
            let daemon = try BackgroundDaemon(
                database.runArguments([
                    "--set", "sms.url=\(gateway.url)/send", "--set", "sms.format=json",
                ]))
            #expect(
                try await eventually {
                    try await connection.count("SELECT count(*) FROM dsr.outbox WHERE template = 'dpo_delivery_failed'") == 1
                }, "\(daemon.output)")
            #expect(await daemon.stop() == 0)
            #expect(try gateway.requests().count == 1)
            let body = try #require(try gateway.requests().first?.body)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: String])
            #expect(json["To"] == "+66812345678")
            let failed = try await connection.query("SELECT state, last_error FROM dsr.outbox WHERE template = 'received'")[0]
            #expect(try failed.decode("state", as: String.self) == "failed")
            #expect(try failed.decode("last_error", as: String.self).contains("400"))
        }
    }

    @Test func requiredStartTLSMissingSendsNothingAndKeepsTheNoticePending() async throws {
        try await TestDatabase.migrated { database, connection in
            let sink = try await ScriptedServer.smtpSink()
            _ = try await connection.query("SELECT dsr.submit('access', '{\"email\": \"somchai@example.co.th\"}')")
            try await connection.cancelRequestJobs()
            let daemon = try BackgroundDaemon(
                database.noticeArguments(smtpPort: sink.port, extra: ["--set", "email.require_tls=true"]))
            #expect(
                try await eventually {
                    try await connection.count(
                        "SELECT count(*) FROM dsr.outbox WHERE state = 'pending' AND send_attempts >= 1 AND last_error IS NOT NULL") == 1
                }, "\(daemon.output)")
            #expect(await daemon.stop() == 0)
            #expect(try sink.messages().isEmpty)
            let error = try await connection.query("SELECT last_error FROM dsr.outbox")[0].decode("last_error", as: String.self)
            #expect(error.contains("SSL") || error.contains("TLS"), "\(error)")
        }
    }

    @Test func deadlineScanWarnsOnceAtDay20AndDay25AndRaisesOverdueAtDay31() async throws {
        try await TestDatabase.migrated { _, connection in
            let id = try await connection.query("SELECT dsr.submit('access', '{\"customer_id\": \"C-1\"}') AS id")[0]
                .decode("id", as: UUID.self)
            func scan(day: Int) async throws -> Int {
                try await connection.query(
                    "SELECT dsr.scan_deadlines(received_at + $2 * interval '1 day') AS queued FROM dsr.requests WHERE id = $1",
                    [id, day])[0].decode("queued", as: Int.self)
            }
            #expect(try await scan(day: 19) == 0)
            #expect(try await scan(day: 20) == 1)
            #expect(try await scan(day: 21) == 0)
            #expect(try await scan(day: 25) == 1)
            #expect(try await scan(day: 26) == 0)
            #expect(try await scan(day: 31) == 1)
            #expect(try await scan(day: 32) == 0)
            let templates = try await connection.query(
                "SELECT template, count(*) AS n FROM dsr.outbox WHERE audience = 'dpo' GROUP BY 1 ORDER BY 1"
            ).map { "\(try $0.decode("template", as: String.self))=\(try $0.decode("n", as: Int.self))" }
            #expect(templates == ["dpo_deadline_warning=2", "dpo_overdue=1"])
            // The operators' view, with the clock really moved: a request received 31 days ago.
            let late = try await connection.query(
                "SELECT dsr.submit('erasure', '{\"customer_id\": \"C-2\"}', jsonb_build_object('received_at', now() - interval '31 days')) AS id"
            )[0].decode("id", as: UUID.self)
            #expect(try await connection.query("SELECT id FROM dsr.overdue").map { try $0.decode("id", as: UUID.self) } == [late])
        }
    }

    @Test func refusalDeadJobAndOperatorActionsQueueTheirNotices() async throws {
        try await TestDatabase.migrated { _, connection in
            let id = try await connection.query(
                "SELECT dsr.submit('erasure', '{\"email\": \"a@example.com\", \"phone\": \"0812345678\"}', '{\"channels\": [\"email\", \"sms\"]}') AS id"
            )[0].decode("id", as: UUID.self)
            await #expect(throws: PostgresError.self) { try await connection.execute("SELECT dsr.refuse_request($1, '  ')", [id]) }
            try await connection.execute("SELECT dsr.extend_deadline($1, interval '30 days', 'complex request across archives')", [id])
            try await connection.execute("SELECT dsr.refuse_request($1, 'identity could not be verified')", [id])
            await #expect(throws: PostgresError.self) { try await connection.execute("SELECT dsr.refuse_request($1, 'again')", [id]) }
            let subjectNotices = try await connection.query(
                "SELECT template || '/' || channel AS n FROM dsr.outbox WHERE audience = 'subject' ORDER BY id"
            ).map { try $0.decode("n", as: String.self) }
            #expect(
                subjectNotices == ["received/email", "received/sms", "more_time/email", "more_time/sms", "refused/email", "refused/sms"])
            #expect(try await connection.count("SELECT count(*) FROM dsr.jobs WHERE kind = 'request' AND state = 'cancelled'") == 1)
            let probe = try await connection.query(
                "INSERT INTO dsr.jobs (kind, max_attempts) VALUES ('probe', 1) RETURNING id")[0].decode("id", as: Int64.self)
            try await connection.execute(
                "UPDATE dsr.jobs SET state = 'dead', finished_at = now(), last_error = 'boom' WHERE id = $1", [probe])
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.outbox WHERE template = 'dpo_dead_job' AND variables->>'last_error' = 'boom'") == 1)
        }
    }

    @Test func templatesParseAndSMSStayWithinTwoSegments() throws {
        let configuration = try ConfigurationLoader(environment: [:]).load(file: ConfigurationTests.exampleFile)
        let preview = try TemplatePreview(configuration: configuration)
        let measures = try preview.smsMeasures()
        #expect(measures.count == NoticeTemplates.locales.count * NoticeTemplates.subjectNotices.count)
        for measure in measures {
            #expect(measure.segments <= 2, "\(measure.locale)/\(measure.template): \(measure.segments)")
        }
        let report = try preview.report(includeRenderings: true)
        #expect(!report.contains("{{"))
        #expect(report.contains("25 ธันวาคม 2569"))
    }

    @Test func htmlPartEscapesAndKeepsParagraphsAndLineBreaks() {
        let html = NoticeTemplates.html(from: "เรียน <คุณ> \"A&B\"\nบรรทัดสอง\n\n\nย่อหน้าใหม่", title: "T & \"q\"")
        #expect(
            html == """
                <!DOCTYPE html>
                <html><head><meta charset="utf-8"><title>T &amp; &quot;q&quot;</title></head>
                <body>
                <p>เรียน &lt;คุณ&gt; &quot;A&amp;B&quot;<br>
                บรรทัดสอง</p>
                <p>ย่อหน้าใหม่</p>
                </body></html>

                """)
    }
}
