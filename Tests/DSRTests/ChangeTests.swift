import DSR
import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Rectification, restriction, objection and consent withdrawal")
struct ChangeTests {
    /// Submits with `sql` and waits until the request leaves the open states.
    func submitAndWait(
        _ sql: String, _ connection: PostgresConnection, daemon: BackgroundDaemon, parameters: [any PostgresEncodable] = []
    ) async throws -> (UUID, String) {
        let id = try await connection.query(sql, parameters)[0].decode("id", as: UUID.self)
        let ended = try await eventually {
            try await connection.count("SELECT count(*) FROM dsr.requests WHERE id = $1 AND status IN ('completed', 'refused')", [id]) == 1
        }
        #expect(ended, "\(daemon.output)")
        return (id, try await connection.query("SELECT status FROM dsr.requests WHERE id = $1", [id])[0].decode("status", as: String.self))
    }

    @Test func rectifyRestrictLiftAndObjectAcrossTheStores() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 30) { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let daemon = try BackgroundDaemon(database.exportArguments(exports), environment: stores.environment)
                let customer = try await PostgresConnection.connect(stores.url("customer"))
                let marketing = try await PostgresConnection.connect(stores.url("marketing"))

                // Rectification of the email: every store that holds it as correctable.
                let (rectified, status) = try await submitAndWait(
                    "SELECT dsr.submit('rectification', '{\"customer_id\": \"T-1\"}', '{\"changes\": {\"email\": \" Somchai.New@Example.co.th \"}}') AS id",
                    connection, daemon: daemon)
                #expect(status == "completed")
                #expect(
                    try await customer.query("SELECT email FROM customers WHERE id = 'T-1'")[0].decode("email", as: String.self)
                        == "somchai.new@example.co.th")
                #expect(try await marketing.count("SELECT count(*) FROM subscriptions WHERE email = 'somchai.new@example.co.th'") == 1)
                #expect(try await marketing.count("SELECT count(*) FROM subscriptions WHERE email = 'mali.test@example.co.th'") == 1)
                #expect(
                    try await customer.query("SELECT email FROM customers WHERE id = 'T-2'")[0].decode("email", as: String.self)
                        == "mali.test@example.co.th")
                let result = try await connection.query("SELECT result::text AS r FROM dsr.requests WHERE id = $1", [rectified])[0].decode(
                    "r", as: String.self)
                #expect(result.contains("before_digests") && result.contains("after_digest"))
                #expect(!result.lowercased().contains("somchai"))

                // A field no store can correct: refused at submission, once the daemon has
                // published what the stores can correct; nothing is written.
                #expect(try await eventually { try await connection.count("SELECT count(*) FROM dsr.correctable_fields") > 0 })
                let before = try await connection.count("SELECT count(*) FROM dsr.requests")
                await #expect(throws: PostgresError.self) {
                    try await connection.query(
                        "SELECT dsr.submit('rectification', '{\"customer_id\": \"T-1\"}', '{\"changes\": {\"favourite_colour\": \"blue\"}}')"
                    )
                }
                #expect(try await connection.count("SELECT count(*) FROM dsr.requests") == before)

                // Restriction, then lifting it.
                _ = try await submitAndWait(
                    "SELECT dsr.submit('restriction', '{\"customer_id\": \"T-1\"}') AS id", connection, daemon: daemon)
                #expect(
                    try await customer.query("SELECT restricted FROM customers WHERE id = 'T-1'")[0].decode("restricted", as: Bool.self))
                #expect(
                    try await customer.query("SELECT restricted FROM customers WHERE id = 'T-2'")[0].decode("restricted", as: Bool.self)
                        == false)
                // Lifting it, from the command line.
                let lift = try await DaemonProcess.run(
                    ["submit", "restriction", "--lift", "--customer-id", "T-1", "--database-url", database.conninfo])
                let liftID = try #require(UUID(uuidString: lift.output.trimmingCharacters(in: .whitespacesAndNewlines)), "\(lift.output)")
                #expect(
                    try await eventually {
                        try await connection.isCompleted(liftID)
                    })
                #expect(
                    try await connection.count("SELECT count(*) FROM dsr.requests WHERE id = $1 AND payload->>'lift' = 'true'", [liftID])
                        == 1)
                #expect(
                    try await customer.query("SELECT restricted FROM customers WHERE id = 'T-1'")[0].decode("restricted", as: Bool.self)
                        == false)

                // Objection: marketing selections no longer find the person; the relative still gets mail.
                // The campaign's selection, narrowed to the two test people among the generated ones.
                let audience =
                    "SELECT email FROM subscriptions WHERE unsubscribed_at IS NULL AND email IN ('somchai.new@example.co.th', 'mali.test@example.co.th') ORDER BY 1"
                #expect(try await marketing.query(audience).count == 2)
                _ = try await submitAndWait(
                    "SELECT dsr.submit('objection', '{\"customer_id\": \"T-1\"}') AS id", connection, daemon: daemon)
                #expect(try await marketing.query(audience).map { try $0.decode("email", as: String.self) } == ["mali.test@example.co.th"])
                #expect(
                    try await marketing.count("SELECT count(*) FROM consents WHERE customer_id = 'T-1' AND withdrawn_at IS NOT NULL") == 1)
                #expect(try await marketing.count("SELECT count(*) FROM consents WHERE customer_id = 'T-2' AND withdrawn_at IS NULL") == 1)

                #expect(await daemon.stop() == 0)
            }
        }
    }

    @Test func consentWithdrawalForOnePurposeLeavesTheOthers() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let marketing = try await PostgresConnection.connect(stores.url("marketing"))
                try await marketing.execute("INSERT INTO consents (customer_id, purpose, given_at) VALUES ('T-1', 'analytics', now())")
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let daemon = try BackgroundDaemon(database.exportArguments(exports), environment: stores.environment)
                let (_, status) = try await submitAndWait(
                    "SELECT dsr.submit('consent_withdrawal', '{\"customer_id\": \"T-1\"}', '{\"purposes\": [\"analytics\"]}') AS id",
                    connection, daemon: daemon)
                #expect(status == "completed")
                let consents = try await marketing.query(
                    "SELECT purpose, withdrawn_at IS NOT NULL AS withdrawn FROM consents WHERE customer_id = 'T-1' ORDER BY purpose"
                )
                .map { "\(try $0.decode("purpose", as: String.self))=\(try $0.decode("withdrawn", as: Bool.self))" }
                #expect(consents == ["analytics=true", "marketing=false"])
                #expect(
                    try await marketing.count(
                        "SELECT count(*) FROM subscriptions WHERE lower(email) = 'somchai.test@example.co.th' AND unsubscribed_at IS NULL")
                        == 1)
                _ = await daemon.stop()
            }
        }
    }

    /// A rectification accepted before any daemon published what the stores can correct is
    /// refused when it runs, with the reason in the person's language (Thai here), never in
    /// English technical text inside a Thai letter.
    @Test func anImpossibleCorrectionIsRefusedInThePersonsLanguage() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 10) { stores in
                let id = try await connection.query(
                    "SELECT dsr.submit('rectification', '{\"customer_id\": \"T-1\"}', '{\"changes\": {\"shoe_size\": \"42\"}}') AS id"
                )[0].decode("id", as: UUID.self)
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let daemon = try BackgroundDaemon(database.exportArguments(exports), environment: stores.environment)
                let (_, status) = try await submitAndWait("SELECT $1::uuid AS id", connection, daemon: daemon, parameters: [id])
                #expect(status == "refused")
                let reason = try await connection.query("SELECT refusal_reason FROM dsr.requests WHERE id = $1", [id])[0]
                    .decode("refusal_reason", as: String.self)
                #expect(reason.hasPrefix("เราไม่มีข้อมูล \"shoe_size\" ที่จะแก้ไขได้") && reason.contains("first_name"), "\(reason)")
                #expect(await daemon.stop() == 0)
            }
        }
    }

    /// PDPA s.32: an objection to direct marketing cannot be refused. Naming the purpose
    /// `marketing` stops every table that exists for marketing (the newsletter subscription,
    /// the advertising audience), not only the consent rows of that purpose; the person is
    /// told what was stopped; another person is untouched.
    @Test func anObjectionToMarketingStopsEveryMarketingTable() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 10) { stores in
                let marketing = try await PostgresConnection.connect(stores.url("marketing"))
                try await marketing.execute(
                    """
                    INSERT INTO ad_audiences (platform, audience, email, phone, added_at)
                    VALUES ('facebook', 'lookalike-1', 'somchai.test@example.co.th', NULL, now()),
                           ('google', 'remarketing', 'mali.test@example.co.th', NULL, now())
                    """)
                try await marketing.execute("INSERT INTO consents (customer_id, purpose, given_at) VALUES ('T-1', 'analytics', now())")
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let daemon = try BackgroundDaemon(database.exportArguments(exports), environment: stores.environment)
                let (id, status) = try await submitAndWait(
                    "SELECT dsr.submit('objection', '{\"customer_id\": \"T-1\", \"email\": \"somchai.test@example.co.th\"}', '{\"purposes\": [\"marketing\"]}') AS id",
                    connection, daemon: daemon)
                #expect(status == "completed")
                #expect(
                    try await marketing.count(
                        "SELECT count(*) FROM subscriptions WHERE lower(email) = 'somchai.test@example.co.th' AND unsubscribed_at IS NULL")
                        == 0)
                #expect(try await marketing.count("SELECT count(*) FROM ad_audiences WHERE email = 'somchai.test@example.co.th'") == 0)
                let consents = try await marketing.query(
                    "SELECT purpose, withdrawn_at IS NOT NULL AS withdrawn FROM consents WHERE customer_id = 'T-1' ORDER BY purpose"
                )
                .map { "\(try $0.decode("purpose", as: String.self))=\(try $0.decode("withdrawn", as: Bool.self))" }
                #expect(consents == ["analytics=false", "marketing=true"])
                // The relative is untouched.
                #expect(try await marketing.count("SELECT count(*) FROM ad_audiences WHERE email = 'mali.test@example.co.th'") == 1)
                #expect(
                    try await marketing.count(
                        "SELECT count(*) FROM subscriptions WHERE email = 'mali.test@example.co.th' AND unsubscribed_at IS NULL") == 1)
                // What the person is told: each table stopped, from the recorded outcome.
                let stopped = try await connection.query(
                    """
                    SELECT string_agg((u ->> 'store') || '/' || (t ->> 'name') || ':' || (t ->> 'action') || ':' || (t ->> 'rows'), ' ' ORDER BY t ->> 'name') AS s
                      FROM dsr.outbox o, jsonb_array_elements(o.variables -> 'changes') u, jsonb_array_elements(u -> 'tables') t
                     WHERE o.request_id = $1 AND o.template = 'completed' AND (t ->> 'rows')::int > 0
                    """, [id])[0].decode("s", as: String.self)
                #expect(stopped == "marketing/ad_audiences:deleted:1 marketing/consents:withdrawn:1 marketing/subscriptions:withdrawn:1")
                await marketing.close()
                #expect(await daemon.stop() == 0)
            }
        }
    }
}
