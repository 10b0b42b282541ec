import DSRTestSupport
import Foundation
import Logging
import Postgres
import TestSupport
import Testing

@testable import DSR

/// Regressions from an operator's acceptance run: promises to the person that dsrd made but
/// did not keep. Each test failed on the code before its fix.
@Suite("Promises kept to the person")
struct PromiseTests {
    // MARK: Submission

    @Test func anIdempotencyKeyCannotSwallowAnotherPersonsRequest() async throws {
        try await TestDatabase.migrated { _, connection in
            let submit = "SELECT dsr.submit($1, $2::jsonb, $3::jsonb) AS id"
            let first = try await connection.query(
                submit, ["access", #"{"email": "somchai@example.co.th"}"#, #"{"idempotency_key": "ticket-1"}"#])[0].decode(
                    "id", as: UUID.self)
            // The same request again, even written differently: the same id.
            let again = try await connection.query(
                submit, ["access", #"{"email": " Somchai@Example.CO.TH "}"#, #"{"idempotency_key": "ticket-1"}"#])[0].decode(
                    "id", as: UUID.self)
            #expect(again == first)
            let refusals: [(String, String, String, String)] = [
                ("access", #"{"email": "mali@example.co.th"}"#, #"{"idempotency_key": "ticket-1"}"#, "another person"),
                (
                    "access", #"{"email": "somchai@example.co.th", "phone": "0812345678"}"#, #"{"idempotency_key": "ticket-1"}"#,
                    "another person"
                ),
                ("erasure", #"{"email": "somchai@example.co.th"}"#, #"{"idempotency_key": "ticket-1"}"#, "another kind"),
            ]
            for (kind, subject, options, message) in refusals {
                do {
                    _ = try await connection.query(submit, [kind, subject, options])
                    Issue.record("accepted \(subject) under a used key")
                } catch let error as PostgresError {
                    #expect(error.sqlState == "22023")
                    #expect(error.message.contains(message), "\(error.message)")
                }
            }
            _ = try await connection.query(
                submit,
                ["objection", #"{"email": "somchai@example.co.th"}"#, #"{"idempotency_key": "ticket-2", "purposes": ["marketing"]}"#])
            do {
                _ = try await connection.query(
                    submit,
                    ["objection", #"{"email": "somchai@example.co.th"}"#, #"{"idempotency_key": "ticket-2", "purposes": ["analytics"]}"#])
                Issue.record("accepted a different objection under a used key")
            } catch let error as PostgresError {
                #expect(error.message.contains("different request"), "\(error.message)")
            }
            #expect(try await connection.count("SELECT count(*) FROM dsr.requests") == 2)
        }
    }

    @Test func anSMSChannelNeedsAMobileNumber() async throws {
        try await TestDatabase.migrated { _, connection in
            do {
                _ = try await connection.query(
                    "SELECT dsr.submit('access', '{\"phone\": \"02-444-3044\"}', '{\"channels\": [\"sms\"]}')")
                Issue.record("a landline was accepted as an SMS channel")
            } catch let error as PostgresError {
                #expect(error.message.contains("mobile number"), "\(error.message)")
            }
            // Without channels, a landline gives none; a mobile number gives SMS.
            let landline = try await connection.query("SELECT dsr.submit('access', '{\"phone\": \"02-444-3044\"}') AS id")[0].decode(
                "id", as: UUID.self)
            let mobile = try await connection.query("SELECT dsr.submit('access', '{\"phone\": \"081-234-5678\"}') AS id")[0].decode(
                "id", as: UUID.self)
            #expect(
                try await connection.query("SELECT channels FROM dsr.requests WHERE id = $1", [landline])[0].decode(
                    "channels", as: [String].self
                ).isEmpty)
            #expect(
                try await connection.query("SELECT channels FROM dsr.requests WHERE id = $1", [mobile])[0].decode(
                    "channels", as: [String].self) == ["sms"])
        }
    }

    @Test func aCorrectionNoStoreCanMakeIsRefusedAtSubmission() async throws {
        try await TestDatabase.migrated { _, connection in
            let mappings = try ConnectorCatalog.load(directory: StoreFixture.connectorsDirectory)
            let fanOut = FanOut(
                pool: ConnectionPool(conninfo: "", maximum: 1), connectors: mappings.map { SQLConnector(mapping: $0) },
                exportDirectory: FileManager.default.temporaryDirectory, timeZone: .current, proofKeys: nil, company: .init())
            try await fanOut.publishSubmissionRules(on: connection)
            #expect(
                try await connection.query("SELECT stores FROM dsr.correctable_fields WHERE field = 'email'")[0]
                    .decode("stores", as: [String].self) == ["customer", "marketing"])
            let cases: [(String, String)] = [
                (#"{"changes": {"shoe_size": "42"}}"#, "no store can correct"),
                (#"{"changes": {"adress": "99/1 Sukhumvit"}}"#, "no store can correct"),
                (#"{"changes": {"email": "not an address"}}"#, "corrected email is not a valid"),
                (#"{"changes": {"phone": "12"}}"#, "corrected phone is not a valid"),
                (#"{"changes": {"address": 42}}"#, "must be text"),
                (#"{"changes": {"address": "  "}}"#, "1 to 500 characters"),
            ]
            for (options, message) in cases {
                do {
                    _ = try await connection.query(
                        "SELECT dsr.submit('rectification', '{\"email\": \"somchai@example.co.th\"}', $1::jsonb)", [options])
                    Issue.record("accepted \(options)")
                } catch let error as PostgresError {
                    #expect(error.sqlState == "22023")
                    #expect(error.message.contains(message), "\(options): \(error.message)")
                    if message == "no store can correct" { #expect(error.hint?.contains("address") == true) }
                }
            }
            #expect(try await connection.count("SELECT count(*) FROM dsr.requests") == 0)
            _ = try await connection.query(
                "SELECT dsr.submit('rectification', '{\"email\": \"somchai@example.co.th\"}', '{\"changes\": {\"address\": \"99/1 ถนนสุขุมวิท\"}}')"
            )
        }
    }

    @Test(arguments: ["yesterday", "now", "epoch", "infinity", "2026-13-45", "25/11/2026", "last tuesday"])
    func receivedAtMustBeAnISO8601Timestamp(value: String) async throws {
        try await TestDatabase.migrated { _, connection in
            do {
                _ = try await connection.query(
                    "SELECT dsr.submit('access', '{\"email\": \"a@example.co.th\"}', jsonb_build_object('received_at', $1::text))", [value])
                Issue.record("received_at \(value) accepted")
            } catch let error as PostgresError {
                #expect(error.message.contains("ISO 8601"), "\(error.message)")
            }
            _ = try await connection.query(
                "SELECT dsr.submit('access', '{\"email\": \"a@example.co.th\"}', '{\"received_at\": \"2026-11-20T09:30:00+07:00\"}')")
        }
    }

    // MARK: Deadlines and constraint errors

    @Test func deadlinesMoveOnlyForwardAndWithinTheKindsMaximum() async throws {
        try await TestDatabase.migrated { _, connection in
            let id = try await connection.query(
                "SELECT dsr.submit('access', '{\"phone\": \"081-234-5678\"}') AS id")[0].decode("id", as: UUID.self)
            for (extra, message) in [
                ("-5 days", "positive interval"), ("0", "positive interval"), ("10 years", "positive interval"),
                ("31 days", "at most 60 days"),
            ] {
                do {
                    _ = try await connection.query("SELECT dsr.extend_deadline($1, $2::interval, 'archive')", [id, extra])
                    Issue.record("extension by \(extra) accepted")
                } catch let error as PostgresError {
                    #expect(error.sqlState == "22023", "\(extra)")
                    #expect(error.message.contains(message), "\(extra): \(error.message)")
                    #expect(error.detail == nil, "\(extra)")
                }
            }
            #expect(try await connection.count("SELECT count(*) FROM dsr.outbox WHERE template = 'more_time'") == 0)
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.requests WHERE id = $1 AND due_at = received_at + interval '30 days'", [id]) == 1)
            _ = try await connection.query("SELECT dsr.extend_deadline($1, interval '30 days', 'records are in the paper archive')", [id])
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.requests WHERE id = $1 AND due_at = received_at + interval '60 days'", [id]) == 1)
            #expect(try await connection.count("SELECT count(*) FROM dsr.outbox WHERE template = 'more_time'") == 1)
        }
    }

    /// Every CHECK and NOT NULL constraint of the tables that hold personal data, broken on
    /// purpose: the error names the constraint, never the row, in the reply and in the server
    /// log. The list must cover every CHECK constraint the catalog has.
    @Test func noConstraintViolationPrintsARowOfPersonalData() async throws {
        try await TestDatabase.migrated { _, connection in
            let phone = "+66898765432"
            let email = "leak.check@example.co.th"
            let id = try await connection.query(
                "SELECT dsr.submit('access', jsonb_build_object('email', $1::text, 'phone', $2::text)) AS id", [email, phone]
            )[0].decode("id", as: UUID.self)
            let requests = [
                "kind = 'bogus'", "subject = '[]'", "subject_phone = '12'", "locale = 'fr'", "channels = '{fax}'", "status = 'bogus'",
                "due_at = received_at - interval '1 day'", "status = 'refused', completed_at = now()", "completed_at = now()",
                "hold_reason = 'whim'", "status = 'awaiting_verification'", "payload = '[]'", "kind = NULL",
                "verification_method = 'guess'", "verification_evidence = repeat('x', 1001)", "contacts_on_file = '[]'",
                "representative = '\"me\"'", "approvals_required = 9",
            ]
            let outbox = [
                "audience = 'everyone'", "channel = 'fax'", "locale = 'fr'", "variables = '[]'", "state = 'bogus'",
                "recipient = NULL", "state = 'sent'", "template = NULL",
            ]
            var broken = Set<String>()
            for (table, assignments) in [("requests", requests), ("outbox", outbox)] {
                for assignment in assignments {
                    do {
                        // The assignments are the test's own literals, as an operator would type them at psql.
                        try await connection.execute(
                            "UPDATE dsr.\(table) SET \(assignment) WHERE \(table == "requests" ? "id" : "request_id") = $1", [id])
                        Issue.record("\(table): \(assignment) was accepted")
                    } catch let error as PostgresError {
                        #expect(["23514", "23502"].contains(error.sqlState ?? ""), "\(table) \(assignment): \(error)")
                        #expect(error.detail == nil, "\(table) \(assignment): \(error.detail ?? "")")
                        if let constraint = error.constraint { broken.insert("\(table).\(constraint)") }
                    }
                }
            }
            let declared = Set(
                try await connection.query(
                    "SELECT c.conrelid::regclass::text || '.' || c.conname AS name FROM pg_constraint c WHERE c.contype = 'c' AND c.conrelid IN ('dsr.requests'::regclass, 'dsr.outbox'::regclass)"
                ).map { try $0.decode("name", as: String.self).replacingOccurrences(of: "dsr.", with: "") })
            #expect(broken == declared, "not covered: \(declared.subtracting(broken).sorted())")
            if let cluster = ProcessInfo.processInfo.environment["DSRD_TEST_CLUSTER"] {
                let log = (try? String(contentsOfFile: cluster + "/server.log", encoding: .utf8)) ?? ""
                #expect(!log.contains(phone) && !log.contains(email), "the server log holds personal data")
            }
        }
    }

    // MARK: Notices

    @Test func aCancelledNoticeJobCancelsItsNoticeAndARetryRevivesIt() async throws {
        try await TestDatabase.migrated { _, connection in
            _ = try await connection.query("SELECT dsr.submit('access', '{\"email\": \"a@example.co.th\"}')")
            let job = try await connection.query("SELECT id FROM dsr.jobs WHERE kind = 'notice'")[0].decode("id", as: Int64.self)
            _ = try await connection.query("SELECT dsr.cancel_job($1, 'sent by hand')", [job])
            #expect(try await connection.query("SELECT state FROM dsr.notices")[0].decode("state", as: String.self) == "cancelled")
            _ = try await connection.query("SELECT dsr.retry_job($1)", [job])
            #expect(try await connection.query("SELECT state FROM dsr.notices")[0].decode("state", as: String.self) == "pending")
        }
    }

    /// Notices say what dsrd did, in the person's language: a lifted restriction is called
    /// lifting, an objection lists what was stopped (or that nothing was going on), the
    /// refusal SMS carries the reason, and the company's own contact appears.
    @Test func noticesSayWhatWasDone() throws {
        var configuration = DSRConfiguration()
        configuration.baseDirectory = URL(fileURLWithPath: ConfigurationTests.exampleFile).deletingLastPathComponent().path
        for (key, value) in SeedCompany.settings {
            try ConfigurationKey.all.first { $0.name == key }!.apply(&configuration, .string(value))
        }
        let templates = try NoticeTemplates(directory: configuration.resolvedPath(configuration.notices.templatesDirectory))
        func render(
            _ name: String, _ channel: String, _ locale: String, _ extra: [String: Any], kind: String = "objection", lift: Bool = false
        ) throws -> String {
            var values: [String: Any] = ["request_id": "6f48d8e7-d553-4ce3-acdf-3cc442ca4846", "short_id": "6f48d8e7"]
            values.merge(NoticeVocabulary.kindValues(kind, lift: lift, locale: locale)) { $1 }
            values.merge(NoticeVocabulary.companyValues(configuration.company, locale: locale)) { $1 }
            values.merge(extra) { $1 }
            values.merge(NoticeVocabulary.outcomeValues(values, locale: locale)) { $1 }
            let notice = try templates.render(name, channel: Channel(rawValue: channel)!, language: Language(code: locale), values: values)
            return (notice.subject ?? "") + "\n" + notice.text
        }
        let stopped: [String: Any] = [
            "changes": [
                [
                    "store": "marketing",
                    "tables": [
                        ["name": "subscriptions", "action": "withdrawn", "rows": 2],
                        ["name": "ad_audiences", "action": "deleted", "rows": 1],
                        ["name": "consents", "action": "withdrawn", "rows": 0],
                    ],
                ] as [String: Any]
            ]
        ]
        let thai = try render("completed", "email", "th", stopped)
        #expect(
            thai.contains("- marketing / subscriptions: หยุดใช้แล้ว (2 รายการ)")
                && thai.contains("- marketing / ad_audiences: ลบแล้ว (1 รายการ)"))
        #expect(!thai.contains("consents"))
        let english = try render("completed", "email", "en", stopped)
        #expect(english.contains("- marketing / subscriptions: stopped (2 records)"))
        let nothing = try render("completed", "email", "en", ["changes": [[String: Any]]()])
        #expect(nothing.contains("We found no processing of your data still going on"))
        // Rows under a phone another customer's record carries were left out: said, to the
        // person and the DPO, instead of "nothing needed to change".
        let shared: [String: Any] = ["changes": [[String: Any]](), "shared_phone_left_out": true]
        let leftOut = try render("completed", "email", "en", shared)
        #expect(leftOut.contains("records we may hold under that number alone were left as they were"), "\(leftOut)")
        #expect(!leftOut.contains("no processing"), "\(leftOut)")
        #expect(try render("completed", "email", "th", shared).contains("หมายเลขโทรศัพท์ของท่านปรากฏในข้อมูลของลูกค้ารายอื่นด้วย"))
        #expect(
            try render("completed", "email", "en", ["shared_phone_left_out": true, "rows_exported": 3], kind: "access").contains(
                "were not included in your copy"))
        #expect(try render("dpo_completion", "email", "en", shared).contains("Shared phone: the person's phone is also on another"))
        #expect(try render("dpo_completion", "email", "th", shared).contains("หมายเลขโทรศัพท์ร่วม"))
        // Someone no store knows hears that, not "erased", "ready" or "nothing needed to change".
        for kind in ["erasure", "access", "objection"] {
            let unknown = try render(
                "completed", "email", "en", ["nothing_held": true, "rows_held": 0, "changes": [[String: Any]]()], kind: kind)
            #expect(unknown.contains("hold nothing about you under the details you gave us"), "\(unknown)")
            #expect(
                !unknown.contains("has been erased") && !unknown.contains("is ready") && !unknown.contains("no processing"), "\(unknown)")
            #expect(try render("completed", "email", "th", ["nothing_held": true], kind: kind).contains("ไม่พบข้อมูลใดของท่าน"))
            #expect(try render("dpo_completion", "email", "en", ["nothing_held": true], kind: kind).contains("Nobody found"))
        }
        #expect(
            try render("received", "email", "en", [:], kind: "restriction", lift: true).contains("lifting the restriction of processing"))
        #expect(try render("received", "email", "th", [:], kind: "restriction", lift: true).contains("ยกเลิกการระงับ"))
        let sms = try render("refused", "sms", "th", ["reason": "ไม่สามารถยืนยันตัวตนของท่านได้"], kind: "access")
        #expect(sms.contains("ไม่สามารถยืนยันตัวตนของท่านได้") && !sms.contains("อีเมล"))
        #expect(
            try render("refused", "sms", "en", ["reason": "your identity could not be verified."], kind: "access").contains(
                "Reason: your identity could not be verified."))
        let erasure = try render("completed", "email", "en", ["rows_held": 0], kind: "erasure")
        #expect(!erasure.contains("the law requires us to keep"))
        #expect(try render("completed", "email", "en", ["rows_held": 3], kind: "erasure").contains("The exception is 3 record(s)"))
        // Only rows a rule keeps are called the law's; rows kept because kept rows refer to
        // them, or because the mapping keeps them, are told apart, to the person and the DPO.
        let split: [String: Any] = ["rows_held": 4, "rows_held_by_rule": 1, "rows_held_referenced": 2, "rows_kept_by_mapping": 1]
        let told = try render("completed", "email", "en", split, kind: "erasure")
        #expect(told.contains("The exception is 1 record(s) the law requires us to keep"), "\(told)")
        #expect(told.contains("2 further record(s) are kept only because other records we keep refer to them"), "\(told)")
        #expect(told.contains("1 record(s) are kept under our own retention rules"), "\(told)")
        let referencedOnly = try render(
            "completed", "email", "en", ["rows_held": 2, "rows_held_by_rule": 0, "rows_held_referenced": 2], kind: "erasure")
        #expect(!referencedOnly.contains("the law requires"), "\(referencedOnly)")
        let thaiHeld = try render("completed", "email", "th", split, kind: "erasure")
        #expect(thaiHeld.contains("จำนวน 1 รายการ") && thaiHeld.contains("อีก 2 รายการถูกเก็บไว้เพียงเพราะ"), "\(thaiHeld)")
        // Rows of a table outside the mapping point at kept rows: the person and the DPO hear
        // that someone checks them by hand.
        let unmapped: [String: Any] = [
            "rows_held": 1, "rows_held_referenced": 1,
            "held_rules": [StoreErasure.Held.referenced(by: ["customers (id)"], unmapped: ["sessions"]), "Revenue Code s.87/3"],
        ]
        #expect(try render("completed", "email", "en", unmapped, kind: "erasure").contains("not yet covered by this automatic process"))
        #expect(try render("completed", "email", "th", unmapped, kind: "erasure").contains("ยังไม่อยู่ในกระบวนการอัตโนมัตินี้"))
        #expect(try render("dpo_completion", "email", "en", unmapped, kind: "erasure").contains("Check them by hand"))
        #expect(!told.contains("not yet covered"))
        let mappedOnly: [String: Any] = [
            "rows_held": 1, "rows_held_referenced": 1,
            "held_rules": [StoreErasure.Held.referenced(by: ["customers (referred_by)"], unmapped: [])],
        ]
        #expect(!(try render("completed", "email", "en", mappedOnly, kind: "erasure").contains("not yet covered")))
        let dpo = try render("dpo_completion", "email", "en", split, kind: "erasure")
        #expect(dpo.contains("Held by a rule (legal hold, open dispute): 1  referenced by kept rows: 2  kept by the mapping: 1"), "\(dpo)")
        // Another company's name and contact, never the seed company's.
        configuration.company = .init(
            nameTH: "บริษัท ตัวอย่าง รีเทล จำกัด", nameEN: "Example Retail Co., Ltd.", shortName: "ExRetail",
            contactEmail: "privacy@example-retail.co.th", contactPhone: "02-123-4567")
        for locale in ["th", "en"] {
            for name in NoticeTemplates.subjectNotices {
                for channel in ["email", "sms"] {
                    let text = try render(name, channel, locale, ["reason": "x", "rows_held": 1, "due_at": "2026-12-25"], kind: "erasure")
                    for seed in ["SmartTec", "สมาร์ทเทค", "3044", "filmsmarttec", "{{"] {
                        #expect(!text.contains(seed), "\(locale)/\(name).\(channel) holds \(seed)")
                    }
                    if channel == "email" {
                        #expect(text.contains(locale == "en" ? "Example Retail Co., Ltd." : "บริษัท ตัวอย่าง รีเทล จำกัด"), "\(locale)/\(name)")
                        #expect(text.contains("privacy@example-retail.co.th") || name == "more_time", "\(locale)/\(name)")
                    } else {
                        #expect(text.hasPrefix("\nExRetail: "), "\(locale)/\(name).sms")
                    }
                }
            }
        }
    }

    @Test func theDaemonRefusesToStartWithoutTheCompanysContact() async throws {
        try await TestDatabase.migrated { database, _ in
            let run = try await DaemonProcess.run(["run", "--config", ConfigurationTests.exampleFile, "--database-url", database.conninfo])
            #expect(run.status == 78)
            #expect(run.output.contains("company.contact_email") && run.output.contains("not set"), "\(run.output)")
        }
    }

    /// An export folder that cannot be created (here a file stands in its way, as when a mount
    /// is missing) is not a configuration error: 73, which systemd restarts, not 78, which it
    /// gives up on. The chaos soak once met this when a daemon restarted during such an outage.
    @Test func anUnwritableExportFolderIsAnOutageNotAConfigurationError() async throws {
        try await TestDatabase.migrated { database, _ in
            let blocker = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: blocker) }
            let file = blocker.appendingPathComponent("exports")
            #expect(FileManager.default.createFile(atPath: file.path, contents: Data("not a folder\n".utf8)))
            let run = try await DaemonProcess.run(database.exportArguments(file))
            #expect(run.status == 73, "\(run.output)")
            #expect(run.output.contains("exports.directory: cannot create"), "\(run.output)")
        }
    }
}
