import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

@testable import DSR

/// The four roles of migration 0016, given to login roles as a company would: the daemon
/// answers an erasure with nothing but `dsr_daemon`; an operator reads and acts only through
/// the functions; the portal and other systems reach only what they call.
@Suite("Least privilege")
struct RolesTests {
    /// Login roles for one test, members of dsr's roles; dropped afterwards.
    struct Logins {
        let suffix = UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8).lowercased()
        func name(_ role: String) -> String { "t_\(suffix)_\(role)" }

        func create(on connection: PostgresConnection) async throws {
            for role in ["daemon", "operator", "submitter", "portal"] {
                try await connection.execute("CREATE ROLE \(name(role)) LOGIN IN ROLE dsr_\(role)")
            }
        }

        func drop(on connection: PostgresConnection) async throws {
            for role in ["daemon", "operator", "submitter", "portal"] { try await connection.execute("DROP ROLE \(name(role))") }
        }
    }

    /// Whether `body` was refused for lack of privilege (SQLSTATE 42501).
    static func isDenied(_ body: () async throws -> Void) async -> Bool {
        await postgresError(body)?.sqlState == "42501"
    }

    @Test func anOperatorActsOnlyThroughTheFunctionsAndTheirNameIsRecorded() async throws {
        try await TestDatabase.migrated { database, connection in
            let logins = Logins()
            try await logins.create(on: connection)
            let id = try await connection.query("SELECT dsr.submit('access', '{\"email\": \"a@example.com\"}') AS id")[0].decode(
                "id", as: UUID.self)
            let other = try await connection.query("SELECT dsr.submit('access', '{\"email\": \"b@example.com\"}') AS id")[0].decode(
                "id", as: UUID.self)
            try await connection.execute("SELECT dsr.append_audit($1, repeat('a', 64))", [id])
            do {
                let operator_ = try await PostgresConnection.connect(database.conninfo + " user=\(logins.name("operator"))")
                // Reading: the views and tables, not the code and link hashes.
                #expect(try await operator_.count("SELECT count(*) FROM dsr.request_status") == 2)
                #expect(try await operator_.count("SELECT count(*) FROM dsr.audit_log") == 1)
                #expect(await Self.isDenied { try await operator_.execute("SELECT * FROM dsr.verification_codes") })
                #expect(await Self.isDenied { try await operator_.execute("SELECT * FROM dsr.download_links") })
                // Writing directly: refused everywhere that matters.
                #expect(
                    await Self.isDenied { try await operator_.execute("UPDATE dsr.requests SET status = 'completed' WHERE id = $1", [id]) })
                #expect(await Self.isDenied { try await operator_.execute("DELETE FROM dsr.audit_log") })
                #expect(await Self.isDenied { try await operator_.execute("UPDATE dsr.jobs SET state = 'dead'") })
                #expect(await Self.isDenied { try await operator_.execute("DELETE FROM dsr.outbox") })
                #expect(
                    await Self.isDenied { try await operator_.execute("UPDATE dsr.deadline_policy SET max_period = interval '10 years'") })
                // Through the functions: allowed, and who acted is the login role.
                try await operator_.execute("SELECT dsr.refuse_request($1, 'manifestly unfounded: a test')", [other])
                try await operator_.execute(
                    "SELECT dsr.record_representative($1, 'Malee Jaidee', 'parent', 'birth certificate seen')", [id])
                #expect(try await connection.count("SELECT count(*) FROM dsr.requests WHERE id = $1 AND status = 'refused'", [other]) == 1)
                let recordedBy = try await connection.query(
                    "SELECT detail ->> 'recorded_by' AS who FROM dsr.request_events WHERE request_id = $1 AND step = 'representative_recorded'",
                    [id])[0].decode("who", as: String.self)
                #expect(recordedBy == logins.name("operator"))
                await operator_.close()

                // Other systems: submit, nothing else.
                let submitter = try await PostgresConnection.connect(database.conninfo + " user=\(logins.name("submitter"))")
                #expect(try await submitter.count("SELECT count(*) FROM dsr.submit('access', '{\"email\": \"c@example.com\"}')") == 1)
                #expect(await Self.isDenied { try await submitter.execute("SELECT * FROM dsr.requests") })
                #expect(await Self.isDenied { try await submitter.execute("SELECT dsr.refuse_request($1, 'no')", [id]) })
                await submitter.close()

                // The portal: its functions, no table.
                let portal = try await PostgresConnection.connect(database.conninfo + " user=\(logins.name("portal"))")
                #expect(try await portal.count("SELECT count(*) FROM dsr.portal_status($1)", [id]) == 1)
                #expect(try await portal.count("SELECT count(*) FROM dsr.correctable_field_names()") >= 0)
                #expect(await Self.isDenied { try await portal.execute("SELECT * FROM dsr.correctable_fields") })
                #expect(await Self.isDenied { try await portal.execute("SELECT * FROM dsr.requests") })
                #expect(await Self.isDenied { try await portal.execute("SELECT dsr.retry_job(1)") })
                await portal.close()
            } catch {
                try await logins.drop(on: connection)
                throw error
            }
            try await logins.drop(on: connection)
        }
    }

    @Test func theDaemonAnswersAnErasureWithOnlyItsRole() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let logins = Logins()
                try await logins.create(on: connection)
                let keys = try makeKeys()
                let exports = try temporaryDirectory()
                defer { for directory in [keys.directory, exports] { try? FileManager.default.removeItem(at: directory) } }
                let id = try await connection.query("SELECT dsr.submit('erasure', '{\"customer_id\": \"T-1\"}') AS id")[0].decode(
                    "id", as: UUID.self)
                let asDaemon = ["--set", "database.url=\(database.conninfo) user=\(logins.name("daemon"))"]
                let run = try await runInProcessUntilCompleted(
                    id, database.erasureArguments(exports, key: keys.privateKey, extra: asDaemon), environment: stores.environment,
                    on: connection)
                let errors = try await connection.query("SELECT coalesce(string_agg(DISTINCT last_error, ' | '), '') AS e FROM dsr.jobs")[0]
                    .decode("e", as: String.self)
                #expect(run.completed, "\(errors)")
                #expect(try await connection.count("SELECT count(*) FROM dsr.audit_log WHERE request_id = $1", [id]) == 1)
                // Appending went through dsr.append_audit; the daemon's role cannot write the chain itself.
                let daemon = try await PostgresConnection.connect(database.conninfo + " user=\(logins.name("daemon"))")
                #expect(await Self.isDenied { try await daemon.execute("DELETE FROM dsr.audit_log") })
                #expect(await Self.isDenied { try await daemon.execute("UPDATE dsr.schema_migrations SET checksum = ''") })
                await daemon.close()

                // The portal's pages work with nothing but dsr_portal.
                let portal = try await PortalHarness(
                    database: database, exports: exports, settings: ["database.url=\(database.conninfo) user=\(logins.name("portal"))"])
                let browser = portal.browser()
                _ = try await browser.get("/")
                let submitted = try await browser.post("/requests", [("kind", "access"), ("customer_id", "T-2")])
                #expect(submitted.status == 303, "\(submitted.text)")
                #expect(try await connection.count("SELECT count(*) FROM dsr.requests WHERE kind = 'access'") == 1)
                await portal.stop()
                try await logins.drop(on: connection)
            }
        }
    }

    /// A store user with exactly the GRANTs `dsrd grants` prints answers every kind of
    /// request, and `dsrd check` finds nothing to say about its privileges; one missing or one
    /// too many is reported.
    @Test func aStoreUserWithExactlyThePrintedGrantsAnswersEveryRight() async throws {
        try await TestDatabase.migrated { database, connection in
            // Created before the stores and dropped after them: its privileges go with their databases.
            let user = "t_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8).lowercased())_store"
            try await connection.execute("CREATE ROLE \(user) LOGIN")
            defer { Task { try? await connection.execute("DROP ROLE \(user)") } }
            try await StoreFixture.with(customers: 20) { stores in
                for mapping in try stores.mappings() {
                    let store = try await PostgresConnection.connect(stores.url(mapping.name))
                    for statement in StoreGrants(mapping).statements(role: user) { try await store.execute(statement) }
                    await store.close()
                }
                let environment = stores.environment.mapValues { $0 + " user=\(user)" }
                let keys = try makeKeys()
                let exports = try temporaryDirectory()
                defer { for directory in [keys.directory, exports] { try? FileManager.default.removeItem(at: directory) } }
                // A user granted before SELECT on the suppression list was printed still erases
                // (adding the hashes as before); it is granted again for the check below.
                let marketing = try await PostgresConnection.connect(stores.url("marketing"))
                try await marketing.execute("REVOKE SELECT ON suppressions FROM \(user)")
                for submit in [
                    "SELECT dsr.submit('rectification', '{\"customer_id\": \"T-2\"}', '{\"changes\": {\"email\": \"mali.new@example.co.th\"}}') AS id",
                    "SELECT dsr.submit('restriction', '{\"customer_id\": \"T-2\"}') AS id",
                    "SELECT dsr.submit('objection', '{\"customer_id\": \"T-2\"}') AS id",
                    "SELECT dsr.submit('erasure', '{\"customer_id\": \"T-1\"}') AS id",
                ] {
                    let id = try await connection.query(submit)[0].decode("id", as: UUID.self)
                    let run = try await runInProcessUntilCompleted(
                        id, database.erasureArguments(exports, key: keys.privateKey), environment: environment, on: connection)
                    let errors = try await connection.query(
                        "SELECT coalesce(string_agg(DISTINCT last_error, ' | '), '') AS e FROM dsr.jobs WHERE request_id = $1", [id])[0]
                        .decode("e", as: String.self)
                    #expect(run.completed, "\(submit): \(errors)")
                }
                try await marketing.execute("GRANT SELECT ON suppressions TO \(user)")
                await marketing.close()

                let mappings = try stores.mappings().map { mapping in
                    var mapping = mapping
                    mapping.url += " user=\(user)"
                    return mapping
                }
                for mapping in mappings {
                    let report = try await SQLConnector(mapping: mapping, maxConnections: 1).privilegeFindings()
                    #expect(report.isEmpty, "\(mapping.name): \(report)")
                }
                let order = try await PostgresConnection.connect(stores.url("order"))
                try await order.execute("REVOKE DELETE ON shipments FROM \(user)")
                try await order.execute("GRANT TRUNCATE ON orders TO \(user)")
                await order.close()
                let findings = try await SQLConnector(mapping: mappings.first { $0.name == "order" }!, maxConnections: 1)
                    .privilegeFindings()
                #expect(findings.contains { $0.severity == .error && $0.table == "shipments" && $0.message == "DELETE is not granted" })
                #expect(
                    findings.contains { $0.severity == .warning && $0.table == "orders" && $0.message.hasPrefix("TRUNCATE is granted") })
                // The whole check names the missing grant too, instead of stopping where the
                // planner refuses a statement on that table.
                let check = try await SQLConnector(mapping: mappings.first { $0.name == "order" }!, maxConnections: 1).check()
                #expect(check.findings.contains { $0.severity == .error && $0.message == "DELETE is not granted" }, "\(check.findings)")
                let asOwner = try await SQLConnector(mapping: try stores.mappings().first { $0.name == "order" }!, maxConnections: 1)
                    .privilegeFindings()
                #expect(asOwner.map(\.message) == ["connected as a superuser: give dsrd a role with only the GRANTs `dsrd grants` prints"])
            }
        }
    }
}
