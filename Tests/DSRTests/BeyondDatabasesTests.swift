import DSR
import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// Stores that are not databases: a manual store (a paper archive whose owner is emailed a
/// task), an HTTP store (the fake SaaS, which really deletes) and a processor told by webhook.
@Suite("Manual tasks, HTTP stores and processors")
struct BeyondDatabasesTests {
    @Test func anErasureAcrossSQLHTTPAndManualStoresWaitsForTheManualTaskAndItsProofListsAllThree() async throws {
        let keys = try makeKeys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let saas = try await FakeSaaS()
                let sink = try await ScriptedServer.smtpSink()
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let id = try await connection.query(
                    "SELECT dsr.submit('erasure', '{\"email\": \"somchai.test@example.co.th\"}') AS id")[0].decode("id", as: UUID.self)
                let arguments = database.noticeArguments(
                    smtpPort: sink.port,
                    extra: [
                        "--set", "exports.directory=\(exports.path)", "--set", "proofs.signing_key_file=\(keys.privateKey)",
                        "--set", "connectors.directory=\(saas.connectors.path)",
                    ])
                try await InProcessDaemon.run(arguments: arguments, environment: stores.environment, log: LogCapture(), realTime: true) {
                    daemon in
                    try await daemon.until("every task but the manual one done, and the owner emailed") {
                        let done = try await connection.count(
                            "SELECT count(*) FROM dsr.request_tasks WHERE request_id = $1 AND state = 'done'", [id])
                        let sent = try await connection.count(
                            "SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'manual_task' AND state = 'sent'", [id])
                        return done == 5 && sent == 1
                    }
                    // Three databases, the SaaS and its processor are done; the paper archive is not.
                    let tasks = try await connection.query(
                        "SELECT store, state FROM dsr.request_tasks WHERE request_id = $1 ORDER BY store", [id]
                    ).map { "\(try $0.decode("store", as: String.self)):\(try $0.decode("state", as: String.self))" }
                    #expect(
                        tasks == [
                            "customer:done", "mailing_saas:done", "marketing:done", "order:done", "paper_archive:manual",
                            "processor:mail_provider:done",
                        ])
                    #expect(
                        try await !connection.isCompleted(id))
                    #expect(
                        try await connection.query("SELECT current_step FROM dsr.requests WHERE id = $1", [id])[0]
                            .decode("current_step", as: String.self).hasPrefix("waiting for paper_archive"))
                    // The owner's email: Thai, whom to look for, what to do, how to confirm.
                    let found = try sink.messages().first { header("To", in: $0)?.contains("archive@smarttec.example") == true }
                    let mail = try #require(found)
                    let text = plainText(of: mail)
                    let task = try await connection.query("SELECT id FROM dsr.manual_tasks WHERE request_id = $1", [id])[0].decode(
                        "id", as: Int64.self)
                    #expect(text.contains("- อีเมล: somchai.test@example.co.th"))
                    #expect(text.contains("ทำลายหรือลบข้อมูลทั้งหมดของบุคคลนี้"))
                    #expect(text.contains("ตู้ 3 ห้องเอกสาร"))
                    #expect(text.contains("SELECT dsr.complete_manual_task(\(task), 'done'"))
                    #expect(decodeHeader(header("Subject", in: mail) ?? "").contains("#\(task)"))
                    // The SaaS deleted the person's contact and events, and only theirs.
                    let left = try saas.tables()
                    #expect(left["contacts"]?.map { $0["id"] as? Int } == [2])
                    #expect(left["events"]?.count == 1)
                    #expect(
                        try saas.calls().allSatisfy {
                            $0.path != "/dsr/erase" || $0.idempotencyKey == "\(id.uuidString.lowercased()):mailing_saas"
                        })
                    #expect(try saas.events().map { $0["type"] as? String } == ["erasure"])

                    // A wrong outcome or a refusal without a reason changes nothing.
                    await #expect(throws: PostgresError.self) {
                        try await connection.execute("SELECT dsr.complete_manual_task($1, 'found', 'x')", [task])
                    }
                    await #expect(throws: PostgresError.self) {
                        try await connection.execute("SELECT dsr.complete_manual_task($1, 'refused', ' ')", [task])
                    }
                    #expect(try await connection.count("SELECT count(*) FROM dsr.manual_tasks WHERE completed_at IS NOT NULL") == 0)
                    let answer = try await connection.query(
                        "SELECT dsr.complete_manual_task($1, 'done', 'shredded 2 forms, cabinet 3') AS m", [task])[0].decode(
                            "m", as: String.self)
                    #expect(answer == "manual task \(task) recorded as done; the request is being finished")
                    try await daemon.until("the request completed") {
                        try await connection.isCompleted(id)
                    }
                }
                // The proof names all three kinds of store, verifies, and the completion notice tells the person.
                let proofText = try await connection.query("SELECT proof FROM dsr.proofs WHERE request_id = $1", [id])[0].decode(
                    "proof", as: String.self)
                let verdict = ProofVerifier.verify(
                    file: Data(proofText.utf8), publicKey: try ProofKeys.load(privateKeyFile: keys.privateKey).publicKey)
                #expect(verdict.valid, "\(verdict.reasons)")
                let file = try JSONSerialization.jsonObject(with: Data(proofText.utf8)) as? [String: Any] ?? [:]
                let payload = try JSONSerialization.jsonObject(with: Data((file["payload"] as? String ?? "").utf8)) as? [String: Any] ?? [:]
                let proofStores = (payload["stores"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
                #expect(proofStores == ["customer", "mailing_saas", "marketing", "order"])
                let saasTables =
                    (payload["stores"] as? [[String: Any]] ?? []).first { $0["name"] as? String == "mailing_saas" }?["tables"]
                    as? [[String: Any]] ?? []
                #expect(saasTables.map { "\($0["name"] ?? ""):\($0["deleted"] ?? "")" } == ["contacts:1", "events:2"])
                let manual = payload["manual_tasks"] as? [[String: Any]] ?? []
                #expect(manual.map { $0["store"] as? String } == ["paper_archive"])
                #expect(manual.first?["outcome"] as? String == "done")
                #expect(manual.first?["evidence"] as? String == "shredded 2 forms, cabinet 3")
                let processors = payload["processors"] as? [[String: Any]] ?? []
                #expect(processors.map { $0["processor"] as? String } == ["mail_provider"])
                #expect((processors.first?["acknowledgement"] as? String)?.contains("ack-") == true)
                let done = try await connection.query(
                    "SELECT rendered_text FROM dsr.outbox WHERE request_id = $1 AND template = 'completed' AND channel = 'email'", [id])
                #expect(
                    try done.first?.decode("rendered_text", as: String?.self)?.contains(
                        "paper_archive: ดำเนินการแล้ว: shredded 2 forms, cabinet 3") == true)
            }
        }
    }

    /// The step shown follows the tasks: once a task that waited on someone (an HTTP store's
    /// asynchronous job) ends, the step names what is left, not the task that ended.
    @Test func theStepNamesWhatIsLeftOnceATaskWaitingOnSomeoneEnds() async throws {
        try await TestDatabase.migrated { _, connection in
            let id = try await connection.query("SELECT dsr.submit('erasure', '{\"email\": \"somchai.test@example.co.th\"}') AS id")[0]
                .decode("id", as: UUID.self)
            try await connection.execute("SELECT dsr.cancel_job(id, 'step test') FROM dsr.jobs WHERE state = 'available'")
            try await connection.execute(
                "SELECT dsr.plan_request($1, '{\"email\": [\"somchai.test@example.co.th\"]}', ARRAY['mailing_saas', 'order', 'paper_archive'], 'erase', NULL)",
                [id])
            let task = try await connection.query(
                "SELECT dsr.open_manual_task($1, 'paper_archive', 'erase', 'archive@smarttec.example', 'th', '7 days', '14 days', '{}') AS t",
                [id]
            )[0].decode("t", as: Int64.self)
            // The SaaS accepted an asynchronous deletion after the owner was asked, as
            // StoreTaskHandler.recordWaiting leaves it.
            try await connection.execute(
                "UPDATE dsr.request_tasks SET state = 'remote' WHERE request_id = $1 AND store = 'mailing_saas'", [id])
            try await connection.execute(
                "UPDATE dsr.requests SET current_step = 'waiting for mailing_saas to finish (asynchronous, polled)' WHERE id = $1", [id])
            func step() async throws -> String {
                try await connection.query("SELECT current_step FROM dsr.requests WHERE id = $1", [id])[0].decode(
                    "current_step", as: String.self)
            }
            func finish(_ store: String) async throws -> Bool {
                try await connection.query("SELECT dsr.finish_task($1, $2, '{\"rows\": 0}') AS last", [id, store])[0].decode(
                    "last", as: Bool.self)
            }

            #expect(try await finish("mailing_saas") == false)
            #expect(try await step() == "erasing: order, paper_archive (manual task \(task), with its owner) still to do")
            #expect(try await finish("order") == false)
            #expect(try await step() == "waiting for paper_archive: manual task \(task) sent to its owner")
            try await connection.execute("SELECT dsr.complete_manual_task($1, 'done', 'shredded 2 forms')", [task])
            #expect(try await step() == "signing the deletion proof")
        }
    }

    /// An access request: the SaaS's rows are in the ZIP; the paper archive's outcome is in the
    /// summary, in the person's words for it, and the request completes only once it is recorded.
    @Test func anAccessExportStatesWhatWasCheckedByHand() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let saas = try await FakeSaaS()
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let id = try await connection.query(
                    "SELECT dsr.submit('access', '{\"email\": \"somchai.test@example.co.th\"}', '{\"locale\": \"en\"}') AS id")[0]
                    .decode("id", as: UUID.self)
                try await InProcessDaemon.run(
                    arguments: database.exportArguments(exports, extra: ["--set", "connectors.directory=\(saas.connectors.path)"]),
                    environment: stores.environment, log: LogCapture(), realTime: true
                ) { daemon in
                    try await daemon.until("the owner asked") {
                        try await connection.count("SELECT count(*) FROM dsr.manual_tasks WHERE request_id = $1", [id]) == 1
                    }
                    try await connection.execute(
                        "SELECT dsr.complete_manual_task(task, 'found', 'one membership form; a copy goes to you by registered mail') FROM dsr.open_manual_tasks WHERE request_id = $1",
                        [id])
                    try await daemon.until("the request completed") {
                        try await connection.isCompleted(id)
                    }
                }
                let result = try await completedResult(connection, id)
                let bundle = try OpenedBundle(path: try #require(result["export_path"] as? String))
                #expect(try bundle.rows("mailing_saas/contacts.json").map { $0["id"] as? Int } == [1])
                #expect(try bundle.rows("mailing_saas/events.json").count == 2)
                let summary = String(decoding: try bundle.data("summary.txt"), as: UTF8.self)
                #expect(
                    summary.contains(
                        "System: paper_archive\n  Checked by hand by our staff: records found: one membership form; a copy goes to you by registered mail"
                    ),
                    "\(summary)")
                #expect(!bundle.paths.contains { $0.hasPrefix("paper_archive/") })
            }
        }
    }

    /// Reminders every `remind_every_days`, the DPO told once after `escalate_after_days`, each
    /// notice once however often the scan runs; a recorded outcome stops them.
    @Test func ownersAreRemindedAndLateTasksReachTheDPOOnce() async throws {
        try await TestDatabase.migrated { _, connection in
            let id = try await connection.query("SELECT dsr.submit('access', '{\"email\": \"somchai@example.co.th\"}') AS id")[0].decode(
                "id", as: UUID.self)
            try await connection.cancelRequestJobs()
            try await connection.execute(
                "SELECT dsr.plan_request($1, '{}'::jsonb, ARRAY['paper_archive'], 'export', 'x.zip')", [id])
            try await connection.execute(
                "SELECT dsr.cancel_job(id, 'test') FROM dsr.jobs WHERE request_id = $1 AND kind = 'store_task'", [id])
            let task = try await connection.query(
                "SELECT dsr.open_manual_task($1, 'paper_archive', 'export', 'archive@smarttec.example', 'en', '3 days', '7 days', '{\"identifiers\": \"- email: somchai@example.co.th\"}') AS t",
                [id])[0].decode("t", as: Int64.self)
            // A re-run of the store task opens nothing new.
            #expect(
                try await connection.query(
                    "SELECT dsr.open_manual_task($1, 'paper_archive', 'export', 'archive@smarttec.example', 'en', '3 days', '7 days', '{}') AS t",
                    [id])[0].decode("t", as: Int64.self) == task)
            func scan(after days: Int) async throws -> Int {
                try await connection.query("SELECT dsr.remind_manual_tasks(now() + $1 * interval '1 day') AS n", [days])[0].decode(
                    "n", as: Int.self)
            }
            func count(_ template: String) async throws -> Int {
                try await connection.count("SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = $2", [id, template])
            }
            #expect(try await count("manual_task") == 1)
            #expect(try await scan(after: 1) == 0)
            #expect(try await scan(after: 3) == 1)
            #expect(try await scan(after: 3) == 0)
            #expect(try await scan(after: 8) == 2)  // the second reminder, and the DPO
            #expect(try await scan(after: 8) == 0)
            #expect(try await count("manual_task_reminder") == 2)
            #expect(try await count("dpo_manual_task_late") == 1)
            #expect(try await connection.count("SELECT count(*) FROM dsr.open_manual_tasks WHERE task = $1", [task]) == 1)
            // An export's outcome 'found' must say how the records reach the person.
            await #expect(throws: PostgresError.self) {
                try await connection.execute("SELECT dsr.complete_manual_task($1, 'found')", [task])
            }
            _ = try await connection.query("SELECT dsr.complete_manual_task($1, 'found', 'scanned, sent by registered mail') AS m", [task])
            // The same outcome again is a no-op; a different one is an error.
            #expect(
                try await connection.query("SELECT dsr.complete_manual_task($1, 'found', 'scanned, sent by registered mail') AS m", [task])[
                    0
                ]
                .decode("m", as: String.self) == "manual task \(task) was already recorded as found")
            await #expect(throws: PostgresError.self) {
                try await connection.execute("SELECT dsr.complete_manual_task($1, 'not_found')", [task])
            }
            #expect(try await scan(after: 20) == 0)
            #expect(try await connection.count("SELECT count(*) FROM dsr.jobs WHERE request_id = $1 AND kind = 'finalize'", [id]) == 1)
        }
    }

    /// A rectification reaches the HTTP store (once, whatever the retries) and the processor.
    @Test func aRectificationChangesTheSaaSAndTellsTheProcessor() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let saas = try await FakeSaaS(manualStore: false)
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let id = try await connection.query(
                    "SELECT dsr.submit('rectification', '{\"email\": \"somchai.test@example.co.th\"}', '{\"changes\": {\"email\": \"somchai.new@example.co.th\"}}') AS id"
                )[0].decode("id", as: UUID.self)
                let run = try await runInProcessUntilCompleted(
                    id, database.exportArguments(exports, extra: ["--set", "connectors.directory=\(saas.connectors.path)"]),
                    environment: stores.environment, on: connection)
                #expect(run.completed, "\(run.output)")
                #expect(try saas.tables()["contacts"]?.first { $0["id"] as? Int == 1 }?["email"] as? String == "somchai.new@example.co.th")
                #expect(try saas.effects().map { $0["operation"] as? String } == ["rectify"])
                #expect(try saas.events().map { $0["type"] as? String } == ["rectification"])
                let result = try await completedResult(connection, id)
                let changes = result["changes"] as? [[String: Any]] ?? []
                #expect(changes.contains { $0["store"] as? String == "mailing_saas" })
                #expect((result["processors"] as? [[String: Any]])?.first?["processor"] as? String == "mail_provider")
            }
        }
    }

    /// A processor that is down when the request runs gets the event once it is back, once.
    @Test func aWebhookEndpointDownForAWhileReceivesEachEventExactlyOnce() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let saas = try await FakeSaaS(manualStore: false)
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                try await saas.server.stop()
                let id = try await connection.query(
                    "SELECT dsr.submit('objection', '{\"email\": \"somchai.test@example.co.th\"}', '{\"purposes\": [\"marketing\"]}') AS id"
                )[0].decode("id", as: UUID.self)
                let log = LogCapture()
                try await InProcessDaemon.run(
                    arguments: database.exportArguments(
                        exports,
                        extra: [
                            "--set", "connectors.directory=\(saas.connectors.path)", "--set", "queue.store_retry_max_delay=200ms",
                        ]), environment: stores.environment, log: log, realTime: true
                ) { daemon in
                    try await daemon.until("the processor's delivery failed twice") {
                        try await connection.count(
                            "SELECT count(*) FROM dsr.request_tasks WHERE request_id = $1 AND store = 'processor:mail_provider' AND failures >= 2",
                            [id]) == 1
                    }
                    #expect(
                        try await connection.query(
                            "SELECT state FROM dsr.processor_notifications WHERE request_id = $1", [id])[0].decode("state", as: String.self)
                            == "waiting")
                    try await saas.server.restart()
                    try await daemon.until("the request completed") {
                        try await connection.isCompleted(id)
                    }
                }
                let events = try saas.events()
                #expect(events.count == 1)
                #expect(events.first?["event_id"] as? String == "\(id.uuidString.lowercased()):mail_provider")
                #expect(try saas.calls().filter { $0.eventID != nil }.count == 1)
                let row = try await connection.query(
                    "SELECT state, http_status, acknowledgement FROM dsr.processor_notifications WHERE request_id = $1", [id])[0]
                #expect(try row.decode("state", as: String.self) == "done")
                #expect(try row.decode("http_status", as: Int.self) == 200)
            }
        }
    }

    @Test func mappingsOfOtherStoreTypesAreCheckedWhenLoaded() throws {
        func refusal(_ toml: String) -> String {
            do {
                _ = try ConnectorCatalog.parse(toml, source: "x.toml")
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal("name = \"paper\"\ntype = \"manual\"\n").contains("owner"))
        #expect(
            refusal(
                "name = \"paper\"\ntype = \"manual\"\nowner = \"a@b.example\"\nowner_language = \"en\"\ninstructions = { th = \"x\" }\n"
            )
            .contains("instructions"))
        #expect(
            refusal("name = \"paper\"\ntype = \"manual\"\nowner = \"a@b.example\"\ninstructions = { th = \"x\" }\nurl = \"dbname=x\"\n")
                .contains("no url"))
        #expect(refusal("name = \"paper\"\ntype = \"manual\"\nowner = \"a@b.example\"\ninstructions = { th = \"x\" }\n") == "accepted")
        let http =
            "name = \"saas\"\ntype = \"http\"\nurl = \"https://saas.example\"\n[[tables]]\nname = \"t\"\nidentity = { email = \"email\" }\n"
        #expect(refusal(http) == "accepted")
        #expect(refusal("owner = \"a@b.example\"\n" + http).contains("owner applies to type = \"manual\" stores only"))
        #expect(refusal(http + "[[processors]]\nname = \"p\"\nurl = \"https://p.example/hook\"\n").contains("secret_file"))
        #expect(
            refusal(http + "[[processors]]\nname = \"p\"\nurl = \"https://p.example/hook\"\nsecret_file = \"s\"\nevents = [\"access\"]\n")
                .contains("events: access"))
    }
}
