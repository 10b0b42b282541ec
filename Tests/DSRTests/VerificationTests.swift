import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

@testable import DSR

/// A request is verified before any store is touched: a one-time code goes to a contact the
/// stores already hold for the person (never only to an address the requester typed), an
/// operator can verify instead, and unverified requests lapse. These tests keep the shipped
/// `dsr.verification_policy` (`TestDatabase.migrated(verification: true)`).
@Suite("Identity verification")
struct VerificationTests {
    func status(_ connection: PostgresConnection, _ id: UUID) async throws -> (status: String, hold: String?) {
        let row = try await connection.query("SELECT status, hold_reason FROM dsr.requests WHERE id = $1", [id])[0]
        return (try row.decode("status", as: String.self), try row.decode("hold_reason", as: String?.self))
    }

    /// The code of the newest verification notice, read from the outbox before it is sent.
    func pendingCode(_ connection: PostgresConnection, _ id: UUID) async throws -> String {
        try await connection.query(
            "SELECT variables ->> 'code' AS code FROM dsr.outbox WHERE request_id = $1 AND template = 'verification_code' ORDER BY id DESC LIMIT 1",
            [id]
        )[0].decode("code", as: String.self)
    }

    /// Some other six digits.
    func wrong(_ code: String) -> String { String(format: "%06d", ((Int(code) ?? 0) + 1) % 1_000_000) }

    func confirm(_ connection: PostgresConnection, _ id: UUID, _ code: String) async throws -> String {
        try await connection.query("SELECT dsr.confirm_verification_code($1, $2) AS outcome", [id, code])[0].decode(
            "outcome", as: String.self)
    }

    /// Someone types T-1's customer id and their own address. The daemon finds T-1, holds the
    /// erasure, mails a code to the address on file (not the typed one) and touches no store.
    /// A wrong code is counted; the code from T-1's mailbox lets the erasure run. Afterwards the
    /// outbox no longer holds the code.
    @Test func anErasureWaitsForTheCodeSentToTheEmailOnFileAndTouchesNoStoreUntilThen() async throws {
        try await TestDatabase.migrated(verification: true) { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let sink = try await ScriptedServer.smtpSink()
                let keys = try makeKeys()
                let exports = try temporaryDirectory()
                defer {
                    try? FileManager.default.removeItem(at: exports)
                    try? FileManager.default.removeItem(at: keys.directory)
                }
                let id = try await connection.query(
                    "SELECT dsr.submit('erasure', '{\"customer_id\": \"T-1\", \"email\": \"someone.else@example.com\"}') AS id"
                )[0].decode("id", as: UUID.self)
                let notices = [
                    "--set", "email.smtp_url=smtp://127.0.0.1:\(sink.port)", "--set", "email.require_tls=false",
                    "--set", "email.from_address=privacy@smarttec.example", "--set", "notices.dpo_email=dpo@smarttec.example",
                ]
                let daemon = try BackgroundDaemon(
                    database.erasureArguments(exports, key: keys.privateKey, extra: notices), environment: stores.environment)
                let onFile = "<somchai.test@example.co.th>"
                #expect(
                    try await eventually {
                        try sink.messages().contains {
                            header("To", in: $0) == onFile && decodeHeader(header("Subject", in: $0) ?? "").contains("รหัส")
                        }
                    }, "\(daemon.output)")
                #expect(try await status(connection, id) == ("awaiting_verification", "unverified"))
                let mail = try #require(
                    try sink.messages().first {
                        header("To", in: $0) == onFile && decodeHeader(header("Subject", in: $0) ?? "").contains("รหัส")
                    })
                let code = try #require(verificationCode(in: mail))
                #expect(!decodeHeader(header("Subject", in: mail) ?? "").contains(code), "the code shows in mailbox previews")
                // The typed address got the acknowledgement, never a code.
                for message in try sink.messages() where header("To", in: message) == "<someone.else@example.com>" {
                    #expect(!message.contains(code))
                }
                // Nothing was planned and no store changed.
                #expect(try await connection.count("SELECT count(*) FROM dsr.request_tasks WHERE request_id = $1", [id]) == 0)
                #expect(
                    try await connection.count("SELECT count(*) FROM dsr.jobs WHERE request_id = $1 AND kind = 'store_task'", [id]) == 0)
                let customer = try await PostgresConnection.connect(stores.url("customer"))
                #expect(try await customer.count("SELECT count(*) FROM customers WHERE id = 'T-1' AND email IS NOT NULL") == 1)

                #expect(try await confirm(connection, id, wrong(code)) == "wrong")
                #expect(try await confirm(connection, id, code) == "verified")
                #expect(
                    try await eventually {
                        try await connection.isCompleted(id)
                    }, "\(daemon.output)")
                #expect(try await customer.count("SELECT count(*) FROM customers WHERE id = 'T-1' AND email IS NOT NULL") == 0)
                await customer.close()
                let verified = try await connection.query(
                    "SELECT verification_method, verified_by FROM dsr.requests WHERE id = $1", [id])[0]
                #expect(try verified.decode("verification_method", as: String.self) == "code")
                #expect(try verified.decode("verified_by", as: String.self) == "person")
                #expect(try await connection.count("SELECT count(*) FROM dsr.proofs WHERE request_id = $1", [id]) == 1)
                #expect(await daemon.stop() == 0)
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.outbox WHERE variables ? 'code' OR rendered_text LIKE '%' || $1 || '%' OR rendered_subject LIKE '%' || $1 || '%'",
                        [code]) == 0)
                #expect(!daemon.output.contains(code) && !daemon.output.contains("somchai"))
                try await sink.stop()
            }
        }
    }

    /// Five wrong codes lock the request: the right code no longer works, the DPO is told,
    /// and only an operator's verification lets it go on.
    @Test func fiveWrongCodesLockTheRequestAndTellTheDPO() async throws {
        try await TestDatabase.migrated(verification: true) { _, connection in
            let id = try await connection.query(
                "SELECT dsr.submit('access', '{\"email\": \"somchai@example.co.th\"}') AS id")[0].decode("id", as: UUID.self)
            try await connection.cancelRequestJobs()  // the request job's part, done here by hand
            #expect(
                try await connection.query(
                    "SELECT dsr.start_verification($1, '{\"email\": [\"somchai@example.co.th\"], \"phone\": []}') AS outcome", [id]
                )[0].decode("outcome", as: String.self) == "sent")
            let code = try await pendingCode(connection, id)
            for attempt in 1...4 { #expect(try await confirm(connection, id, wrong(code)) == "wrong", "attempt \(attempt)") }
            #expect(try await confirm(connection, id, "not a code") == "locked")
            #expect(try await confirm(connection, id, code) == "locked")
            #expect(try await status(connection, id) == ("awaiting_verification", "verification_locked"))
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'dpo_verification_locked'", [id]) == 1)
            #expect(
                try await connection.query("SELECT dsr.send_verification_code($1) AS outcome", [id])[0].decode(
                    "outcome", as: String.self) == "not_waiting_for_code")
            do {
                try await connection.execute("SELECT dsr.verify_identity($1, 'in_person', '')", [id])
                Issue.record("a verification without evidence was accepted")
            } catch let error as PostgresError { #expect(error.sqlState == "22023") }
            try await connection.execute(
                "SELECT dsr.verify_identity($1, 'in_person', 'Thai ID card seen at the Bangkok office', 'nok')", [id])
            #expect(try await status(connection, id) == ("received", nil))
            let row = try await connection.query(
                "SELECT verification_method, verification_evidence, verified_by FROM dsr.requests WHERE id = $1", [id])[0]
            #expect(try row.decode("verification_method", as: String.self) == "in_person")
            #expect(try row.decode("verified_by", as: String.self) == "nok")
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.jobs WHERE request_id = $1 AND kind = 'request' AND state = 'available'", [id]) == 1)
            #expect(try await connection.query("SELECT dsr.needs_verification($1) AS n", [id])[0].decode("n", as: Bool.self) == false)
        }
    }

    /// A code stops working after its time and when a newer one is sent; a request gets a
    /// limited number of codes; a request nobody verifies is refused after 14 days, with a
    /// notice saying why.
    @Test func codesExpireAndUnverifiedRequestsLapse() async throws {
        try await TestDatabase.migrated(verification: true) { _, connection in
            let id = try await connection.query(
                "SELECT dsr.submit('erasure', '{\"email\": \"somchai@example.co.th\"}', '{\"locale\": \"en\"}') AS id"
            )[0].decode("id", as: UUID.self)
            try await connection.cancelRequestJobs()
            _ = try await connection.query("SELECT dsr.start_verification($1, '{\"email\": [\"somchai@example.co.th\"]}')", [id])
            let first = try await pendingCode(connection, id)
            try await connection.execute(
                "UPDATE dsr.verification_codes SET expires_at = now() - interval '1 second' WHERE request_id = $1", [id])
            #expect(try await confirm(connection, id, first) == "expired")
            for expected in ["sent", "sent", "too_many_codes"] {
                #expect(
                    try await connection.query("SELECT dsr.send_verification_code($1) AS outcome", [id])[0].decode(
                        "outcome", as: String.self) == expected)
            }
            let third = try await pendingCode(connection, id)
            if third != first { #expect(try await confirm(connection, id, first) == "wrong") }  // an older code is revoked
            #expect(try await connection.query("SELECT dsr.expire_unverified(now()) AS n")[0].decode("n", as: Int.self) == 0)
            #expect(
                try await connection.query("SELECT dsr.expire_unverified(now() + interval '15 days') AS n")[0].decode("n", as: Int.self)
                    == 1)
            #expect(try await status(connection, id) == ("refused", nil))
            let reason = try await connection.query(
                "SELECT variables ->> 'reason' AS reason FROM dsr.outbox WHERE request_id = $1 AND template = 'refused'", [id]
            )[0].decode("reason", as: String.self)
            #expect(reason.contains("not verified within 14 days"))
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.request_events WHERE request_id = $1 AND step = 'verification_expired'", [id]) == 1)
            #expect(try await confirm(connection, id, third) == "not_waiting_for_code")
        }
    }

    /// The policy per kind: an objection or a withdrawal only stops processing and needs no
    /// code; a request an operator took after checking an ID card is verified at submission;
    /// a malformed verification is refused and writes nothing.
    @Test func thePolicyDecidesPerKindAndAnOperatorCanVerifyAtSubmission() async throws {
        try await TestDatabase.migrated(verification: true) { _, connection in
            func needs(_ kind: String, _ options: String = "{}") async throws -> Bool {
                let id = try await connection.query(
                    "SELECT dsr.submit($1, '{\"email\": \"somchai@example.co.th\"}', $2::jsonb) AS id", [kind, options]
                )[0].decode("id", as: UUID.self)
                return try await connection.query("SELECT dsr.needs_verification($1) AS n", [id])[0].decode("n", as: Bool.self)
            }
            for kind in ["access", "portability", "erasure", "restriction"] { #expect(try await needs(kind), "\(kind)") }
            #expect(try await needs("objection", #"{"purposes": ["marketing"]}"#) == false)
            #expect(try await needs("consent_withdrawal", #"{"purposes": ["marketing"]}"#) == false)
            let checked = #"{"verification": {"method": "in_person", "evidence": "Thai ID card seen", "operator": "nok"}}"#
            #expect(try await needs("erasure", checked) == false)
            let scan = #"{"verification": {"method": "system", "evidence": "created by dsrd's minors scan", "operator": "dsrd"}}"#
            #expect(try await needs("erasure", scan) == false)
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.requests WHERE verification_method = 'in_person' AND verified_by = 'nok' AND verification_evidence = 'Thai ID card seen'"
                ) == 1)
            let before = try await connection.count("SELECT count(*) FROM dsr.requests")
            // Each refusal names the part that is wrong and what it must be.
            for (bad, says) in [
                (#"{"verification": {"method": "code", "evidence": "x12", "operator": "nok"}}"#, "method must be in_person"),
                (#"{"verification": {"method": "in_person", "operator": "nok"}}"#, "evidence must say what was checked, in 3 to 1000"),
                (#"{"verification": {"method": "in_person", "evidence": "ok", "operator": "nok"}}"#, "3 to 1000 characters (it has 2)"),
                (#"{"verification": {"method": "in_person", "evidence": "seen", "operator": " "}}"#, "operator must name who checked"),
                (#"{"verification": {"method": "in_person", "evidence": "seen", "operator": "nok", "extra": 1}}"#, "not extra"),
                (#"{"verification": "in person"}"#, "must be an object"),
                (#"{"representative": {"name": "Malee", "authority": "friend", "evidence": "letter"}}"#, "authority must be parent"),
                (#"{"representative": {"name": "Malee", "authority": "parent", "evidence": "ok"}}"#, "evidence must say what was seen"),
            ] {
                do {
                    _ = try await needs("erasure", bad)
                    Issue.record("accepted \(bad)")
                } catch let error as PostgresError {
                    #expect(error.sqlState == "22023" && error.message.contains(says), "\(bad): \(error)")
                }
            }
            #expect(try await connection.count("SELECT count(*) FROM dsr.requests") == before)
            // A request made before it was verified, completed, then submitted again with its
            // idempotency key and a verification: the same request, left as it ended.
            let keyed =
                #"{"idempotency_key": "counter-7", "verification": {"method": "in_person", "evidence": "ID card seen", "operator": "nok"}}"#
            let first = try await connection.query(
                "SELECT dsr.submit('access', '{\"email\": \"somchai@example.co.th\"}', '{\"idempotency_key\": \"counter-7\"}') AS id"
            )[0].decode("id", as: UUID.self)
            try await connection.execute("SELECT dsr.complete_request($1, '{}')", [first])
            let again = try await connection.query(
                "SELECT dsr.submit('access', '{\"email\": \"somchai@example.co.th\"}', $1::jsonb) AS id", [keyed]
            )[0].decode("id", as: UUID.self)
            #expect(again == first)
            let acting = #"{"representative": {"name": "Malee", "authority": "parent", "evidence": "birth certificate seen"}}"#
            _ = try await needs("access", acting)
            #expect(try await connection.count("SELECT count(*) FROM dsr.requests WHERE representative ->> 'authority' = 'parent'") == 1)
        }
    }

    /// A request that gave only a customer id is answered on the email the stores hold: it
    /// becomes the request's channel, and the acknowledgement and the completion go there.
    @Test func aRequestGivingOnlyAnIdIsAnsweredOnTheEmailOnFile() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let id = try await connection.query("SELECT dsr.submit('access', '{\"customer_id\": \"T-1\"}') AS id")[0].decode(
                    "id", as: UUID.self)
                #expect(try await connection.count("SELECT count(*) FROM dsr.outbox WHERE request_id = $1", [id]) == 0)
                let daemon = try BackgroundDaemon(database.exportArguments(exports), environment: stores.environment)
                #expect(
                    try await eventually {
                        try await connection.isCompleted(id)
                    }, "\(daemon.output)")
                #expect(await daemon.stop() == 0)
                let recipients = try await connection.query(
                    "SELECT template, recipient FROM dsr.outbox WHERE request_id = $1 AND audience = 'subject' ORDER BY id", [id]
                ).map { "\(try $0.decode("template", as: String.self)) \(try $0.decode("recipient", as: String.self))" }
                #expect(recipients == ["received somchai.test@example.co.th", "completed somchai.test@example.co.th"])
            }
        }
    }

    /// A request that gave only an id and is refused hears why on the email on file; one for
    /// someone with no contact anywhere makes the DPO hear each notice the person could not be
    /// sent (the answer, the refusal), not only that nobody can be reached.
    @Test func aRefusalOrAnswerForARequestGivingOnlyAnIdReachesThePersonOrTheDPO() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let refused = try await connection.query(
                    "SELECT dsr.submit('rectification', '{\"customer_id\": \"T-1\"}', '{\"changes\": {\"email\": \"mali.test@example.co.th\"}}') AS id"
                )[0].decode("id", as: UUID.self)
                let unknown = try await connection.query("SELECT dsr.submit('access', '{\"customer_id\": \"X-9\"}') AS id")[0].decode(
                    "id", as: UUID.self)
                let daemon = try BackgroundDaemon(database.exportArguments(exports), environment: stores.environment)
                #expect(
                    try await eventually {
                        let answered = try await connection.isCompleted(unknown)
                        let ended = try await connection.count(
                            "SELECT count(*) FROM dsr.requests WHERE id = $1 AND status = 'refused'", [refused])
                        return answered && ended == 1
                    }, "\(daemon.output)")
                #expect(await daemon.stop() == 0)
                let told = try await connection.query(
                    "SELECT template, recipient FROM dsr.outbox WHERE request_id = $1 AND audience = 'subject' ORDER BY id", [refused]
                ).map { "\(try $0.decode("template", as: String.self)) \(try $0.decode("recipient", as: String.self))" }
                #expect(told == ["received somchai.test@example.co.th", "refused somchai.test@example.co.th"], "\(told)")
                let dpo = try await connection.query(
                    "SELECT coalesce(variables ->> 'notice', '-') AS notice, variables::text AS variables FROM dsr.outbox WHERE request_id = $1 AND template = 'dpo_no_channel' ORDER BY id",
                    [unknown])
                #expect(try dpo.map { try $0.decode("notice", as: String.self) } == ["-", "completed"])
                // The steps to verify or refuse are offered while the request is open, not once
                // it has ended (the answer was the notice that could not be sent).
                let templates = try NoticeTemplates(
                    directory: URL(fileURLWithPath: exampleConfigFile).deletingLastPathComponent().path + "/templates")
                let texts = try dpo.map { row in
                    let variables =
                        try JSONSerialization.jsonObject(with: Data(try row.decode("variables", as: String.self).utf8)) as? [String: Any]
                        ?? [:]
                    return try templates.render("dpo_no_channel", channel: .email, language: .english, values: variables).text
                }
                #expect(texts.map { $0.contains("dsr.verify_identity") } == [true, false], "\(texts)")
                #expect(texts.map { $0.contains("The request has ended") } == [false, true], "\(texts)")
            }
        }
    }

    /// Nobody to write to: the DPO is told, once.
    @Test func aRequestWithNoChannelAnywhereIsReportedToTheDPO() async throws {
        try await TestDatabase.migrated { _, connection in
            let id = try await connection.query("SELECT dsr.submit('access', '{\"customer_id\": \"X-9\"}') AS id")[0].decode(
                "id", as: UUID.self)
            for _ in 0..<2 {
                _ = try await connection.query("SELECT dsr.adopt_contacts($1, '{\"email\": [], \"phone\": [\"+6621234567\"]}')", [id])
            }
            #expect(
                try await connection.count("SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'dpo_no_channel'", [id])
                    == 1)
            #expect(try await connection.count("SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND audience = 'subject'", [id]) == 0)
        }
    }

    /// A hold that comes while a store task is changing a store stops it before the store
    /// commits: the gate sees the hold and the store rolls back; nothing is restricted.
    @Test func aHoldPlacedWhileAStoreTaskRunsStopsItBeforeAnyChange() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let id = try await connection.query("SELECT dsr.submit('restriction', '{\"customer_id\": \"T-1\"}') AS id")[0].decode(
                    "id", as: UUID.self)
                try await connection.cancelRequestJobs()
                let mapping = try #require(try stores.mappings().first { $0.name == "customer" })
                let connector = SQLConnector(mapping: mapping)
                var person = IdentitySet()
                person.customerIDs = ["T-1"]
                let identity = person
                let pool = ConnectionPool(conninfo: database.conninfo, maximum: 1)
                await #expect(throws: WorkGate.Stopped.self) {
                    try await WorkGate.around(id, pool: pool) { gate in
                        try await connector.update(identity, change: .restrict(lift: false)) {
                            try await connection.execute("SELECT dsr.ask_identity_verification($1)", [id])  // the operator
                            try await gate.admit()
                        }
                    }
                }
                let customer = try await PostgresConnection.connect(stores.url("customer"))
                #expect(try await customer.count("SELECT count(*) FROM customers WHERE restricted") == 0)
                await customer.close()
                // Without a hold the same change commits.
                try await connection.execute("SELECT dsr.verify_identity($1, 'call_back', 'called back on the number on file')", [id])
                _ = try await WorkGate.around(id, pool: pool) { gate in
                    try await connector.update(identity, change: .restrict(lift: false)) { try await gate.admit() }
                }
                let after = try await PostgresConnection.connect(stores.url("customer"))
                #expect(try await after.count("SELECT count(*) FROM customers WHERE id = 'T-1' AND restricted") == 1)
                await after.close()
                await pool.close()
            }
        }
    }

    /// PDPA s.20: for a child under 10 only a parent or guardian may act. The child's own
    /// objection (which a 10-to-19-year-old may make alone) waits; the person is told a parent
    /// must ask, the DPO why. No operator can let it go on before a parent or guardian is
    /// recorded, not even with an attorney recorded; once one is, it completes. A parent's
    /// access request, recorded at submission, goes ahead.
    @Test func onlyAParentOrGuardianMayActForAChild() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 100) { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let customer = try await PostgresConnection.connect(stores.url("customer"))
                try await customer.execute("UPDATE customers SET date_of_birth = current_date - interval '7 years' WHERE id = 'C0000034'")
                let email = try await customer.query("SELECT email FROM customers WHERE id = 'C0000034'")[0].decode(
                    "email", as: String.self)
                await customer.close()
                // Only the customer id: the person is told of the hold on the email on file.
                func submit(_ kind: String, _ options: String) async throws -> UUID {
                    try await connection.query(
                        "SELECT dsr.submit($1, '{\"customer_id\": \"C0000034\"}'::jsonb, $2::jsonb) AS id", [kind, options]
                    )[0].decode("id", as: UUID.self)
                }
                let objection = try await submit("objection", #"{"purposes": ["marketing"]}"#)
                let byParent = try await submit(
                    "access", #"{"representative": {"name": "Malee", "authority": "parent", "evidence": "birth certificate seen"}}"#)
                // A hold on a request with no channel (here an id-only request held by hand as a
                // shared phone, before any daemon runs): the DPO's email must not claim the person was told.
                let silent = try await connection.query("SELECT dsr.submit('access', '{\"customer_id\": \"C0000040\"}') AS id")[0]
                    .decode("id", as: UUID.self)
                try await connection.execute("SELECT dsr.hold_for_verification($1, 'shared_phone')", [silent])
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'dpo_identity_hold' AND variables @> '{\"person_told\": false}'",
                        [silent]) == 1)
                let daemon = try BackgroundDaemon(database.exportArguments(exports), environment: stores.environment)
                #expect(
                    try await eventually { try await status(connection, objection) == ("awaiting_verification", "child_without_guardian") },
                    "\(daemon.output)")
                #expect(
                    try await eventually {
                        try await connection.isCompleted(byParent)
                    }, "\(daemon.output)")
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'identity_needed' AND variables @> '{\"child\": true, \"guardian_needed\": true}' AND lower(recipient) = lower(btrim($2))",
                        [objection, email]) > 0)
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'dpo_identity_hold' AND variables @> '{\"child_without_guardian\": true, \"person_told\": true}'",
                        [objection]) == 1)
                // An operator cannot waive it, nor an attorney act for a child.
                let waived = await postgresError {
                    try await connection.execute(
                        "SELECT dsr.verify_identity($1, 'in_person', 'the child came to the counter')", [objection])
                }
                #expect(waived?.message.contains("child under 10") == true, "\(String(describing: waived))")
                try await connection.execute(
                    "SELECT dsr.record_representative($1, 'Somsak', 'power_of_attorney', 'power of attorney seen')", [objection])
                let byAttorney = await postgresError {
                    try await connection.execute("SELECT dsr.resume_request($1, NULL, 'attorney present')", [objection])
                }
                #expect(byAttorney?.sqlState == "23514")
                #expect(try await status(connection, objection) == ("awaiting_verification", "child_without_guardian"))
                try await connection.execute(
                    "SELECT dsr.record_representative($1, 'Malee', 'parent', 'birth certificate and ID card seen')", [objection])
                try await connection.execute("SELECT dsr.verify_identity($1, 'documents', 'parent present with the child')", [objection])
                #expect(
                    try await eventually {
                        try await connection.isCompleted(objection)
                    }, "\(daemon.output)")
                #expect(await daemon.stop() == 0)
            }
        }
    }

    /// PDPA s.20: C0000033 is under 20. Their own access request waits until an operator
    /// records the parent acting with them and verifies; the same request made by a guardian
    /// (recorded at submission) goes ahead, and so does an objection, which only stops processing.
    @Test func aMinorsRequestWaitsForAParentOrGuardian() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 100) { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                func submit(_ kind: String, _ subject: String, _ options: String = "{}") async throws -> UUID {
                    try await connection.query("SELECT dsr.submit($1, $2::jsonb, $3::jsonb) AS id", [kind, subject, options])[0].decode(
                        "id", as: UUID.self)
                }
                let alone = try await submit("access", #"{"customer_id": "C0000033"}"#)
                let withParent = try await submit(
                    "access", #"{"customer_id": "C0000033"}"#,
                    #"{"representative": {"name": "Malee", "authority": "parent", "evidence": "birth certificate seen"}}"#)
                let objection = try await submit("objection", #"{"customer_id": "C0000033"}"#, #"{"purposes": ["marketing"]}"#)
                let daemon = try BackgroundDaemon(database.exportArguments(exports), environment: stores.environment)
                #expect(
                    try await eventually {
                        try await status(connection, alone) == ("awaiting_verification", "minor_without_guardian")
                    }, "\(daemon.output)")
                for id in [withParent, objection] {
                    #expect(
                        try await eventually {
                            try await connection.isCompleted(id)
                        }, "\(daemon.output)")
                }
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'dpo_identity_hold' AND variables ? 'minor_without_guardian'",
                        [alone]) == 1)
                try await connection.execute(
                    "SELECT dsr.record_representative($1, 'Somsak', 'guardian', 'court order and ID card seen')", [alone])
                try await connection.execute("SELECT dsr.verify_identity($1, 'documents', 'guardian present with the minor')", [alone])
                #expect(
                    try await eventually {
                        try await connection.isCompleted(alone)
                    }, "\(daemon.output)")
                #expect(await daemon.stop() == 0)
            }
        }
    }
}
