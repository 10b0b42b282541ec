import Crypto
import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

@testable import DSR

struct CompletedExport {
    let id: UUID
    let result: [String: Any]
    let bundle: OpenedBundle
    let daemonOutput: String
}

/// Submits a request with `submitSQL` (which returns its id as `id`), runs `dsrd run` on the
/// fixture's stores until the request completes, stops the daemon, and opens the bundle.
func runExport(
    _ submitSQL: String, database: TestDatabase, connection: PostgresConnection, stores: StoreFixture,
    exports: URL
) async throws -> CompletedExport {
    let id = try await connection.query(submitSQL)[0].decode("id", as: UUID.self)
    let run = try await runInProcessUntilCompleted(id, database.exportArguments(exports), environment: stores.environment, on: connection)
    guard run.completed, run.status == 0 else { throw CocoaError(.featureUnsupported, userInfo: [NSLocalizedDescriptionKey: run.output]) }
    let result = try await completedResult(connection, id)
    guard let path = result["export_path"] as? String else { throw CocoaError(.fileNoSuchFile) }
    return CompletedExport(id: id, result: result, bundle: try OpenedBundle(path: path), daemonOutput: run.output)
}

@Suite("Access and portability exports across the stores")
struct ExportTests {
    @Test func accessExportHoldsEveryRowOfThePersonAndNoneOfTheFamilyMemberSharingTheirPhone() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                // A signup at the shop's counter left only the family's phone, which both T-1's
                // and T-2's records carry: it may be either's, so it goes to neither.
                let marketing = try await PostgresConnection.connect(stores.url("marketing"))
                try await marketing.execute(
                    "INSERT INTO subscriptions (email, phone, channel, source, subscribed_at) VALUES (NULL, '081 234 5678', 'sms', 'shop counter', now())"
                )
                await marketing.close()
                let export = try await runExport(
                    "SELECT dsr.submit('access', '{\"email\": \"somchai.test@example.co.th\", \"phone\": \"081-234-5678\"}') AS id",
                    database: database, connection: connection, stores: stores, exports: exports)
                let (id, result, bundle) = (export.id, export.result, export.bundle)
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.request_events WHERE request_id = $1 AND step = 'shared_phone_left_out'", [id]) == 1)
                // The completion notices say so (their variables are the result's).
                #expect(result["shared_phone_left_out"] as? Bool == true)
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template IN ('completed', 'dpo_completion') AND (variables ->> 'shared_phone_left_out')::boolean",
                        [id]) >= 1)
                let path = try #require(result["export_path"] as? String)
                #expect(path.hasPrefix(exports.path + "/"))
                #expect(URL(fileURLWithPath: path).lastPathComponent.count == 36)  // 32 hex + .zip
                let attributes = try FileManager.default.attributesOfItem(atPath: path)
                #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

                #expect(try bundle.rows("customer/customers.json").map { $0["id"] as? String } == ["T-1"])
                let customer = try #require(try bundle.rows("customer/customers.json").first)
                #expect(customer["first_name"] as? String == "สมชาย")
                // Readable by the person: Thai is written as UTF-8, not as \u escapes.
                let customersJSON = String(decoding: try bundle.data("customer/customers.json"), as: UTF8.self)
                #expect(
                    customersJSON.contains("\"first_name\": \"สมชาย\"") || customersJSON.contains("\"first_name\":\"สมชาย\""),
                    "\(customersJSON.prefix(400))")
                #expect(!customersJSON.contains("\\u0e"))
                #expect(
                    String(decoding: try bundle.data("summary.txt"), as: UTF8.self).hasPrefix(
                        "ข้อมูลส่วนบุคคลของท่านที่ บริษัท สมาร์ทเทค เอ็นเตอร์ไพรส์ จำกัด"))
                #expect(customer["guardian_consent"] as? Bool == false)
                #expect(
                    try bundle.rows("customer/identity_documents.json").map { $0["scan"] as? String } == [
                        Data([0xde, 0xad, 0xbe, 0xef]).base64EncodedString()
                    ])
                #expect(try bundle.rows("customer/activity_log.json").count == 1)
                let orders = try bundle.rows("order/orders.json")
                #expect(orders.count == 3 && orders.allSatisfy { $0["customer_id"] as? String == "T-1" })
                #expect(orders.first?["total"] as? Double == 1500.5)
                for table in ["order_items", "payments", "invoices", "shipments"] {
                    #expect(try bundle.rows("order/\(table).json").count == 3, "\(table)")
                }
                #expect(try bundle.rows("marketing/subscriptions.json").map { $0["email"] as? String } == ["SOMCHAI.TEST@example.co.th"])
                #expect(try bundle.rows("marketing/consents.json").map { $0["customer_id"] as? String } == ["T-1"])
                #expect(try bundle.rows("marketing/campaign_events.json").map { $0["pixel_id"] as? String } == ["px-1"])
                #expect(try bundle.rows("marketing/ad_audiences.json").isEmpty)
                let everything = try bundle.paths.map { String(decoding: try bundle.data($0), as: UTF8.self) }.joined()
                #expect(!everything.contains("mali.test") && !everything.contains("T-2"))

                // The manifest lists every other file with the right digest and size.
                let manifest = try #require(try JSONSerialization.jsonObject(with: try bundle.data("manifest.json")) as? [String: Any])
                let files = try #require(manifest["files"] as? [[String: Any]])
                #expect(Set(files.compactMap { $0["path"] as? String }) == Set(bundle.paths).subtracting(["manifest.json"]))
                for file in files {
                    let data = try bundle.data(file["path"] as! String)
                    #expect(SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined() == file["sha256"] as? String)
                    #expect(data.count == file["size"] as? Int)
                }
                let manifestDigest = SHA256.hash(data: try bundle.data("manifest.json")).map { String(format: "%02x", $0) }.joined()
                #expect(result["manifest_sha256"] as? String == manifestDigest)
                // dsrd reads its own manifest back (ExportVerifier, and an earlier attempt's
                // bundle after a crash): it once never decoded (requestID vs request_id).
                #expect(ExportVerifier.problems(path: path, requestID: id).isEmpty)
                #expect(ExportVerifier.problems(path: path, requestID: UUID()).count == 1)
                let summary = String(decoding: try bundle.data("summary.txt"), as: UTF8.self)
                #expect(summary.contains("วัตถุประสงค์") && summary.contains("ระยะเวลาเก็บรักษา") && summary.contains("แหล่งที่มาของข้อมูล"))
                #expect(summary.contains("พ.ร.บ.การบัญชี"))
                #expect(
                    try await connection.count("SELECT count(*) FROM dsr.request_tasks WHERE request_id = $1 AND state = 'done'", [id]) == 3
                )
                #expect(
                    try await connection.count("SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'completed'", [id])
                        == 1)
                #expect(!export.daemonOutput.contains("somchai"))
            }
        }
    }

    /// A person with many rows has the store's other tables copied side by side on spare
    /// connections. These import the first connection's snapshot: rows committed after the
    /// export began are in no table, whichever connection copied it. The first table is
    /// locked until those rows are committed, so the export has taken its snapshot by then.
    @Test func aLargeExportCopiesItsTablesSideBySideFromOneSnapshot() async throws {
        try await StoreFixture.with(customers: 10, creating: ["order"]) { stores in
            let order = try await PostgresConnection.connect(stores.url("order"))
            try await stores.addOrders(on: order, customer: "T-1", count: SQLConnector.spreadExportFromRows + 200)
            func heldByT1() async throws -> [String: Int] {
                var counts: [String: Int] = [:]
                for table in StoreFixture.orderTables {
                    counts[table] = try await order.count(
                        table == "orders"
                            ? "SELECT count(*) FROM orders WHERE customer_id = 'T-1'"
                            : "SELECT count(*) FROM \(table) WHERE order_id IN (SELECT id FROM orders WHERE customer_id = 'T-1')")
                }
                return counts
            }
            let before = try await heldByT1()
            let mapping = try #require(try stores.mappings().first { $0.name == "order" })
            var connector = SQLConnector(mapping: mapping)
            var identity = IdentitySet()
            identity.customerIDs = ["T-1"]
            // A first export reads the catalog and leaves its spare connections idle in the
            // pool, ready for the next one.
            let warmUp = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: warmUp) }
            _ = try await connector.export(identity, into: warmUp, formats: [.json])
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }

            // Once the export has its snapshot, and before the other connections import it,
            // rows of the person are committed in every table: none of them may be exported.
            let writer = try await PostgresConnection.connect(stores.url("order"))
            connector.afterSnapshotExported = {
                try await writer.transaction { writer in
                    let late = try writer.query(
                        "INSERT INTO orders (customer_id, ordered_at, status, total) VALUES ('T-1', now(), 'delivered', 1) RETURNING id")[0]
                        .decode(
                            "id", as: Int64.self)
                    try writer.execute(
                        "INSERT INTO order_items (order_id, product, quantity, unit_price) SELECT $1, 'late', 1, 1 FROM generate_series(1, 5)",
                        [late])
                    try writer.execute(
                        "INSERT INTO payments (order_id, method, amount, paid_at) SELECT $1, 'card', 1, now() FROM generate_series(1, 5)",
                        [late])
                    try writer.execute(
                        "INSERT INTO invoices (order_id, invoice_no, issued_at, amount) SELECT $1, 'LATE', now(), 1 FROM generate_series(1, 5)",
                        [late])
                    try writer.execute(
                        "INSERT INTO shipments (order_id, carrier, tracking_no) SELECT $1, 'Kerry', 'LATE' FROM generate_series(1, 5)",
                        [late])
                }
            }
            let files = try await connector.export(identity, into: directory, formats: [.json])
            await writer.close()

            #expect(await connector.pool.openConnections > 1, "the tables were not copied side by side")
            var exported: [String: Int] = [:]
            for file in files { exported[file.table] = file.rows }
            #expect(exported == before)
            #expect(try await heldByT1()["shipments"] == before["shipments"]! + 5)
            #expect(files.map(\.table) == StoreFixture.orderTables)
            await order.close()
        }
    }

    @Test func portabilityExportHasJSONAndCSVInEnglish() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 50) { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let bundle = try await runExport(
                    "SELECT dsr.submit('portability', '{\"customer_id\": \"T-1\"}', '{\"locale\": \"en\"}') AS id",
                    database: database, connection: connection, stores: stores, exports: exports
                ).bundle
                let csv = String(decoding: try bundle.data("customer/customers.csv"), as: UTF8.self)
                let lines = csv.components(separatedBy: "\r\n").filter { !$0.isEmpty }
                #expect(lines.count == 2)
                #expect(lines[0].hasPrefix("id,first_name,last_name,date_of_birth"))
                #expect(lines[1].contains("T-1,สมชาย,ทดสอบ,1990-01-02"))
                #expect(try bundle.rows("order/orders.json").count == 3)
                #expect(String(decoding: try bundle.data("summary.txt"), as: UTF8.self).contains("Purposes: "))
            }
        }
    }

    @Test func personInNoStoreGetsAValidEmptyExportSayingSo() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let export = try await runExport(
                    "SELECT dsr.submit('access', '{\"email\": \"nobody@nowhere.example\"}') AS id",
                    database: database, connection: connection, stores: stores, exports: exports)
                #expect(export.result["rows_exported"] as? Int == 0)
                let bundle = export.bundle
                #expect(bundle.paths.count == 12 + 2)
                for path in bundle.paths where path.hasSuffix(".json") && path != "manifest.json" {
                    #expect(try bundle.rows(path).isEmpty, "\(path)")
                }
                #expect(String(decoding: try bundle.data("summary.txt"), as: UTF8.self).contains("ไม่พบข้อมูลส่วนบุคคลของท่าน"))
                #expect(export.result["nothing_held"] as? Bool == true)
            }
        }
    }

    /// Someone no store knows is told that nothing is held under the details they gave,
    /// whatever they asked: never that their data was erased, or that nothing needed to
    /// change. A known person whose request changed nothing is not told so.
    @Test func aPersonNoStoreKnowsIsToldSoWhateverTheyAsked() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let keys = try makeKeys()
                defer { try? FileManager.default.removeItem(at: keys.directory) }
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                for (kind, subject, options, nothingHeld) in [
                    ("erasure", #"{"email": "nobody@nowhere.example"}"#, "{}", true),
                    ("restriction", #"{"email": "nobody@nowhere.example"}"#, "{}", true),
                    ("objection", #"{"email": "somchai.test@example.co.th"}"#, #"{"purposes": ["product_improvement"]}"#, false),
                ] {
                    let id = try await connection.query(
                        "SELECT dsr.submit($1, $2::jsonb, $3::jsonb) AS id", [kind, subject, options])[0].decode("id", as: UUID.self)
                    let run = try await runInProcessUntilCompleted(
                        id, database.erasureArguments(exports, key: keys.privateKey), environment: stores.environment, on: connection)
                    #expect(run.completed, "\(kind): \(run.output)")
                    let result = try await completedResult(connection, id)
                    #expect((result["nothing_held"] as? Bool ?? false) == nothingHeld, "\(kind): \(result)")
                }
            }
        }
    }

    @Test func marketingStoreDownMakesTheRequestWaitWarnsTheDPOAndCompletesWhenItReturns() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20, creating: ["customer", "order"]) { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let id = try await connection.query(
                    "SELECT dsr.submit('access', '{\"email\": \"somchai.test@example.co.th\"}') AS id")[0].decode("id", as: UUID.self)
                let daemon = try BackgroundDaemon(database.exportArguments(exports), environment: stores.environment)
                // The other stores' tasks finish whenever they do (under load, after the marketing
                // task's third failure): waited for too, not assumed.
                #expect(
                    try await eventually {
                        let failing = try await connection.count(
                            "SELECT count(*) FROM dsr.request_tasks WHERE request_id = $1 AND store = 'marketing' AND state = 'waiting' AND failures >= 3",
                            [id])
                        let done = try await connection.count(
                            "SELECT count(*) FROM dsr.request_tasks WHERE request_id = $1 AND store <> 'marketing' AND state = 'done'", [id]
                        )
                        return failing == 1 && done == 2
                    }, "\(daemon.output)")
                let waiting = try await connection.query("SELECT status, current_step, tasks FROM dsr.request_status WHERE id = $1", [id])[
                    0]
                #expect(try waiting.decode("status", as: String.self) == "waiting")
                #expect(try waiting.decode("current_step", as: String.self).hasPrefix("waiting for store marketing"))
                #expect(try waiting.decode("tasks", as: String.self) == "customer:done marketing:waiting order:done")
                #expect(try await connection.count("SELECT count(*) FROM dsr.outbox WHERE template = 'dpo_store_unreachable'") == 1)

                // The store comes back while no daemon runs (the task retries by time, so it
                // would not die either way; a stopped daemon keeps the test about the outcome).
                _ = await daemon.stop()
                #expect(try await connection.count("SELECT count(*) FROM dsr.jobs WHERE request_id = $1 AND state = 'dead'", [id]) == 0)
                try await stores.createAtomically("marketing", customers: 20)
                let restarted = try await runInProcessUntilCompleted(
                    id, database.exportArguments(exports), environment: stores.environment, on: connection)
                #expect(restarted.completed, "\(restarted.output)")
                let bundle = try OpenedBundle(path: try #require(try await completedResult(connection, id)["export_path"] as? String))
                #expect(try bundle.rows("marketing/consents.json").count == 1)
            }
        }
    }

    /// The forms people really write: a national id in Thai digits, an email whose domain is
    /// in punycode while the store holds it in Thai script (and the reverse).
    @Test func identifiersInThaiDigitsAndEitherDomainFormFindThePerson() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 10) { stores in
                let customer = try await PostgresConnection.connect(stores.url("customer"))
                try await customer.execute(
                    """
                    INSERT INTO customers (id, first_name, last_name, email, login_provider)
                    VALUES ('T-5', 'สมหญิง', 'ไอดีเอ็น', 'somying@ตัวอย่าง.ไทย', 'password'),
                           ('T-6', 'วิชัย', 'พิวนี', 'wichai@xn--72c1a1bt4awk9o.xn--o3cw4h', 'password')
                    """)
                await customer.close()
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let cases = [
                    (#"{"national_id": "๑-๑๐๑๗-๐๐๒๐๗-๐๓-๐"}"#, "T-1"),
                    (#"{"email": "Somying@xn--72c1a1bt4awk9o.xn--o3cw4h"}"#, "T-5"),
                    (#"{"email": "wichai@ตัวอย่าง.ไทย"}"#, "T-6"),
                ]
                for (subject, person) in cases {
                    let export = try await runExport(
                        "SELECT dsr.submit('access', '\(subject)') AS id", database: database, connection: connection, stores: stores,
                        exports: exports)
                    #expect(try export.bundle.rows("customer/customers.json").map { $0["id"] as? String } == [person], "\(subject)")
                }
            }
        }
    }

    /// What interrupted work left in the exports folder is removed at start once its request
    /// has ended (or never existed); an open request's staging and partial file stay.
    @Test func leftoversOfEndedRequestsAreCleanedUpAtStart() async throws {
        try await TestDatabase.migrated { database, connection in
            let exports = try temporaryDirectory()
            let noStores = try temporaryDirectory()
            defer { for folder in [exports, noStores] { try? FileManager.default.removeItem(at: folder) } }
            let ended = try await connection.query("SELECT dsr.submit('access', '{\"email\": \"a@example.co.th\"}') AS id")[0].decode(
                "id", as: UUID.self)
            try await connection.execute("SELECT dsr.refuse_request($1, 'duplicate')", [ended])
            let open = try await connection.query("SELECT dsr.submit('access', '{\"email\": \"b@example.co.th\"}') AS id")[0].decode(
                "id", as: UUID.self)
            try await connection.execute("SELECT dsr.ask_identity_verification($1)", [open])
            try await connection.execute(
                "UPDATE dsr.requests SET result = jsonb_build_object('export_file', $2::text) WHERE id = $1", [open, "0123abcd.zip"])
            let staging = exports.appendingPathComponent(".staging")
            let folders = [ended, open, UUID()].map { staging.appendingPathComponent($0.uuidString.lowercased()) }
            for folder in folders {
                try FileManager.default.createDirectory(at: folder.appendingPathComponent("customer"), withIntermediateDirectories: true)
                try Data("[]".utf8).write(to: folder.appendingPathComponent("customer/customers.json"))
            }
            let partials = [".0123abcd.zip.partial", ".ffff0000.zip.partial", ".0123abcd.zip.12-1.partial", ".ffff0000.zip.13-2.partial"]
                .map { exports.appendingPathComponent($0) }
            for partial in partials { try Data("PK".utf8).write(to: partial) }
            let daemon = try BackgroundDaemon(database.exportArguments(exports, extra: ["--set", "connectors.directory=\(noStores.path)"]))
            let exists = { (url: URL) in FileManager.default.fileExists(atPath: url.path) }
            #expect(
                try await eventually { !exists(folders[0]) && !exists(folders[2]) && !exists(partials[1]) && !exists(partials[3]) },
                "\(daemon.output)")
            #expect(exists(folders[1]) && exists(partials[0]) && exists(partials[2]))
            #expect(await daemon.stop() == 0)
        }
    }

    @Test func httpStoreIsExportedThroughItsRESTEndpoint() async throws {
        let stub = try await ScriptedServer.httpStub(
            statuses: [200],
            body: #"{"tables": {"tickets": [{"id": 7, "subject": "ฟิล์มลอก", "open": true, "meta": {"channel": "line"}}], "other": []}}"#)
        let mapping = try ConnectorCatalog.parse(
            """
            name = "helpdesk"
            type = "http"
            url = "\(stub.url)"
            export_path = "/v2/dsr/export"
            [[tables]]
            name = "tickets"
            identity = { email = "requester_email" }
            """, source: "helpdesk.toml")
        let connector = HTTPConnector(mapping: mapping, token: "t0ken")
        var identity = IdentitySet()
        identity.add("Somchai.Test@Example.co.th", as: .email)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let files = try await connector.export(identity, into: directory, formats: [.json, .csv])
        #expect(files.map(\.path) == ["helpdesk/tickets.json", "helpdesk/tickets.csv"])
        let rows =
            try JSONSerialization.jsonObject(
                with: StagedFiles.contents(of: "helpdesk/tickets.json", in: directory, files: files))
            as? [[String: Any]]
        #expect(rows?.first?["subject"] as? String == "ฟิล์มลอก")
        #expect(rows?.first?["open"] as? Bool == true)
        #expect(rows?.first?["id"] as? Int == 7)
        let request = try #require(try stub.requests().first)
        #expect(request.path == "/v2/dsr/export")
        #expect(request.headers["Authorization"] == "Bearer t0ken")
        #expect(request.body.contains("somchai.test@example.co.th"))
    }
}

@Suite("Identity and store mappings")
struct IdentityTests {
    /// Every lookup a request makes in the demo stores is served by an index once `dsrd demo`
    /// created the missing ones: with sequential scans priced out, no plan falls back to one
    /// (an OR-arm no index serves would force it), and the advisor finds nothing missing.
    @Test func lookupsAreServedByTheGeneratedIndexes() async throws {
        try await StoreFixture.with(customers: 50) { stores in
            var identity = IdentitySet()
            identity.emails = ["somchai.test@example.co.th"]
            identity.phones = ["+66812345678"]
            identity.customerIDs = ["T-1"]
            identity.nationalIDs = ["1101700207030"]
            for mapping in try stores.mappings() {
                let connector = SQLConnector(mapping: mapping)
                let statements = try await connector.statements()
                let connection = try await PostgresConnection.connect(mapping.url)
                try await connection.execute("SET enable_seqscan = off")
                for table in mapping.tables {
                    var binder = SQLStatements.Binder()
                    let sql =
                        "EXPLAIN SELECT t0.* FROM \"\(table.name)\" AS t0 WHERE \(statements.condition(table, alias: "t0", identity: identity, binder: &binder))"
                    let plan = try await connection.query(sql, binder.parameters).map { try $0.decode(at: 0, as: String.self) }.joined(
                        separator: "\n")
                    #expect(!plan.contains("Seq Scan"), "\(mapping.name).\(table.name):\n\(plan)")
                }
                #expect(try await connector.lookupIndexes().filter { !$0.isServed }.map(\.createIndex) == [])
                await connection.close()
            }
        }
    }

    /// An export plans its lookups once per connection, generically: a partial index
    /// (`WHERE … <> ''`) serves a value the planner can see, not a bound parameter. So the
    /// advisor does not count it, and `dsrd indexes` proposes the index the export can use.
    @Test func aPartialIndexDoesNotServeAGenericLookup() async throws {
        try await StoreFixture.with(customers: 50) { stores in
            let mapping = try #require(try stores.mappings().first { $0.name == "customer" })
            let connector = SQLConnector(mapping: mapping)
            func emailLookup() async throws -> LookupIndex {
                try #require(try await connector.lookupIndexes().first { $0.table == "customers" && $0.lookup.hasPrefix("email lookup") })
            }
            let index = try #require(try await emailLookup().servedBy)
            let connection = try await PostgresConnection.connect(mapping.url)
            let definition = try await connection.query("SELECT pg_get_indexdef(to_regclass($1)) AS d", [index])[0].decode(
                "d", as: String.self)
            let expression = try #require(definition.range(of: " USING btree ").map { String(definition[$0.upperBound...]) })
            try await connection.execute("DROP INDEX \"\(index)\"")
            try await connection.execute("CREATE INDEX customers_email_given ON customers \(expression) WHERE \(expression) <> ''")
            #expect(try await emailLookup().servedBy == nil)
            await connection.close()
        }
    }

    @Test func shippedMappingsLoad() throws {
        let stores = try ConnectorCatalog.load(directory: StoreFixture.connectorsDirectory, environment: [:])
        #expect(stores.map(\.name) == ["customer", "marketing", "order"])
        #expect(stores.flatMap(\.tables).count == 12)
    }

    @Test(arguments: [
        ("name = \"x\"\n[[tables]]\nname = \"t\"\n", "needs an identity column or a parent"),
        ("name = \"x\"\n[[tables]]\nname = \"t; drop\"\nidentity = { email = \"e\" }\n", "must be an SQL identifier"),
        ("name = \"x\"\n[[tables]]\nname = \"t\"\nidentity = { fax = \"f\" }\n", "unknown identifier fax"),
        (
            "name = \"x\"\n[[tables]]\nname = \"t\"\nidentity = { email = \"e\" }\ncategories = { e = \"secret\" }\n",
            "unknown category secret"
        ),
        (
            "name = \"x\"\n[[tables]]\nname = \"t\"\nparent = { table = \"later\", column = \"a\", references = \"id\" }\n",
            "must be declared before it"
        ),
        ("name = \"x\"\ncolour = \"red\"\n[[tables]]\nname = \"t\"\nidentity = { email = \"e\" }\n", "unknown key colour"),
        ("name = \"x\"\n", "at least one [[tables]]"),
    ])
    func badMappingsGiveClearErrors(toml: String, message: String) {
        do {
            _ = try ConnectorCatalog.parse(toml, source: "bad.toml")
            Issue.record("accepted \(toml)")
        } catch let error as ConfigurationError {
            #expect(error.description.hasPrefix("bad.toml: ") && error.description.contains(message), "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
