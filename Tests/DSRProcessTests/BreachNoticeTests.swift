import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// A breach affecting 10,000 demo customers: found through a query and identity resolution
/// (`dsrd breach affected`), queued once (`dsrd breach notify`), sent by `dsrd run` processes
/// of which the first is killed half way: every person gets the notice, none gets two
/// different messages, and none went out before its turn at the configured rate.
@Suite("Breach notices at scale")
struct BreachNoticeTests {
    @Test func tenThousandCustomersAreEachToldOnceAcrossASIGKILLAtTheConfiguredRate() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 10_000, creating: ["customer"]) { stores in
                let sink = try await ScriptedServer.smtpSink()
                let breach = try await connection.query(
                    "SELECT dsr.report_breach('Customer list exposed', ARRAY['contact'], ARRAY['customer'], now(), 'high') AS id"
                )[0].decode("id", as: Int64.self)
                // Only the customer store exists here (10,000 customers without their 200,000 orders).
                let connectors = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: connectors) }
                try FileManager.default.copyItem(
                    atPath: StoreFixture.connectorsDirectory + "/customer.toml",
                    toPath: connectors.appendingPathComponent("customer.toml").path)
                let only = ["--set", "connectors.directory=\(connectors.path)"]
                let common = ["--config", exampleConfigFile, "--database-url", database.conninfo] + only
                let affected = try await DaemonProcess.run(
                    [
                        "breach", "affected", "\(breach)", "--store", "customer", "--query",
                        "SELECT email, id AS customer_id FROM customers WHERE email IS NOT NULL",
                    ] + common,
                    environment: stores.environment)
                #expect(affected.status == 0, "\(affected.output)")
                let people = try await connection.count("SELECT count(*) FROM dsr.breach_subjects WHERE breach_id = $1", [breach])
                let expected = try await PostgresConnection.connect(stores.url("customer")).count(
                    "SELECT count(DISTINCT lower(btrim(email))) FROM customers WHERE email IS NOT NULL")
                // Customers sharing a national id are one person (the demo data has such pairs).
                #expect(people > 9_000 && people <= expected, "\(affected.output)")
                let perMinute = 60_000
                let notify = try await DaemonProcess.run(
                    ["breach", "notify", "\(breach)", "--per-minute", "\(perMinute)"] + common, environment: stores.environment)
                #expect(notify.output.contains("\(people) notices queued"), "\(notify.output)")

                // The rate: jobs spaced 60/perMinute seconds apart.
                let span = try await connection.query(
                    """
                    SELECT extract(epoch FROM max(j.run_at) - min(j.run_at))::float8 AS span
                      FROM dsr.outbox AS o JOIN dsr.jobs AS j ON j.kind = 'notice' AND (j.payload ->> 'outbox_id')::bigint = o.id
                     WHERE o.template = 'breach_notice'
                    """)[0].decode("span", as: Double.self)
                #expect(abs(span - Double(people - 1) * 60 / Double(perMinute)) < 0.01, "\(span)")

                let arguments = database.noticeArguments(smtpPort: sink.port, extra: ["--set", "queue.workers=8"] + only)
                let first = try DaemonProcess(arguments, environment: stores.environment)
                #expect(
                    try await eventually(timeout: .seconds(120)) {
                        try await connection.count("SELECT count(*) FROM dsr.outbox WHERE template = 'breach_notice' AND state = 'sent'")
                            >= people / 3
                    }, "\(first.output)")
                first.signal(SIGKILL)
                _ = try await first.waitForExit(timeout: .seconds(30))
                let second = try BackgroundDaemon(arguments, environment: stores.environment)
                #expect(
                    try await eventually(timeout: .seconds(300)) {
                        try await connection.count("SELECT count(*) FROM dsr.outbox WHERE template = 'breach_notice' AND state = 'sent'")
                            == people
                    }, "\(second.output)")
                #expect(await second.stop() == 0)

                // Each person: one message (a copy resent after the kill keeps its Message-ID).
                var byRecipient: [String: Set<String>] = [:]
                for message in try sink.messages() where decodeHeader(header("Subject", in: message) ?? "").hasPrefix("แจ้งเหตุสำคัญ") {
                    byRecipient[header("To", in: message) ?? "", default: []].insert(header("Message-ID", in: message) ?? "")
                }
                #expect(byRecipient.count == people)
                #expect(byRecipient.values.allSatisfy { $0.count == 1 })
                // None went out before its turn (a retry only moves a turn later).
                #expect(
                    try await connection.count(
                        """
                        SELECT count(*) FROM dsr.outbox AS o JOIN dsr.jobs AS j ON j.kind = 'notice' AND (j.payload ->> 'outbox_id')::bigint = o.id
                         WHERE o.template = 'breach_notice' AND o.sent_at < j.run_at
                        """) == 0)
                let status = try await connection.query("SELECT people, notices_sent FROM dsr.breach_status WHERE id = $1", [breach])[0]
                #expect(try status.decode("notices_sent", as: Int.self) == people)
            }
        }
    }
}
