import DSR
import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// The retention sweep: rows past their table's `expire` go, and what an erasure kept for a
/// hold goes once the hold has ended; a dry run changes nothing and says exactly what a real
/// sweep does; each sweep that changes rows is signed and chained into the audit log.
@Suite("Retention sweep")
struct RetentionTests {
    func sweeper(_ database: TestDatabase, _ stores: StoreFixture, key: String) throws -> RetentionSweeper {
        let configuration = try InProcessDaemon.configuration(
            arguments: database.runArguments(["--set", "proofs.signing_key_file=\(key)"]), environment: stores.environment)
        return RetentionSweeper(
            fanOut: try FanOut.make(configuration: configuration, pool: ConnectionPool(conninfo: database.conninfo, maximum: 2)))
    }

    @Test func rowsPastTheirRetentionAreSweptAndTheSweepIsProved() async throws {
        let keys = try makeKeys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let customer = try await PostgresConnection.connect(stores.url("customer"))
                try await customer.execute(
                    """
                    INSERT INTO activity_log (customer_id, event, at)
                    SELECT 'T-1', 'login', now() - m * interval '1 month' - interval '1 day' FROM generate_series(10, 16) AS m
                    """)
                // Written apart from the sweeper: what 13 months of retention leaves.
                let past = Set(
                    try await customer.query("SELECT id FROM activity_log WHERE at < now() - interval '13 months'").map {
                        try $0.decode("id", as: Int64.self)
                    })
                let all = Set(try await customer.query("SELECT id FROM activity_log").map { try $0.decode("id", as: Int64.self) })
                #expect(past.count >= 4)
                let sweeper = try sweeper(database, stores, key: keys.privateKey)

                let dry = try await sweeper.sweep(asOf: Date(), dryRun: true)
                let wouldExpire = dry.first { $0.sweep.store == "customer" }?.sweep.tables.first { $0.name == "activity_log" }?.expired
                #expect(wouldExpire == past.count)
                #expect(try await customer.count("SELECT count(*) FROM activity_log") == all.count)
                #expect(try await connection.count("SELECT count(*) FROM dsr.sweeps") == 0)

                let swept = try await sweeper.sweep(asOf: Date(), dryRun: false)
                let left = Set(try await customer.query("SELECT id FROM activity_log").map { try $0.decode("id", as: Int64.self) })
                #expect(left == all.subtracting(past))
                let store = try #require(swept.first { $0.sweep.store == "customer" })
                #expect(store.sweep.tables.map(\.name) == ["activity_log"])
                #expect(store.sweep.tables.first?.rules == ["expire 13 months from at"])
                let proof = try Data(contentsOf: URL(fileURLWithPath: try #require(store.proofPath)))
                let verdict = ProofVerifier.verify(file: proof, publicKey: try ProofKeys.load(privateKeyFile: keys.privateKey).publicKey)
                #expect(verdict.valid && verdict.isSweep, "\(verdict.reasons)")
                #expect(verdict.requestID == store.id?.uuidString.lowercased())
                #expect(
                    try await AuditChain.check(connection: connection, requestID: verdict.requestID!, seq: verdict.seq!, proof: proof)
                        .isEmpty)
                #expect(try await connection.count("SELECT count(*) FROM dsr.sweeps WHERE rows = $1", [past.count]) == 1)
                // Nothing more to do: a second sweep changes nothing and records nothing.
                let again = try await sweeper.sweep(asOf: Date(), dryRun: false)
                #expect(again.allSatisfy { $0.sweep.store != "customer" || $0.sweep.rows == 0 })
                #expect(try await connection.count("SELECT count(*) FROM dsr.sweeps WHERE summary::text LIKE '%activity_log%'") == 1)
                await customer.close()
            }
        }
    }

    /// After an erasure, invoices and payments held by the Accounting Act stay (anonymised)
    /// until their five years end; then they go, with the orders kept only for them. An open
    /// dispute keeps its invoice and order. Live customers' rows are never taken.
    @Test func whatAnErasureKeptForAHoldGoesWhenTheHoldEnds() async throws {
        let keys = try makeKeys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let disputed = try await stores.addOldAndDisputedOrders().disputed
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let id = try await connection.query(
                    "SELECT dsr.submit('erasure', '{\"email\": \"somchai.test@example.co.th\"}') AS id")[0].decode("id", as: UUID.self)
                let run = try await runInProcessUntilCompleted(
                    id, database.erasureArguments(exports, key: keys.privateKey), environment: stores.environment, on: connection)
                #expect(run.completed, "\(run.output)")
                let order = try await PostgresConnection.connect(stores.url("order"))
                // Written apart from the sweeper: the erased person's rows still held, and everyone else's.
                let heldInvoices = try await order.count(
                    "SELECT count(*) FROM invoices WHERE buyer_name ~ '^[0-9a-f]{64}$' AND NOT dispute_open")
                let heldOrders = try await order.count("SELECT count(*) FROM orders WHERE customer_id ~ '^[0-9a-f]{64}$'")
                let liveOrders = try await order.count("SELECT count(*) FROM orders WHERE customer_id !~ '^[0-9a-f]{64}$'")
                let liveInvoices = try await order.count("SELECT count(*) FROM invoices WHERE buyer_name !~ '^[0-9a-f]{64}$'")
                let livePayments = try await order.count(
                    "SELECT count(*) FROM payments AS p JOIN orders AS o ON o.id = p.order_id WHERE o.customer_id !~ '^[0-9a-f]{64}$'")
                #expect(heldInvoices > 0 && heldOrders > 1)
                let sweeper = try sweeper(database, stores, key: keys.privateKey)
                func released(_ swept: [RetentionSweeper.Swept], _ table: String) -> Int {
                    swept.first { $0.sweep.store == "order" }?.sweep.tables.first { $0.name == table }?.released ?? 0
                }
                // Today the hold still applies: nothing is released.
                let today = try await sweeper.sweep(asOf: Date(), dryRun: true)
                #expect(released(today, "invoices") == 0 && released(today, "orders") == 0 && released(today, "payments") == 0)
                // Six years on, as a real sweep would run then (live rows are judged by expiry only).
                let later = Date().addingTimeInterval(6 * 366 * 86_400)
                let swept = try await sweeper.sweep(asOf: later, dryRun: false)
                #expect(released(swept, "invoices") == heldInvoices)
                #expect(try await order.count("SELECT count(*) FROM invoices WHERE buyer_name ~ '^[0-9a-f]{64}$'") == 0)
                #expect(try await order.count("SELECT count(*) FROM invoices WHERE order_id = $1", [disputed]) == 1)  // kept whole
                #expect(
                    try await order.count(
                        "SELECT count(*) FROM payments AS p JOIN orders AS o ON o.id = p.order_id WHERE o.customer_id ~ '^[0-9a-f]{64}$'")
                        == 0)
                // Only the disputed order is left of the person's.
                #expect(
                    try await order.query("SELECT id FROM orders WHERE customer_id ~ '^[0-9a-f]{64}$'").map {
                        try $0.decode("id", as: Int64.self)
                    }
                        == [disputed])
                #expect(released(swept, "orders") == heldOrders - 1)
                // The record says under which rule they went.
                let ordersRules = swept.first { $0.sweep.store == "order" }?.sweep.tables.first { $0.name == "orders" }?.rules ?? []
                #expect(ordersRules.contains(SQLConnector.releasedRule), "\(ordersRules)")
                // Nobody else's orders, invoices or payments were released.
                #expect(try await order.count("SELECT count(*) FROM orders WHERE customer_id !~ '^[0-9a-f]{64}$'") == liveOrders)
                #expect(try await order.count("SELECT count(*) FROM invoices WHERE buyer_name !~ '^[0-9a-f]{64}$'") == liveInvoices)
                #expect(
                    try await order.count(
                        "SELECT count(*) FROM payments AS p JOIN orders AS o ON o.id = p.order_id WHERE o.customer_id !~ '^[0-9a-f]{64}$'")
                        == livePayments)
                #expect(try await connection.count("SELECT count(*) FROM dsr.verify_audit_chain() WHERE NOT ok") == 0)
                // One proof per store that changed (the customer store's old activity expired too).
                #expect(
                    try await connection.count("SELECT count(*) FROM dsr.audit_log WHERE sweep_id IS NOT NULL")
                        == swept.filter { $0.sweep.rows > 0 }.count)
                await order.close()
            }
        }
    }

    /// A year after a request ended, dsrd's own copies of the person's identifiers become
    /// keyed hashes and the notices lose their recipient and bodies; a recent one is untouched.
    /// The same a year after a breach was closed, for the people it affected.
    @Test func dsrdsOwnCopiesArePseudonymisedAYearAfterTheRequestEnded() async throws {
        let keys = try makeKeys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }
        try await TestDatabase.migrated { _, connection in
            var ids: [UUID] = []
            for email in ["old.person@example.co.th", "recent.person@example.co.th"] {
                let id = try await connection.query(
                    "SELECT dsr.submit('rectification', jsonb_build_object('email', $1::text), '{\"changes\": {\"address\": \"99/1 Sukhumvit\"}}') AS id",
                    [email])[0].decode("id", as: UUID.self)
                try await connection.execute("SELECT dsr.complete_request($1, '{\"rows_changed\": 1}')", [id])
                try await connection.execute("UPDATE dsr.outbox SET state = 'sent', sent_at = now() WHERE request_id = $1", [id])
                ids.append(id)
            }
            try await connection.execute("UPDATE dsr.requests SET completed_at = now() - interval '400 days' WHERE id = $1", [ids[0]])
            // A breach that affected the old person, closed long ago, and a recent one still open.
            var breaches: [Int] = []
            for (index, email) in ["old.person@example.co.th", "recent.person@example.co.th"].enumerated() {
                let breach = try await connection.query(
                    "SELECT dsr.report_breach('a laptop was lost', '{contact}', '{customer}', now() - interval '500 days', 'unlikely') AS id"
                )[0].decode("id", as: Int.self)
                try await connection.execute(
                    "INSERT INTO dsr.breach_subjects (breach_id, person, identity, email, found_by) VALUES ($1, 1, jsonb_build_object('emails', jsonb_build_array($2::text)), $2, 'list')",
                    [breach, email])
                try await connection.execute(
                    "INSERT INTO dsr.outbox (idempotency_key, template, audience, channel, locale, recipient, variables, state, sent_at) VALUES ('breach:' || $1 || ':1', 'breach_notice', 'subject', 'email', 'th', $2, '{}', 'sent', now())",
                    [breach, email])
                if index == 0 {
                    _ = try await connection.query("SELECT dsr.close_breach($1) AS m", [breach])
                    try await connection.execute("UPDATE dsr.breaches SET closed_at = now() - interval '400 days' WHERE id = $1", [breach])
                }
                breaches.append(breach)
            }
            let proofKeys = try ProofKeys.load(privateKeyFile: keys.privateKey)
            let done = try await OwnDataPseudonymiser(keys: proofKeys, after: .seconds(365 * 86_400)).run(on: connection)
            #expect(done == OwnDataPseudonymiser.Done(requests: 1, breaches: 1))
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.breach_subjects WHERE breach_id = $1 AND email IS NULL AND identity -> 'emails' ->> 0 = $2",
                    [breaches[0], "hmac:" + proofKeys.identifierHash("old.person@example.co.th")]) == 1)
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.breach_subjects WHERE breach_id = $1 AND email = 'recent.person@example.co.th'", [breaches[1]]
                )
                    == 1)
            #expect(try await connection.count("SELECT count(*) FROM dsr.breach_subjects AS s WHERE s::text LIKE '%old.person%'") == 0)
            let old = try await connection.query(
                "SELECT subject ->> 'email' AS email, subject_email, payload -> 'changes' ->> 'address' AS address, pseudonymised_at IS NOT NULL AS done, kind, status FROM dsr.requests WHERE id = $1",
                [ids[0]])[0]
            #expect(try old.decode("email", as: String.self) == "hmac:" + proofKeys.identifierHash("old.person@example.co.th"))
            #expect(try old.decode("subject_email", as: String?.self) == nil)
            #expect(try old.decode("address", as: String.self) == "hmac:" + proofKeys.identifierHash("99/1 Sukhumvit"))
            #expect(try old.decode("done", as: Bool.self))
            #expect(try old.decode("kind", as: String.self) == "rectification" && old.decode("status", as: String.self) == "completed")
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND (recipient NOT LIKE 'hmac:%' OR rendered_text IS NOT NULL)",
                    [ids[0]]) == 0)
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.requests WHERE id = $1 AND subject ->> 'email' = 'recent.person@example.co.th' AND pseudonymised_at IS NULL",
                    [ids[1]]) == 1)
            // Nothing in dsrd's tables still names the old person.
            #expect(
                try await connection.count(
                    "SELECT count(*) FROM dsr.requests AS r WHERE r::text LIKE '%old.person%'") == 0)
            #expect(try await connection.count("SELECT count(*) FROM dsr.outbox AS o WHERE o::text LIKE '%old.person%'") == 0)
            // A second run has nothing left to do.
            #expect(try await OwnDataPseudonymiser(keys: proofKeys, after: .seconds(365 * 86_400)).run(on: connection) == .init())
        }
    }

    /// A restriction the person asked for stays in force until they lift it, however long
    /// that takes (PDPA s.34): retention keeps that request whole, because a later
    /// objection's end looks for it to keep the data restricted. Once a lift supersedes it,
    /// it is pseudonymised like any other request.
    @Test func aRestrictionInForceKeepsItsIdentifiersUntilLifted() async throws {
        let keys = try makeKeys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }
        try await TestDatabase.migrated { _, connection in
            let email = "restricted.person@example.co.th"
            @Sendable func completed(_ kind: String, options: String, daysAgo: Int) async throws -> UUID {
                let id = try await connection.query(
                    "SELECT dsr.submit($1, jsonb_build_object('email', $2::text), $3::jsonb) AS id", [kind, email, options]
                )[0].decode("id", as: UUID.self)
                try await connection.execute(
                    "UPDATE dsr.requests SET identities = jsonb_build_object('emails', jsonb_build_array($2::text)) WHERE id = $1",
                    [id, email])
                try await connection.execute("SELECT dsr.complete_request($1, '{}')", [id])
                try await connection.execute(
                    "UPDATE dsr.requests SET completed_at = now() - make_interval(days => $2) WHERE id = $1", [id, daysAgo])
                try await connection.execute("UPDATE dsr.outbox SET state = 'sent', sent_at = now() WHERE request_id = $1", [id])
                return id
            }
            let access = try await completed("access", options: "{}", daysAgo: 700)
            let restriction = try await completed("restriction", options: "{}", daysAgo: 600)
            let proofKeys = try ProofKeys.load(privateKeyFile: keys.privateKey)
            let pseudonymiser = OwnDataPseudonymiser(keys: proofKeys, after: .seconds(365 * 86_400))
            let stillRestricted =
                "SELECT count(*) FROM dsr.requests WHERE id = $1 AND subject ->> 'email' = $2 AND pseudonymised_at IS NULL"

            #expect(try await pseudonymiser.run(on: connection) == .init(requests: 1))
            #expect(try await connection.count(stillRestricted, [access, email]) == 0)
            #expect(try await connection.count(stillRestricted, [restriction, email]) == 1)
            #expect(try await connection.query("SELECT dsr.restriction_in_force($1) AS f", [restriction])[0].decode("f", as: Bool.self))

            let lift = try await completed("restriction", options: "{\"lift\": true}", daysAgo: 30)
            #expect(try await !connection.query("SELECT dsr.restriction_in_force($1) AS f", [restriction])[0].decode("f", as: Bool.self))
            #expect(try await !connection.query("SELECT dsr.restriction_in_force($1) AS f", [lift])[0].decode("f", as: Bool.self))
            #expect(try await pseudonymiser.run(on: connection) == .init(requests: 1))
            #expect(try await connection.count(stillRestricted, [restriction, email]) == 0)
            #expect(try await connection.count(stillRestricted, [lift, email]) == 1, "the lift is recent")
        }
    }
}
