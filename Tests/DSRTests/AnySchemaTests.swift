import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

@testable import DSR

/// A store schema nobody at dsrd wrote (`Tests/Fixtures/shop`): integer keys, a composite
/// key, a leaf table without dates anonymised in place, a marketing table keyed by email,
/// numeric, date and jsonb columns, and a passport as an identifier of its own.
struct ShopFixture: Sendable {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/shop")
    static var connectors: String { directory.appendingPathComponent("connectors").path }

    let database: String
    var url: String { "dbname=\(database)" }
    var environment: [String: String] { ["DSRD_STORE_SHOP_URL": url] }

    static func with<T: Sendable>(customers: Int, _ body: (ShopFixture) async throws -> T) async throws -> T {
        let fixture = ShopFixture(database: "t_shop_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(10).lowercased())
        let admin = try await PostgresConnection.connect("dbname=postgres")
        // The name is generated above from hex digits.
        try await AdmissionGate.databaseCreation.run {
            try await admin.execute("CREATE DATABASE \(fixture.database) TEMPLATE template0 ENCODING 'UTF8'")
        }
        do {
            let store = try await PostgresConnection.connect(fixture.url)
            try await store.execute("SELECT set_config('shop.customers', $1, false)", [String(customers)])
            try await store.runScript(try String(contentsOf: directory.appendingPathComponent("shop.sql"), encoding: .utf8))
            await store.close()
            let value = try await body(fixture)
            try await admin.execute("DROP DATABASE IF EXISTS \(fixture.database) WITH (FORCE)")
            return value
        } catch {
            _ = try? await admin.execute("DROP DATABASE IF EXISTS \(fixture.database) WITH (FORCE)")
            throw error
        }
    }

    /// A folder holding the shop mapping with each `(old, new)` made once (each `old` must be
    /// there) and `appending` added at the end, for a test's variant; remove it after.
    static func mapping(replacing replacements: [(String, String)] = [], appending extra: String = "") throws -> URL {
        var mapping = try String(contentsOfFile: connectors + "/shop.toml", encoding: .utf8)
        for (old, new) in replacements {
            guard let range = mapping.range(of: old) else { throw ShopMappingError(description: "the shop mapping has no \(old)") }
            mapping.replaceSubrange(range, with: new)
        }
        let folder = try temporaryDirectory()
        try (mapping + extra).write(to: folder.appendingPathComponent("shop.toml"), atomically: true, encoding: .utf8)
        return folder
    }

    struct ShopMappingError: Error, CustomStringConvertible { let description: String }

    /// `dsrd run` on this store with the fast test queue: `connectors` a variant of the
    /// mapping, `exports` where exports go, `signingKey` the proofs' private key.
    func daemon(
        database: TestDatabase, connectors: URL? = nil, exports: URL? = nil, signingKey: String? = nil,
        environment: [String: String]? = nil
    ) throws -> BackgroundDaemon {
        var extra = fastQueue
        if let connectors { extra += ["--set", "connectors.directory=\(connectors.path)"] }
        if let exports { extra += ["--set", "exports.directory=\(exports.path)"] }
        if let signingKey { extra += ["--set", "proofs.signing_key_file=\(signingKey)"] }
        return try BackgroundDaemon(arguments(["run"], database: database, extra: extra), environment: environment ?? self.environment)
    }

    /// A login role for the store holding what `dsrd grants` prints for `connectors`'
    /// mapping, granted on `store` as the tables' owner; drop it with `DROP OWNED BY`.
    func roleWithGrants(database: TestDatabase, connectors: URL, on store: PostgresConnection) async throws -> String {
        let role = "t_store_" + UUID().uuidString.prefix(8).lowercased()
        try await store.execute("CREATE ROLE \(role) LOGIN")
        let grants = try await DaemonProcess.run(
            arguments(["grants"], database: database, extra: ["--set", "connectors.directory=\(connectors.path)", "--role", role]),
            environment: environment)
        for statement in grants.output.split(separator: "\n") where statement.hasPrefix("GRANT") {
            try await store.execute(String(statement))
        }
        return role
    }

    /// The environment that has dsrd connect to this store as `role` (`roleWithGrants`),
    /// with `options` added to its conninfo.
    func environment(as role: String, options: String = "") -> [String: String] {
        ["DSRD_STORE_SHOP_URL": url + " user=\(role)" + (options.isEmpty ? "" : " " + options)]
    }

    /// Drops a role `roleWithGrants` made, with its privileges on `store`.
    func drop(role: String, on store: PostgresConnection) async throws {
        try await store.execute("DROP OWNED BY \(role)")
        try await store.execute("DROP ROLE \(role)")
    }

    /// `dsrd run` / `check` / `indexes` arguments for this store and the passport kind.
    func arguments(_ command: [String], database: TestDatabase, extra: [String] = []) -> [String] {
        command + [
            "--config", ConfigurationTests.exampleFile, "--database-url", database.conninfo,
            "--set", "connectors.directory=\(Self.connectors)", "--set", "identifiers.extra_kinds=passport",
        ] + extra
    }
}

extension BackgroundDaemon {
    /// Submits a request (`sql` returns its `id`), waits until this daemon has completed it
    /// (an expectation that fails with the daemon's output if it never does), and returns its
    /// `dsr.requests.result`.
    func answer(
        _ sql: String, _ parameters: [any PostgresEncodable] = [], on connection: PostgresConnection,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [String: Any] {
        let id = try await connection.query(sql, parameters)[0].decode("id", as: UUID.self)
        let done = try await eventually { try await connection.isCompleted(id) }
        #expect(done, "\(output.suffix(3000))", sourceLocation: sourceLocation)
        return try await completedResult(connection, id)
    }
}

@Suite("Any company's schema")
struct AnySchemaTests {
    /// `dsrd check` finds the lookups no index serves and the statements that would scan
    /// whole tables; after `dsrd indexes`' statements it finds none. Then every kind of
    /// request works on the schema: access by passport written with dashes, portability,
    /// rectification of a date, a marketing objection, and an erasure that deletes,
    /// anonymises in place and keeps by rule, counted apart and proven.
    @Test func aPlainShopSchemaIsCheckedIndexedAndAnswersEveryRight() async throws {
        let keys = try makeKeys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }
        try await TestDatabase.migrated { database, connection in
            try await ShopFixture.with(customers: 20_000) { shop in
                let before = try await DaemonProcess.run(shop.arguments(["check"], database: database), environment: shop.environment)
                #expect(before.status == 1, "\(before.output)")
                for lookup in [
                    "customers: email lookup on email has no index", "customers: passport lookup on passport has no index",
                    "orders: customer_id lookup on customer_id has no index",
                ] {
                    #expect(before.output.contains(lookup), "\(lookup)\n\(before.output)")
                }
                // The primary key serves the integer id, and the composite key's leading column the parent link.
                #expect(before.output.contains("ok    customers: customer_id lookup on id, served by customers_pkey"), "\(before.output)")
                #expect(
                    before.output.contains("ok    order_items: parent orders.id through order_id, served by order_items_pkey"),
                    "\(before.output)")
                #expect(before.output.contains("SCAN  identity resolution in customers reads all of customers"), "\(before.output)")

                let indexes = try await DaemonProcess.run(shop.arguments(["indexes"], database: database), environment: shop.environment)
                #expect(indexes.status == 0, "\(indexes.output)")
                let statements = indexes.output.split(separator: "\n").filter { $0.hasPrefix("CREATE INDEX") }
                #expect(statements.count == 5, "\(indexes.output)")  // email, phone, passport, orders.customer_id, newsletter email
                let store = try await PostgresConnection.connect(shop.url)
                for statement in statements { try await store.execute(String(statement)) }
                try await store.execute("ANALYZE customers, orders, order_items, newsletter")
                let after = try await DaemonProcess.run(shop.arguments(["check"], database: database), environment: shop.environment)
                #expect(after.status == 0, "\(after.output)")
                #expect(
                    after.output.contains("0 error(s)") && after.output.contains("0 missing index(es), 0 sequential scan(s)"),
                    "\(after.output)")
                let again = try await DaemonProcess.run(shop.arguments(["indexes"], database: database), environment: shop.environment)
                #expect(!again.output.contains("CREATE INDEX"), "nothing is proposed twice:\n\(again.output)")

                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let daemon = try shop.daemon(database: database, exports: exports, signingKey: keys.privateKey)
                // Requests may name a passport once the daemon published the configured kinds.
                #expect(
                    try await eventually {
                        try await connection.count("SELECT count(*) FROM dsr.identifier_kinds WHERE kind = 'passport'") == 1
                    })
                func submit(_ kind: String, _ subject: String, _ options: String = "{}") async throws -> [String: Any] {
                    let id = try await connection.query(
                        "SELECT dsr.submit($1, $2::jsonb, $3::jsonb) AS id", [kind, subject, options])[0].decode("id", as: UUID.self)
                    let ended = try await eventually {
                        try await connection.isCompleted(id)
                    }
                    #expect(ended, "\(kind) \(subject)\n\(daemon.output.suffix(3000))")
                    return try await completedResult(connection, id)
                }

                // Access by a passport written the way people write it.
                let access = try await submit("access", #"{"passport": "gb-000 0003"}"#)
                let bundle = try OpenedBundle(path: access["export_path"] as? String ?? "")
                let customer = try #require(try bundle.rows("shop/customers.json").first)
                #expect(customer["id"] as? Int == 3 && customer["full_name"] as? String == "Shopper 3")
                #expect((customer["preferences"] as? [String: Any])?["language"] as? String == "th")
                #expect((customer["credit_limit"] as? NSNumber)?.doubleValue == 300)
                #expect(customer["birth_date"] as? String == "1980-01-04")
                #expect(try bundle.rows("shop/orders.json").count == 3)
                let items = try bundle.rows("shop/order_items.json").map { "\($0["order_id"] ?? "")/\($0["sku"] ?? "")" }
                #expect(items.count == 6 && items == items.sorted { $0.localizedStandardCompare($1) == .orderedAscending })
                #expect(try bundle.rows("shop/newsletter.json").count == 1)  // stored as Shopper3@Example.com
                #expect(String(decoding: try bundle.data("summary.txt"), as: UTF8.self).contains("แอปสะสมแต้ม"))

                // Portability: the same data again, in the same order, with CSV.
                let portability = try await submit("portability", #"{"customer_id": "3"}"#)
                let portable = try OpenedBundle(path: portability["export_path"] as? String ?? "")
                #expect(try portable.data("shop/order_items.json") == (try bundle.data("shop/order_items.json")))
                #expect(
                    String(decoding: try portable.data("shop/order_items.csv"), as: UTF8.self).hasPrefix(
                        "order_id,sku,quantity,price,gift_note\r\n"))

                // Rectification of a date and a name, each in its column's own type.
                _ = try await submit(
                    "rectification", #"{"email": "shopper3@example.com"}"#,
                    #"{"changes": {"birth_date": "1990-05-01", "full_name": "สมชาย ใหม่"}}"#)
                let corrected = try await store.query("SELECT birth_date::text AS d, full_name FROM customers WHERE id = 3")[0]
                #expect(try corrected.decode("d", as: String.self) == "1990-05-01")
                #expect(try corrected.decode("full_name", as: String.self) == "สมชาย ใหม่")

                // A marketing objection stops the newsletter keyed by email.
                _ = try await submit("objection", #"{"email": "shopper3@example.com"}"#, #"{"purposes": ["marketing"]}"#)
                #expect(
                    try await store.count(
                        "SELECT count(*) FROM newsletter WHERE lower(email) = 'shopper3@example.com' AND unsubscribed_on IS NOT NULL") == 1)

                // Erasure: the customer anonymised in place (orders point at it), orders kept by
                // the hold or because their items are kept, items anonymised, the newsletter deleted.
                let erasure = try await submit("erasure", #"{"customer_id": "3"}"#)
                // The customer row counts as held: the store's foreign key from the kept orders
                // points at it (the mapping names no `parent` for orders).
                #expect(erasure["rows_deleted"] as? Int == 1, "\(erasure)")
                #expect(erasure["rows_anonymised"] as? Int == 6, "\(erasure)")
                #expect(erasure["rows_held_anonymised"] as? Int == 4, "\(erasure)")
                #expect(erasure["rows_held_unchanged"] as? Int == 0, "\(erasure)")
                #expect(erasure["rows_erased"] as? Int == 11 && erasure["rows_held"] as? Int == 4, "\(erasure)")
                let left = try await store.query(
                    "SELECT full_name, email, phone, birth_date, passport, preferences FROM customers WHERE id = 3")[0]
                #expect(try left.decode("full_name", as: String.self) == "ส***")
                #expect(try left.decode("email", as: String.self).range(of: "^[0-9a-f]{64}$", options: .regularExpression) != nil)
                #expect(try left.decode("phone", as: String?.self) == nil && left.decode("passport", as: String?.self) == nil)
                #expect(
                    try await store.count(
                        "SELECT count(*) FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.customer_id = 3 AND i.gift_note IS NOT NULL"
                    ) == 0)
                #expect(try await store.count("SELECT count(*) FROM orders WHERE customer_id = 3 AND delivery IS NOT NULL") == 0)
                #expect(try await store.count("SELECT count(*) FROM newsletter WHERE lower(email) = 'shopper3@example.com'") == 0)
                #expect(
                    try await store.count("SELECT count(*) FROM customers WHERE id = 4 AND full_name = 'Shopper 4' AND phone IS NOT NULL")
                        == 1)
                let verified = try await DaemonProcess.run(
                    [
                        "verify-proof", erasure["proof_path"] as? String ?? "", "--public-key", keys.publicKey, "--check-database",
                        "--database-url", database.conninfo,
                    ])
                #expect(verified.status == 0 && verified.output.hasPrefix("VALID"), "\(verified.output)")
                await store.close()
                #expect(await daemon.stop() == 0)
            }
        }
    }

    /// Strategies that cannot work on the schema as it is, found before any request.
    @Test func checkFindsWhatCannotWorkBeforeAnyRequestDoes() async throws {
        let broken = try ShopFixture.mapping(replacing: [
            ("full_name = \"mask\"", "full_name = \"null\"\nid = \"hash\"\nemail_domain = \"null\""),
            ("from = \"placed_on\"", "from = \"total\""),
            ("gift_note = \"other\"", "gift_note = \"other\"\nwrapping = \"other\""),
            // A passport read from a date column, and items linked to orders through a text column.
            ("passport = \"passport\" }", "passport = \"birth_date\" }"),
            (
                #"parent = { table = "orders", column = "order_id", references = "id" }"#,
                #"parent = { table = "orders", column = "sku", references = "id" }"#
            ),
        ])
        defer { try? FileManager.default.removeItem(at: broken) }
        try await TestDatabase.migrated { database, _ in
            try await ShopFixture.with(customers: 10) { shop in
                let store = try await PostgresConnection.connect(shop.url)
                try await store.execute(
                    "ALTER TABLE customers ADD COLUMN email_domain text GENERATED ALWAYS AS (split_part(email, '@', 2)) STORED")
                await store.close()
                let check = try await DaemonProcess.run(
                    shop.arguments(["check"], database: database, extra: ["--set", "connectors.directory=\(broken.path)"]),
                    environment: shop.environment)
                #expect(check.status == 1)
                #expect(check.output.contains("indexes and sequential scans are checked once the errors are fixed"), "\(check.output)")
                for message in [
                    "table customers: erasure.full_name = \"null\" on a NOT NULL column",
                    "table customers: erasure.id = \"hash\" needs a text column",
                    "table customers: erasure.id = \"hash\" changes a value orders.customer_id points at",
                    "table orders: hold rules count from a date: hold.from total is numeric(12,2)",
                    "table order_items: categories: no column wrapping",
                    "table customers: identity.passport birth_date is date: an identifier column holds text, a number or a uuid",
                    "table order_items: parent.column sku is text but orders.id is bigint: they cannot be compared",
                    "table customers: email_domain is a generated column (GENERATED ALWAYS AS … STORED): PostgreSQL lets nobody write it",
                ] {
                    #expect(check.output.contains(message), "\(message)\n\(check.output)")
                }
            }
        }
    }

    /// The shop's orders, kept by an erasure for their legal hold, are anonymised with `null`
    /// only and have no mapped parent that could carry a hash or mask: the retention sweep
    /// cannot tell them from a live customer's, so they would stay for ever. `dsrd check` warns,
    /// of orders only: customers and order items are anonymised in place, never released.
    @Test func rowsTheSweepCouldNeverReleaseAreWarnedOf() async throws {
        try await TestDatabase.migrated { database, _ in
            try await ShopFixture.with(customers: 10) { shop in
                let check = try await DaemonProcess.run(shop.arguments(["check"], database: database), environment: shop.environment)
                #expect(
                    check.output.contains(
                        "table orders: rows an erasure keeps here (for a hold, or because kept rows point at them) are anonymised with null only"
                    ), "\(check.output)")
                #expect(check.output.components(separatedBy: "anonymised with null only").count == 2, "\(check.output)")
            }
        }
    }

    /// Items linked to orders otherwise than the store's own foreign key links them (by
    /// their quantity, or to the orders' customer ids, where the key is `order_id →
    /// orders.id`) would match other people's items to the person's orders: `dsrd check`
    /// fails on it, and the daemon works on nothing in the store until it is mended, where
    /// it used to export and erase those rows.
    @Test(arguments: [
        (#"column = "quantity", references = "id""#, "parent.column quantity → orders.id"),
        (#"column = "order_id", references = "customer_id""#, "parent.column order_id → orders.customer_id"),
    ])
    func aParentLinkTheStoresForeignKeyContradictsIsRefused(link: String, named: String) async throws {
        let keys = try makeKeys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }
        let broken = try ShopFixture.mapping(replacing: [
            (
                #"parent = { table = "orders", column = "order_id", references = "id" }"#,
                #"parent = { table = "orders", "# + link + " }"
            )
        ])
        defer { try? FileManager.default.removeItem(at: broken) }
        try await TestDatabase.migrated { database, connection in
            try await ShopFixture.with(customers: 10) { shop in
                let check = try await DaemonProcess.run(
                    shop.arguments(["check"], database: database, extra: ["--set", "connectors.directory=\(broken.path)"]),
                    environment: shop.environment)
                #expect(check.status == 1)
                #expect(
                    check.output.contains(
                        "table order_items: \(named) is not how this table points at orders: its foreign key order_items_order_id_fkey links order_id → orders.id"
                    ), "\(check.output)")
                let store = try await PostgresConnection.connect(shop.url)
                let digest = "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) AS d FROM order_items AS t"
                let before = try await store.query(digest)[0].decode("d", as: String.self)
                let daemon = try shop.daemon(database: database, connectors: broken, exports: keys.directory, signingKey: keys.privateKey)
                let id = try await connection.query("SELECT dsr.submit('erasure', '{\"customer_id\": \"3\"}') AS id")[0].decode(
                    "id", as: UUID.self)
                let refused = try await eventually {
                    try await connection.count(
                        "SELECT count(*) FROM dsr.jobs WHERE request_id = $1 AND last_error LIKE '%matched to the person by the wrong column%'",
                        [id]) > 0
                }
                #expect(refused, "\(daemon.output.suffix(3000))")
                #expect(await daemon.stop() == 0)
                #expect(try await !connection.isCompleted(id))
                #expect(try await store.query(digest)[0].decode("d", as: String.self) == before)
                await store.close()
            }
        }
    }

    @Test(arguments: [
        (
            "name = \"x\"\nsources = [\"carrier_pigeon\"]\n[[tables]]\nname = \"t\"\nidentity = { email = \"e\" }\n",
            "sources: unknown code carrier_pigeon"
        ),
        ("name = \"x\"\n[[tables]]\nname = \"t\"\nidentity = { passport = \"p\" }\n", "identifiers.extra_kinds"),
        ("name = \"x\"\n[[tables]]\nname = \"t\"\nkey = 5\nidentity = { email = \"e\" }\n", "tables[1].key"),
        ("name = \"x\"\n[[tables]]\nname = \"t\"\nidentity = { email = \"e\" }\npurposes = [\"fraud\"]\n", "purposes: unknown code fraud"),
    ])
    func mappingsNameOnlyWhatDsrdCanPutIntoWords(toml: String, message: String) {
        do {
            _ = try ConnectorCatalog.parse(toml, source: "bad.toml")
            Issue.record("accepted \(toml)")
        } catch {
            #expect("\(error)".hasPrefix("bad.toml: ") && "\(error)".contains(message), "\(error)")
        }
    }

    @Test func compositeKeysLabelsAndExtraKindsLoad() throws {
        let toml = """
            name = "x"
            sources = ["kiosk"]
            [labels]
            kiosk = { th = "ตู้บริการ", en = "the kiosk" }
            [[tables]]
            name = "t"
            key = ["a", "b"]
            identity = { passport = "p", email = "e" }
            """
        let mapping = try ConnectorCatalog.parse(
            toml, source: "ok.toml", identifierKinds: IdentityKind.builtIn + [IdentityKind(rawValue: "passport")])
        #expect(mapping.tables[0].key == ["a", "b"])
        #expect(mapping.tables[0].identity[IdentityKind(rawValue: "passport")] == "p")
        #expect(mapping.label("kiosk", locale: "th") == "ตู้บริการ" && mapping.label("signup", locale: "en") == "sign-up")
    }

    /// A company outside Thailand checks national ids as documents; extra kinds such as a
    /// passport are accepted as strong identifiers once `dsrd run` published them.
    @Test func identifierKindsComeFromTheConfiguration() async throws {
        try await TestDatabase.migrated { _, connection in
            await #expect(throws: PostgresError.self) {
                try await connection.query("SELECT dsr.submit('access', '{\"national_id\": \"AB-123 456\"}')")
            }
            await #expect(throws: PostgresError.self) {
                try await connection.query("SELECT dsr.submit('access', '{\"passport\": \"GB0000003\"}')")
            }
            let fanOut = FanOut(
                pool: ConnectionPool(conninfo: "", maximum: 1), connectors: [], exportDirectory: FileManager.default.temporaryDirectory,
                timeZone: .current, proofKeys: nil, company: .init(),
                identifiers: .init(nationalIDFormat: "document", extraKinds: "passport, tax_id"))
            try await fanOut.publishSubmissionRules(on: connection)
            let id = try await connection.query(
                "SELECT dsr.submit('access', '{\"national_id\": \"ab-123 456\", \"passport\": \"gb 000 0003\"}') AS id")[0].decode(
                    "id", as: UUID.self)
            let subject = try await connection.query("SELECT subject::text AS s FROM dsr.requests WHERE id = $1", [id])[0].decode(
                "s", as: String.self)
            #expect(subject.contains("\"national_id\": \"AB123456\"") && subject.contains("\"passport\": \"GB0000003\""), "\(subject)")
            do {
                _ = try await connection.query("SELECT dsr.submit('access', '{\"tax_id\": \"#!\"}')")
                Issue.record("an invalid document was accepted")
            } catch let error as PostgresError {
                #expect(error.message == "subject tax_id is not a valid document number")
            }
            #expect(
                try await connection.query("SELECT string_agg(kind, ',' ORDER BY kind) AS k FROM dsr.identifier_kinds")[0]
                    .decode("k", as: String.self) == "customer_id,email,national_id,passport,phone,tax_id")
        }
    }

    /// The store's own foreign keys count, mapped with `parent` or not: orders mapped by their
    /// customer_id column (no `parent`) and kept under the hold, and a wishlist table the
    /// mapping leaves out, both point at customers. Customers whose rows are to be deleted
    /// keep the rows those point at (anonymised) instead of failing the erasure on the foreign
    /// key (23503) and retrying for days, also when the table appears while the daemon runs;
    /// `dsrd check` names the table the mapping leaves out.
    @Test func foreignKeysTheMappingDoesNotNameKeepWhatTheyPointAt() async throws {
        let keys = try makeKeys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }
        // The first `_row = "anonymise"` is the customers table's.
        let connectors = try ShopFixture.mapping(replacing: [("_row = \"anonymise\"", "_row = \"delete\"")])
        defer { try? FileManager.default.removeItem(at: connectors) }
        try await TestDatabase.migrated { database, connection in
            try await ShopFixture.with(customers: 10) { shop in
                let store = try await PostgresConnection.connect(shop.url)
                let settings = ["--set", "connectors.directory=\(connectors.path)"]
                let daemon = try shop.daemon(
                    database: database, connectors: connectors, exports: keys.directory, signingKey: keys.privateKey)
                // 6's held orders keep 6 whatever else points at it; 5000 has no orders, so
                // only the wishlist keeps it.
                try await store.execute("INSERT INTO customers (id, email, full_name) VALUES (5000, 'no.orders@example.com', 'No Orders')")
                for customer in ["6", "5000"] {
                    if customer == "5000" {
                        // Added while the daemon runs, after it read the catalog for customer 6:
                        // the foreign-key error (23503) makes it read the catalog again.
                        try await store.execute(
                            "CREATE TABLE wishlists (customer_id integer NOT NULL REFERENCES customers (id), sku text NOT NULL)")
                        try await store.execute("INSERT INTO wishlists VALUES (5000, 'FILM-09')")
                        let check = try await DaemonProcess.run(
                            shop.arguments(["check"], database: database, extra: settings), environment: shop.environment)
                        #expect(
                            check.output.contains("wishlists (not in the mapping) points at customers.id"), "\(check.output)")
                    }
                    let id = try await connection.query(
                        "SELECT dsr.submit('erasure', jsonb_build_object('customer_id', $1::text)) AS id", [customer]
                    )[0].decode("id", as: UUID.self)
                    #expect(
                        try await eventually {
                            try await connection.isCompleted(id)
                        }, "\(customer): \(daemon.output.suffix(3000))")
                    // Kept, because held orders (6) or a wishlist (5000) point at it; anonymised.
                    #expect(
                        try await store.count(
                            "SELECT count(*) FROM customers WHERE id = $1::int AND full_name LIKE '%***' AND phone IS NULL", [customer])
                            == 1)
                    if customer == "5000" {
                        // The proof and the DPO's report name the table outside the mapping.
                        let rules = try await completedResult(connection, id)["held_rules"] as? [String] ?? []
                        #expect(rules.contains { $0.hasSuffix("tables not in the mapping among them: wishlists") }, "\(rules)")
                    }
                }
                #expect(try await store.count("SELECT count(*) FROM wishlists WHERE customer_id = 5000") == 1)
                await store.close()
                #expect(await daemon.stop() == 0)
            }
        }
    }

    /// A mapped table dsrd's role may not read yet: `dsrd check` names the missing SELECT and
    /// `dsrd indexes` the table it could not check, each going on with the other tables,
    /// where both used to stop at "permission denied".
    @Test func checkAndIndexesNameATableTheRoleMayNotReadAndGoOn() async throws {
        try await TestDatabase.migrated { database, _ in
            try await ShopFixture.with(customers: 10) { shop in
                let store = try await PostgresConnection.connect(shop.url)
                let connectors = URL(fileURLWithPath: ShopFixture.connectors)
                let role = try await shop.roleWithGrants(database: database, connectors: connectors, on: store)
                try await store.execute("REVOKE SELECT ON newsletter FROM \(role)")
                let environment = shop.environment(as: role)
                let check = try await DaemonProcess.run(shop.arguments(["check"], database: database), environment: environment)
                #expect(check.status == 1)
                #expect(check.output.contains("table newsletter: SELECT is not granted"), "\(check.output)")
                #expect(!check.output.contains("cannot check it"), "\(check.output)")
                let indexes = try await DaemonProcess.run(shop.arguments(["indexes"], database: database), environment: environment)
                #expect(indexes.status == 1)
                #expect(indexes.output.contains("-- not checked, its role may not read them: newsletter"), "\(indexes.output)")
                #expect(indexes.output.contains("-- store shop:") && indexes.output.contains("lookups have an index"), "\(indexes.output)")
                try await shop.drop(role: role, on: store)
                await store.close()
            }
        }
    }

    /// A trigger that copies a customer's old email into an audit table when dsrd changes
    /// the row: `dsrd check` warns that its writes need grants of their own and may copy the
    /// person's data, where it used to say nothing (and called the INSERT grant the trigger
    /// needs unused).
    @Test func aTriggerOnATableDsrdChangesIsWarnedOf() async throws {
        try await TestDatabase.migrated { database, _ in
            try await ShopFixture.with(customers: 10) { shop in
                let store = try await PostgresConnection.connect(shop.url)
                try await store.execute("CREATE TABLE customer_audit (customer_id integer, old_email text)")
                try await store.execute(
                    """
                    CREATE FUNCTION audit_customer() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN INSERT INTO customer_audit VALUES (OLD.id, OLD.email); RETURN NULL; END $$
                    """)
                try await store.execute(
                    "CREATE TRIGGER customers_audit AFTER UPDATE OR DELETE ON customers FOR EACH ROW EXECUTE FUNCTION audit_customer()")
                let check = try await DaemonProcess.run(shop.arguments(["check"], database: database), environment: shop.environment)
                #expect(
                    check.output.contains(
                        "table customers: trigger customers_audit runs AFTER UPDATE OR DELETE, and dsrd changes this table: grant what the trigger writes"
                    ), "\(check.output)")
                #expect(!check.output.contains("table orders: trigger"), "\(check.output)")
                for statement in [
                    "DROP TRIGGER customers_audit ON customers", "DROP FUNCTION audit_customer()", "DROP TABLE customer_audit",
                ] {
                    try await store.execute(statement)
                }
                await store.close()
            }
        }
    }

    /// A four-row opt-in table keyed by its phone: once the index `dsrd indexes` proposed
    /// exists, nothing is proposed again, although the planner reads so small a table whole.
    @Test func anIndexDsrdProposedIsNotProposedAgainForASmallTable() async throws {
        let connectors = try ShopFixture.mapping(appending: "\n[[tables]]\nname = \"sms_optin\"\nidentity = { phone = \"phone\" }\n")
        defer { try? FileManager.default.removeItem(at: connectors) }
        try await TestDatabase.migrated { database, _ in
            try await ShopFixture.with(customers: 10) { shop in
                let store = try await PostgresConnection.connect(shop.url)
                try await store.execute("CREATE TABLE sms_optin (phone text PRIMARY KEY, opted_in boolean NOT NULL DEFAULT true)")
                try await store.execute(
                    "INSERT INTO sms_optin (phone) VALUES ('+447700900001'), ('+447700900002'), ('0863333333'), ('086 333 3334')")
                let settings = ["--set", "connectors.directory=\(connectors.path)"]
                let first = try await DaemonProcess.run(
                    shop.arguments(["indexes"], database: database, extra: settings), environment: shop.environment)
                let proposed = first.output.split(separator: "\n").filter { $0.hasPrefix("CREATE INDEX") && $0.contains("sms_optin") }
                #expect(proposed.count == 1, "\(first.output)")
                for statement in proposed { try await store.execute(String(statement)) }
                let again = try await DaemonProcess.run(
                    shop.arguments(["indexes"], database: database, extra: settings), environment: shop.environment)
                #expect(!again.output.contains("sms_optin"), "nothing is proposed twice:\n\(again.output)")
                try await store.execute("DROP TABLE sms_optin")
                await store.close()
            }
        }
    }

    /// A table whose primary key is a mixed-case column (`"CardId"`), mapped without `key`:
    /// the key is the column by its name (the catalog's index definition quotes it), so
    /// `dsrd check` finds it unique and the export orders rows by it. It used to fail every
    /// statement on the table ("zero-length delimited identifier").
    @Test func aMixedCasePrimaryKeyIsTheTablesKey() async throws {
        let connectors = try ShopFixture.mapping(
            appending: "\n[[tables]]\nname = \"loyalty\"\nidentity = { email = \"Email\" }\n[tables.categories]\nPoints = \"account\"\n")
        defer { try? FileManager.default.removeItem(at: connectors) }
        try await TestDatabase.migrated { database, connection in
            try await ShopFixture.with(customers: 10) { shop in
                let store = try await PostgresConnection.connect(shop.url)
                try await store.execute(#"CREATE TABLE loyalty ("CardId" integer PRIMARY KEY, "Email" text, "Points" integer)"#)
                try await store.execute(
                    #"INSERT INTO loyalty VALUES (30, 'shopper2@example.com', 5), (10, 'shopper2@example.com', 7), (20, 'other@example.com', 1)"#
                )
                let check = try await DaemonProcess.run(
                    shop.arguments(["check"], database: database, extra: ["--set", "connectors.directory=\(connectors.path)"]),
                    environment: shop.environment)
                #expect(check.status == 0 && !check.output.contains("unique index"), "\(check.output)")
                let daemon = try shop.daemon(database: database, connectors: connectors)
                let result = try await daemon.answer(
                    "SELECT dsr.submit('access', '{\"customer_id\": \"2\"}') AS id", on: connection)
                let bundle = try OpenedBundle(path: try #require(result["export_path"] as? String))
                #expect(try bundle.rows("shop/loyalty.json").map { $0["CardId"] as? Int } == [10, 30])
                await store.close()
                #expect(await daemon.stop() == 0)
            }
        }
    }

    /// A hold counted from a date that may be NULL (a year after unsubscribing): a row
    /// without the date is under no hold and is erased as `_row` says, where it used to be
    /// neither held nor erased and the erasure failed its own check for days. `dsrd check`
    /// says how such rows are treated.
    @Test func aRowWithoutTheDateItsHoldCountsFromIsUnderNoHold() async throws {
        let keys = try makeKeys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }
        let connectors = try ShopFixture.mapping(replacing: [
            (
                "unsubscribed_on = \"account\"",
                "unsubscribed_on = \"account\"\n[tables.hold]\nrule = \"kept a year after unsubscribing\"\nyears = 1\nfrom = \"unsubscribed_on\"\n[tables.erasure]\n_row = \"delete\""
            )
        ])
        defer { try? FileManager.default.removeItem(at: connectors) }
        try await TestDatabase.migrated { database, connection in
            try await ShopFixture.with(customers: 10) { shop in
                let store = try await PostgresConnection.connect(shop.url)
                let check = try await DaemonProcess.run(
                    shop.arguments(["check"], database: database, extra: ["--set", "connectors.directory=\(connectors.path)"]),
                    environment: shop.environment)
                #expect(
                    check.output.contains("hold.from unsubscribed_on may be NULL: a row without that date is under no hold"),
                    "\(check.output)")
                // Shopper 1 is subscribed (no date), shopper 3 unsubscribed last month (held).
                try await store.execute("UPDATE newsletter SET unsubscribed_on = current_date - 30 WHERE email = 'Shopper3@Example.com'")
                let daemon = try shop.daemon(
                    database: database, connectors: connectors, exports: keys.directory, signingKey: keys.privateKey)
                for customer in ["1", "3"] {
                    let result = try await daemon.answer(
                        "SELECT dsr.submit('erasure', jsonb_build_object('customer_id', $1::text)) AS id", [customer], on: connection)
                    let rules = result["held_rules"] as? [String] ?? []
                    #expect(rules.contains("kept a year after unsubscribing") == (customer == "3"), "\(result)")
                }
                #expect(
                    try await store.count(
                        "SELECT count(*) FROM newsletter WHERE lower(email) IN ('shopper1@example.com', 'shopper3@example.com')") == 1)
                #expect(try await store.count("SELECT count(*) FROM newsletter WHERE email = 'Shopper3@Example.com'") == 1)
                await store.close()
                #expect(await daemon.stop() == 0)
            }
        }
    }

    /// An erasure commits, then its own check finds the person's name still there (a trigger
    /// put it back). The DPO drops the trigger, has customers deleted instead of anonymised,
    /// and retries the task. The proof and the result state what was done, the row deleted,
    /// and list the first attempt apart; they used to repeat the first attempt's plan
    /// ("anonymised"), though the row was gone.
    @Test func aRetryAfterAFailedCheckProvesWhatItDidNotTheFirstPlan() async throws {
        let keys = try makeKeys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }
        let first = try ShopFixture.mapping()
        let mended = try ShopFixture.mapping(replacing: [
            ("_row = \"anonymise\"\nfull_name = \"mask\"", "_row = \"delete\"\nfull_name = \"mask\"")
        ])
        defer {
            try? FileManager.default.removeItem(at: first)
            try? FileManager.default.removeItem(at: mended)
        }
        try await TestDatabase.migrated { database, connection in
            try await ShopFixture.with(customers: 10) { shop in
                let store = try await PostgresConnection.connect(shop.url)
                try await store.execute("INSERT INTO customers (id, email, full_name) VALUES (5000, 'no.orders@example.com', 'No Orders')")
                try await store.execute(
                    "CREATE FUNCTION keep_name() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.full_name := OLD.full_name; RETURN NEW; END $$"
                )
                try await store.execute("CREATE TRIGGER keep_name BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION keep_name()")
                let daemon = try shop.daemon(database: database, connectors: first, exports: keys.directory, signingKey: keys.privateKey)
                let id = try await connection.query("SELECT dsr.submit('erasure', '{\"customer_id\": \"5000\"}') AS id")[0].decode(
                    "id", as: UUID.self)
                let failed = try await eventually {
                    try await connection.count(
                        "SELECT count(*) FROM dsr.jobs WHERE request_id = $1 AND kind = 'store_task' AND last_error LIKE '%still hold the person''s data%'",
                        [id]) > 0
                }
                #expect(failed, "\(daemon.output.suffix(3000))")
                #expect(await daemon.stop() == 0)
                // However often it failed the same way, the committed plan is kept once.
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.request_tasks WHERE request_id = $1 AND plan IS NULL AND jsonb_array_length(committed_plans) = 1",
                        [id]) == 1)

                try await store.execute("DROP TRIGGER keep_name ON customers")
                let again = try shop.daemon(database: database, connectors: mended, exports: keys.directory, signingKey: keys.privateKey)
                _ = try await connection.query(
                    "SELECT dsr.retry_job(id) FROM dsr.jobs WHERE request_id = $1 AND kind = 'store_task' AND state = 'available'", [id])
                let done = try await eventually { try await connection.isCompleted(id) }
                #expect(done, "\(again.output.suffix(3000))")
                #expect(await again.stop() == 0)
                #expect(try await store.count("SELECT count(*) FROM customers WHERE id = 5000") == 0)
                let result = try await completedResult(connection, id)
                #expect(result["rows_deleted"] as? Int == 1, "\(result)")
                #expect((result["rows_anonymised"] as? Int ?? 0) == 0, "\(result)")
                let payload = try await ExportLifecycleTests.proof(of: id, on: connection).payload
                let proven = (payload?["stores"] as? [[String: Any]])?.first
                let tables = proven?["tables"] as? [[String: Any]] ?? []
                let customers = tables.first { $0["name"] as? String == "customers" }
                #expect(customers?["strategy"] as? String == "delete", "\(tables)")
                #expect(customers?["deleted"] as? Int == 1, "\(tables)")
                let earlier = proven?["earlier_attempts"] as? [[String: Any]] ?? []
                let before = (earlier.first?["tables"] as? [[String: Any]])?.first { $0["name"] as? String == "customers" }
                #expect(
                    earlier.count == 1 && before?["anonymised"] as? Int == 1 && before?["strategy"] as? String == "anonymise", "\(earlier)")
                await store.close()
            }
        }
    }

    /// A table dsrd's role may not even see (a schema it has no USAGE on) points at a
    /// customer: which rows it references cannot be known, so the rows it could point at are
    /// kept (anonymised) instead of failing the deletion on every retry, and `dsrd check`
    /// says so instead of failing on "permission denied".
    @Test func aTableDsrdCannotReadKeepsWhatItPointsAt() async throws {
        let keys = try makeKeys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }
        let connectors = try ShopFixture.mapping(replacing: [("_row = \"anonymise\"", "_row = \"delete\"")])
        defer { try? FileManager.default.removeItem(at: connectors) }
        try await TestDatabase.migrated { database, connection in
            try await ShopFixture.with(customers: 10) { shop in
                let store = try await PostgresConnection.connect(shop.url)
                let role = try await shop.roleWithGrants(database: database, connectors: connectors, on: store)
                let settings = ["--set", "connectors.directory=\(connectors.path)"]
                try await store.execute("INSERT INTO customers (id, email, full_name) VALUES (5000, 'no.orders@example.com', 'No Orders')")
                try await store.execute("CREATE SCHEMA logistics")
                try await store.execute(
                    "CREATE TABLE logistics.parcels (customer_id integer NOT NULL REFERENCES customers (id), label text)")
                try await store.execute("INSERT INTO logistics.parcels VALUES (5000, 'PARCEL-1')")
                let environment = shop.environment(as: role)
                let check = try await DaemonProcess.run(
                    shop.arguments(["check"], database: database, extra: settings), environment: environment)
                #expect(
                    check.output.contains("logistics.parcels (not in the mapping) points at customers.id, and dsrd's role cannot read it"),
                    "\(check.output)")
                let daemon = try shop.daemon(
                    database: database, connectors: connectors, exports: keys.directory, signingKey: keys.privateKey,
                    environment: environment)
                _ = try await daemon.answer("SELECT dsr.submit('erasure', '{\"customer_id\": \"5000\"}') AS id", on: connection)
                #expect(try await store.count("SELECT count(*) FROM customers WHERE id = 5000 AND full_name LIKE '%***'") == 1)
                #expect(await daemon.stop() == 0)

                // What check asks for, `dsrd grants` prints (run as the tables' owner, who sees
                // the schema): USAGE on it and SELECT on the referencing column only. Then the
                // rows the table does not point at are deleted again.
                let more = try await DaemonProcess.run(
                    shop.arguments(["grants"], database: database, extra: settings + ["--role", role]), environment: shop.environment)
                #expect(more.output.contains("GRANT USAGE ON SCHEMA \"logistics\" TO \"\(role)\";"), "\(more.output)")
                #expect(
                    more.output.contains("GRANT SELECT (\"customer_id\") ON \"logistics\".\"parcels\" TO \"\(role)\";"), "\(more.output)")
                for statement in more.output.split(separator: "\n") where statement.hasPrefix("GRANT") {
                    try await store.execute(String(statement))
                }
                let recheck = try await DaemonProcess.run(
                    shop.arguments(["check"], database: database, extra: settings), environment: environment)
                #expect(!recheck.output.contains("cannot read it"), "\(recheck.output)")
                try await store.execute("INSERT INTO customers (id, email, full_name) VALUES (5001, 'no.parcel@example.com', 'No Parcel')")
                let again = try shop.daemon(
                    database: database, connectors: connectors, exports: keys.directory, signingKey: keys.privateKey,
                    environment: environment)
                _ = try await again.answer("SELECT dsr.submit('erasure', '{\"customer_id\": \"5001\"}') AS id", on: connection)
                #expect(try await store.count("SELECT count(*) FROM customers WHERE id = 5001") == 0)
                #expect(await again.stop() == 0)
                try await store.execute("DROP SCHEMA logistics CASCADE")
                try await shop.drop(role: role, on: store)
                await store.close()
            }
        }
    }

    /// The same unreadable table pointing at orders, whose mapping has no column strategies:
    /// each of the person's orders would be kept whole, and the person told other records
    /// refer to it, which nobody knows. `dsrd check` fails, and the erasure does not start
    /// (nothing changes) until the grant is made.
    @Test func anErasureThatWouldKeepRowsWholeForATableItCannotReadDoesNotStart() async throws {
        let keys = try makeKeys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }
        let connectors = try ShopFixture.mapping(replacing: [("_row = \"delete\"\ndelivery = \"null\"", "_row = \"delete\"")])
        defer { try? FileManager.default.removeItem(at: connectors) }
        try await TestDatabase.migrated { database, connection in
            try await ShopFixture.with(customers: 10) { shop in
                let store = try await PostgresConnection.connect(shop.url)
                let role = try await shop.roleWithGrants(database: database, connectors: connectors, on: store)
                let settings = ["--set", "connectors.directory=\(connectors.path)"]
                try await store.execute("CREATE SCHEMA logistics")
                try await store.execute("CREATE TABLE logistics.parcels (order_id bigint NOT NULL REFERENCES orders (id), label text)")
                let environment = shop.environment(as: role)
                let check = try await DaemonProcess.run(
                    shop.arguments(["check"], database: database, extra: settings), environment: environment)
                #expect(check.status == 1)
                #expect(
                    check.output.contains(
                        "logistics.parcels (not in the mapping) points at orders.id, and dsrd's role cannot read it (USAGE on its schema, SELECT on the referencing columns): with no column strategies every row here would be kept whole"
                    ), "\(check.output)")
                let digest = "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) AS d FROM orders AS t"
                let before = try await store.query(digest)[0].decode("d", as: String.self)
                let daemon = try shop.daemon(
                    database: database, connectors: connectors, exports: keys.directory, signingKey: keys.privateKey,
                    environment: environment)
                let id = try await connection.query("SELECT dsr.submit('erasure', '{\"customer_id\": \"3\"}') AS id")[0].decode(
                    "id", as: UUID.self)
                let refused = try await eventually {
                    try await connection.count(
                        "SELECT count(*) FROM dsr.jobs WHERE request_id = $1 AND kind = 'store_task' AND last_error LIKE '%logistics.parcels points at orders and dsrd''s role cannot read it%'",
                        [id]) > 0
                }
                #expect(refused, "\(daemon.output.suffix(3000))")
                #expect(await daemon.stop() == 0)
                #expect(try await !connection.isCompleted(id))
                #expect(try await store.query(digest)[0].decode("d", as: String.self) == before)
                try await store.execute("DROP SCHEMA logistics CASCADE")
                try await shop.drop(role: role, on: store)
                await store.close()
            }
        }
    }

    /// A store whose email and phone columns are called `Email` and `mobile`: a person corrects
    /// "email" and "phone", whatever the columns are called. The corrected values are checked
    /// and normalised as an email and a phone, and every table's column of that kind gets them.
    /// The result says truthfully what happened: rows already as asked are told apart, and so
    /// is a field no store holds for the person.
    @Test func aRectificationNamesTheKindNotTheColumnAndSaysWhatItDidNotFind() async throws {
        let connectors = try ShopFixture.mapping(replacing: [
            (#"email = "email", phone = "phone", passport"#, #"email = "Email", phone = "mobile", passport"#),
            (#"rectify = ["full_name", "birth_date", "email"]"#, #"rectify = ["full_name", "birth_date", "Email", "mobile"]"#),
            ("email = \"contact\"\nphone = \"contact\"", "Email = \"contact\"\nmobile = \"contact\""),
            ("email = \"hash\"\nphone = \"null\"", "Email = \"hash\"\nmobile = \"null\""),
            (#"identity = { email = "email" }"#, #"identity = { email = "email" }"# + "\nrectify = [\"email\", \"subscribed_on\"]"),
        ])
        defer { try? FileManager.default.removeItem(at: connectors) }
        try await TestDatabase.migrated { database, connection in
            try await ShopFixture.with(customers: 10) { shop in
                let store = try await PostgresConnection.connect(shop.url)
                try await store.execute(#"ALTER TABLE customers RENAME COLUMN email TO "Email""#)
                try await store.execute("ALTER TABLE customers RENAME COLUMN phone TO mobile")
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let daemon = try shop.daemon(database: database, connectors: connectors, exports: exports)
                #expect(
                    try await eventually {
                        try await connection.query("SELECT string_agg(field, ',' ORDER BY field) AS f FROM dsr.correctable_fields")[0]
                            .decode("f", as: String?.self) == "birth_date,email,full_name,phone,subscribed_on"
                    }, "\(daemon.output.suffix(2000))")
                func rectify(_ customer: Int, _ changes: String) async throws -> [String: Any] {
                    try await daemon.answer(
                        "SELECT dsr.submit('rectification', jsonb_build_object('customer_id', $1::text), jsonb_build_object('changes', $2::jsonb)) AS id",
                        [String(customer), changes], on: connection)
                }
                // "email" corrects the customers' `Email` and the newsletter's `email`, normalised.
                _ = try await rectify(7, #"{"email": " Shopper7.New@Example.COM "}"#)
                #expect(
                    try await store.count(#"SELECT count(*) FROM customers WHERE id = 7 AND "Email" = 'shopper7.new@example.com'"#) == 1)
                #expect(try await store.count("SELECT count(*) FROM newsletter WHERE email = 'shopper7.new@example.com'") == 1)
                // "phone" corrects `mobile`, normalised as a phone.
                _ = try await rectify(7, #"{"phone": "+44 7700 900 007"}"#)
                #expect(try await store.count("SELECT count(*) FROM customers WHERE id = 7 AND mobile = '+447700900007'") == 1)
                // The column's own name is not a field, and an email must be an email.
                for changes in [#"{"Email": "x@example.com"}"#, #"{"email": "not an email at all"}"#] {
                    await #expect(throws: PostgresError.self, "\(changes)") {
                        try await connection.query(
                            "SELECT dsr.submit('rectification', '{\"customer_id\": \"7\"}', jsonb_build_object('changes', $1::jsonb))",
                            [changes])
                    }
                }
                #expect(
                    try await store.count(#"SELECT count(*) FROM customers WHERE "Email" IN ('x@example.com', 'not an email at all')"#) == 0
                )
                // A name already as asked is not "corrected", and a field no store holds for the
                // person (customer 8 has no newsletter row) is named as not found.
                let result = try await rectify(8, #"{"full_name": "Shopper 8", "subscribed_on": "2026-01-01"}"#)
                #expect(result["rows_changed"] as? Int == 0, "\(result)")
                #expect(result["fields_not_held"] as? [String] == ["subscribed_on"], "\(result)")
                let lines = NoticeVocabulary.outcomeValues(result, locale: "en")["change_lines"] as? [String] ?? []
                #expect(
                    lines == [
                        "shop / customers (full_name): already as you asked, nothing to change (1 record)",
                        "\"subscribed_on\": we hold no such detail about you, so nothing was corrected",
                    ], "\(lines)")
                // An email another customer's record holds: refused, with the reason, nothing changed.
                let refused = try await connection.query(
                    "SELECT dsr.submit('rectification', '{\"customer_id\": \"9\"}', '{\"changes\": {\"email\": \"shopper7.new@example.com\"}}') AS id"
                )[0].decode("id", as: UUID.self)
                #expect(
                    try await eventually {
                        try await connection.count(
                            "SELECT count(*) FROM dsr.requests WHERE id = $1 AND status = 'refused' AND refusal_reason LIKE 'อีเมลที่ขอให้แก้ไขมีอยู่ในข้อมูลลูกค้ารายอื่น%'",
                            [refused]) == 1
                    }, "\(daemon.output.suffix(2000))")
                #expect(try await store.count(#"SELECT count(*) FROM customers WHERE id = 9 AND "Email" = 'shopper9@example.com'"#) == 1)
                // An email only a newsletter entry of someone else holds (its key): the customer
                // record is corrected, the newsletter is left as it was instead of retrying for
                // days, and the person and the DPO are told.
                try await store.execute("INSERT INTO newsletter (email, subscribed_on) VALUES ('taken@example.com', '2026-01-01')")
                let taken = try await rectify(9, #"{"email": "taken@example.com"}"#)
                #expect(taken["rows_changed"] as? Int == 1 && taken["fields_not_held"] == nil, "\(taken)")
                let told = NoticeVocabulary.outcomeValues(taken, locale: "en")
                #expect(
                    told["change_lines"] as? [String] == [
                        "shop / newsletter (email): not corrected: another record there already holds this value; our Data Protection Officer has been told",
                        "shop / customers (Email): corrected (1 record)",
                    ], "\(told)")
                #expect(told["conflicts_text"] as? String == "shop / newsletter (email)", "\(told)")
                #expect(try await store.count("SELECT count(*) FROM newsletter WHERE lower(email) = 'shopper9@example.com'") == 1)
                await store.close()
                #expect(await daemon.stop() == 0)
            }
        }
    }

    /// A correction of several fields corrects every row the person was found by, even after
    /// an earlier field changed the identifier a row was found by (a contact row found by its
    /// email alone still gets the new phone). Rows that disagree on a detail that is not an
    /// identifier (a home and an office address) are different records: none is overwritten,
    /// and the person and the DPO are told; rows that agree are all corrected. A value the
    /// store refuses (too long for its column) leaves that table as it was, and says so,
    /// instead of retrying the request for days.
    @Test func aCorrectionChangesThePersonsRowsOnlyWhereItIsClearWhichOneTheyMeant() async throws {
        let connectors = try ShopFixture.mapping(
            appending: """

                [[tables]]
                name = "contacts"
                identity = { email = "email", phone = "phone" }
                rectify = ["email", "phone"]
                purposes = ["delivery"]
                [tables.categories]
                email = "contact"
                phone = "contact"
                [tables.erasure]
                _row = "delete"

                [[tables]]
                name = "addresses"
                identity = { customer_id = "customer_id" }
                rectify = ["line1"]
                purposes = ["delivery"]
                [tables.categories]
                line1 = "contact"
                [tables.erasure]
                _row = "delete"
                """)
        defer { try? FileManager.default.removeItem(at: connectors) }
        try await TestDatabase.migrated { database, connection in
            try await ShopFixture.with(customers: 10) { shop in
                let store = try await PostgresConnection.connect(shop.url)
                // Customer 5's contact row carries a phone the customer record does not: it is
                // found by its email alone.
                try await store.execute("CREATE TABLE contacts (email text, phone text)")
                try await store.execute("INSERT INTO contacts VALUES ('shopper5@example.com', '+66 81 000 0005')")
                try await store.execute(
                    "CREATE TABLE addresses (customer_id integer NOT NULL REFERENCES customers (id), line1 varchar(30))")
                try await store.execute(
                    "INSERT INTO addresses VALUES (5, '1 Home Road'), (5, '2 Office Tower'), (5, '3 Mother Lane'), (6, '6 Same Street'), (6, '6 Same Street')"
                )
                let daemon = try shop.daemon(database: database, connectors: connectors)
                func rectify(_ customer: Int, _ changes: String) async throws -> [String: Any] {
                    try await daemon.answer(
                        "SELECT dsr.submit('rectification', jsonb_build_object('customer_id', $1::text), jsonb_build_object('changes', $2::jsonb)) AS id",
                        [String(customer), changes], on: connection)
                }
                let both = try await rectify(5, #"{"email": "new5@example.com", "phone": "+44 7700 900 555", "line1": "9 New Road"}"#)
                #expect(
                    try await store.count("SELECT count(*) FROM contacts WHERE email = 'new5@example.com' AND phone = '+447700900555'")
                        == 1,
                    "\(both)")
                #expect(try await store.count("SELECT count(*) FROM addresses WHERE customer_id = 5 AND line1 = '9 New Road'") == 0)
                #expect(try await store.count("SELECT count(DISTINCT line1) FROM addresses WHERE customer_id = 5") == 3)
                let told = NoticeVocabulary.outcomeValues(both, locale: "en")
                let lines = told["change_lines"] as? [String] ?? []
                #expect(
                    lines.contains(
                        "shop / addresses (line1): not corrected: you have several different entries there and we cannot tell which one you meant; our Data Protection Officer will contact you"
                    ), "\(lines)")
                #expect(told["ambiguous_text"] as? String == "shop / addresses (line1)", "\(told)")
                #expect(both["fields_not_held"] == nil, "\(both)")
                // Rows that agree are one detail held twice: both corrected.
                _ = try await rectify(6, #"{"line1": "7 Moved Street"}"#)
                #expect(try await store.count("SELECT count(*) FROM addresses WHERE customer_id = 6 AND line1 = '7 Moved Street'") == 2)
                // Longer than the column takes: that table stays as it was, and the request completes.
                let long = try await rectify(6, #"{"line1": "An address far longer than thirty characters"}"#)
                #expect(try await store.count("SELECT count(*) FROM addresses WHERE customer_id = 6 AND line1 = '7 Moved Street'") == 2)
                let refused = NoticeVocabulary.outcomeValues(long, locale: "en")
                // The DPO learns what refused it (SQLSTATE, constraint), never the value.
                #expect(refused["refused_values_text"] as? String == "shop / addresses (line1): 22001", "\(refused)")
                await store.close()
                #expect(await daemon.stop() == 0)
            }
        }
    }

    /// A store that refuses a statement for good (a trigger that forbids deletes) stops the
    /// task after a second attempt, which read the catalog anew, instead of retrying it as an
    /// outage for days: the DPO hears what the store said and how to go on, and once the
    /// store is mended, retrying the job completes the erasure.
    @Test func aStoreThatRefusesForGoodStopsTheTaskAndTellsTheDPOHowToGoOn() async throws {
        let keys = try makeKeys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }
        try await TestDatabase.migrated { database, connection in
            try await ShopFixture.with(customers: 10) { shop in
                let store = try await PostgresConnection.connect(shop.url)
                try await store.execute(
                    "CREATE FUNCTION keep_newsletter() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'newsletter rows are kept by the marketing team'; END $$"
                )
                try await store.execute(
                    "CREATE TRIGGER no_delete BEFORE DELETE ON newsletter FOR EACH ROW EXECUTE FUNCTION keep_newsletter()")
                let daemon = try shop.daemon(database: database, exports: keys.directory, signingKey: keys.privateKey)
                let id = try await connection.query("SELECT dsr.submit('erasure', '{\"customer_id\": \"3\"}') AS id")[0].decode(
                    "id", as: UUID.self)
                #expect(
                    try await eventually {
                        try await connection.count(
                            "SELECT count(*) FROM dsr.jobs WHERE request_id = $1 AND kind = 'store_task' AND state = 'dead'", [id]) == 1
                    }, "\(daemon.output.suffix(3000))")
                let job = try await connection.query(
                    "SELECT id, attempt, last_error FROM dsr.jobs WHERE request_id = $1 AND kind = 'store_task'", [id])[0]
                #expect(try job.decode("attempt", as: Int.self) == 2)
                let error = try job.decode("last_error", as: String.self)
                #expect(error.contains("P0001") && error.contains("dsr.retry_job"), "\(error)")
                #expect(try await connection.count("SELECT count(*) FROM dsr.outbox WHERE template = 'dpo_dead_job'") == 1)
                // Stopped is not "retried": no store-unreachable alert, and the request says it stopped.
                #expect(try await connection.count("SELECT count(*) FROM dsr.outbox WHERE template = 'dpo_store_unreachable'") == 0)
                #expect(
                    try await connection.query("SELECT current_step FROM dsr.requests WHERE id = $1", [id])[0].decode(
                        "current_step", as: String.self
                    ).hasPrefix("stopped: store shop refuses"))
                #expect(try await store.count("SELECT count(*) FROM customers WHERE id = 3 AND full_name = 'Shopper 3'") == 1)
                // Mended: one retry completes it.
                try await store.execute("DROP TRIGGER no_delete ON newsletter")
                try await connection.execute("SELECT dsr.retry_job($1)", [try job.decode("id", as: Int64.self)])
                #expect(try await eventually { try await connection.isCompleted(id) }, "\(daemon.output.suffix(3000))")
                #expect(try await store.count("SELECT count(*) FROM newsletter WHERE lower(email) = 'shopper3@example.com'") == 0)
                await store.close()
                #expect(await daemon.stop() == 0)
            }
        }
    }

    /// A column renamed or added while the daemon runs is exported under its name now: the
    /// export names its columns and counts them, and either change makes it read the catalog
    /// anew before answering (the renamed column once went out under its old name).
    @Test func anExportFollowsColumnsRenamedOrAddedWhileTheDaemonRuns() async throws {
        try await TestDatabase.migrated { database, connection in
            try await ShopFixture.with(customers: 10) { shop in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let store = try await PostgresConnection.connect(shop.url)
                let daemon = try shop.daemon(database: database, exports: exports)
                func orders(of customer: Int) async throws -> [[String: Any]] {
                    let result = try await daemon.answer(
                        "SELECT dsr.submit('access', jsonb_build_object('customer_id', $1::text)) AS id", [String(customer)], on: connection
                    )
                    let path = try #require(result["export_path"] as? String)
                    return try OpenedBundle(path: path).rows("shop/orders.json")
                }
                #expect(try await orders(of: 2).first?["total"] != nil)
                try await store.execute("ALTER TABLE orders RENAME COLUMN total TO amount")
                let renamed = try await orders(of: 3)
                #expect(renamed.count == 3 && renamed.allSatisfy { $0["amount"] != nil && $0["total"] == nil }, "\(renamed)")
                try await store.execute("ALTER TABLE orders ADD COLUMN coupon text DEFAULT 'WELCOME10'")
                let added = try await orders(of: 4)
                #expect(added.count == 3 && added.allSatisfy { $0["coupon"] as? String == "WELCOME10" }, "\(added)")
                await store.close()
                #expect(await daemon.stop() == 0)
            }
        }
    }

    /// A correction for a person whose data was erased is refused, with the reason: the rows
    /// kept anonymised (the customer row orders still point at) must not get their details back,
    /// which the signed proof says were removed.
    @Test func aCorrectionAfterTheErasureIsRefusedAndWritesNothingBack() async throws {
        let keys = try makeKeys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }
        try await TestDatabase.migrated { database, connection in
            try await ShopFixture.with(customers: 10) { shop in
                let store = try await PostgresConnection.connect(shop.url)
                let daemon = try shop.daemon(database: database, exports: keys.directory, signingKey: keys.privateKey)
                func submitted(_ kind: String, _ options: String = "{}") async throws -> UUID {
                    let id = try await connection.query(
                        "SELECT dsr.submit($1, '{\"customer_id\": \"5\"}', $2::jsonb) AS id", [kind, options])[0].decode(
                            "id", as: UUID.self)
                    #expect(
                        try await eventually {
                            try await connection.count("SELECT count(*) FROM dsr.requests WHERE id = $1 AND completed_at IS NOT NULL", [id])
                                == 1
                        }, "\(daemon.output.suffix(3000))")
                    return id
                }
                _ = try await submitted("erasure")
                let kept = try await store.query("SELECT full_name, email FROM customers WHERE id = 5")[0]
                let correction = try await submitted(
                    "rectification", #"{"changes": {"email": "back5@example.com", "full_name": "Back Five"}}"#)
                let ended = try await connection.query("SELECT status, refusal_reason FROM dsr.requests WHERE id = $1", [correction])[0]
                #expect(try ended.decode("status", as: String.self) == "refused")
                #expect(try ended.decode("refusal_reason", as: String?.self)?.contains("ถูกลบตามคำขอของท่านแล้ว") == true)
                // No contact of the person is left: the DPO hears it once, that the refusal could
                // not be sent and the request has ended, not also in a notice offering to verify it.
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'dpo_no_channel'", [correction]) == 1)
                #expect(
                    try await connection.count(
                        """
                        SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'dpo_no_channel'
                           AND variables @> '{"notice": "refused", "request_ended": true}'
                        """, [correction]) == 1)
                let now = try await store.query("SELECT full_name, email FROM customers WHERE id = 5")[0]
                #expect(try now.decode("full_name", as: String?.self) == (try kept.decode("full_name", as: String?.self)))
                #expect(try now.decode("email", as: String?.self) == (try kept.decode("email", as: String?.self)))
                await store.close()
                #expect(await daemon.stop() == 0)
            }
        }
    }

    /// A restriction that meets the person's rows in a table keyed by their contact alone, which
    /// has no flag to set (the newsletter, keyed by email): the person and the DPO hear those
    /// rows were not restricted, instead of "nothing needed to change".
    @Test func aRestrictionSaysWhichOfThePersonsRowsItCouldNotRestrict() async throws {
        try await TestDatabase.migrated { database, connection in
            try await ShopFixture.with(customers: 10) { shop in
                let daemon = try shop.daemon(database: database)
                let result = try await daemon.answer("SELECT dsr.submit('restriction', '{\"customer_id\": \"3\"}') AS id", on: connection)
                let told = NoticeVocabulary.outcomeValues(result, locale: "en")
                #expect(
                    told["change_lines"] as? [String] == [
                        "shop / newsletter: not restricted automatically; our Data Protection Officer has been told to restrict it by hand (1 record)"
                    ], "\(told)")
                #expect(told["not_restrictable_text"] as? String == "shop / newsletter", "\(told)")
                // The rows changed are the rows restricted, not the newsletter's it could not flag.
                let tables = (result["changes"] as? [[String: Any]] ?? []).flatMap { $0["tables"] as? [[String: Any]] ?? [] }
                let restricted = tables.filter { $0["action"] as? String == "restricted" }.reduce(0) { $0 + ($1["rows"] as? Int ?? 0) }
                #expect(result["rows_changed"] as? Int == restricted, "\(result)")
                #expect(told["no_change_found"] as? Bool == false && result["nothing_held"] == nil, "\(result)")
                #expect(await daemon.stop() == 0)
            }
        }
    }

    /// An erasure asked with an email the person has since corrected away still finds them:
    /// their completed correction knew that email, and the customer id it found then finds
    /// them now. It once answered "we hold nothing about you" and left every row.
    @Test func anErasureByAnEmailCorrectedAwayStillFindsThePerson() async throws {
        let keys = try makeKeys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }
        try await TestDatabase.migrated { database, connection in
            try await ShopFixture.with(customers: 10) { shop in
                let store = try await PostgresConnection.connect(shop.url)
                let daemon = try shop.daemon(database: database, exports: keys.directory, signingKey: keys.privateKey)
                func completed(_ sql: String) async throws -> [String: Any] { try await daemon.answer(sql, on: connection) }
                _ = try await completed(
                    #"SELECT dsr.submit('rectification', '{"email": "shopper5@example.com"}', '{"changes": {"email": "new5@example.com"}}') AS id"#
                )
                #expect(try await store.count("SELECT count(*) FROM customers WHERE id = 5 AND email = 'new5@example.com'") == 1)
                let erased = try await completed(#"SELECT dsr.submit('erasure', '{"email": "shopper5@example.com"}') AS id"#)
                #expect(erased["nothing_held"] == nil && (erased["rows_erased"] as? Int ?? 0) > 0, "\(erased)")
                let row = try await store.query("SELECT coalesce(email, '-') AS e, full_name FROM customers WHERE id = 5").map {
                    "\(try $0.decode("e", as: String.self)) \(try $0.decode("full_name", as: String.self))"
                }
                #expect(try await store.count("SELECT count(*) FROM customers WHERE email = 'new5@example.com'") == 0, "\(row) \(erased)")
                await store.close()
                #expect(await daemon.stop() == 0)
            }
        }
    }

    /// Someone only a newsletter knows (no customer record) who asks by that one email gets
    /// the code there: the email is on file in the table keyed by it. Given with a second
    /// identifier no authoritative table holds, nothing is sent: a code to one contact never
    /// unlocks data keyed by another the requester named.
    @Test func aPersonOnlyANewsletterHoldsIsSentTheCodeThere() async throws {
        // SMS opt-ins keyed by phone alone, beside the newsletter keyed by email.
        let connectors = try ShopFixture.mapping(
            appending: """

                [[tables]]
                name = "sms_optin"
                identity = { phone = "phone" }
                purposes = ["marketing"]
                on_objection = "delete"
                [tables.categories]
                phone = "contact"
                [tables.erasure]
                _row = "delete"
                """)
        defer { try? FileManager.default.removeItem(at: connectors) }
        try await TestDatabase.migrated(verification: true) { database, connection in
            try await ShopFixture.with(customers: 10) { shop in
                let store = try await PostgresConnection.connect(shop.url)
                try await store.execute(
                    "INSERT INTO newsletter (email, subscribed_on) VALUES ('Only.News@Example.net', '2026-01-01'), ('other.news@example.net', '2026-01-01')"
                )
                try await store.execute("CREATE TABLE sms_optin (phone text NOT NULL)")
                try await store.execute("INSERT INTO sms_optin VALUES ('+66823334444')")
                await store.close()
                let daemon = try shop.daemon(database: database, connectors: connectors)
                func submitted(_ subject: String) async throws -> (hold: String?, onFile: String?) {
                    let id = try await connection.query("SELECT dsr.submit('access', $1::jsonb) AS id", [subject])[0].decode(
                        "id", as: UUID.self)
                    #expect(
                        try await eventually {
                            try await connection.count(
                                "SELECT count(*) FROM dsr.requests WHERE id = $1 AND status = 'awaiting_verification'", [id])
                                == 1
                        }, "\(daemon.output.suffix(2000))")
                    let row = try await connection.query(
                        "SELECT hold_reason, contacts_on_file -> 'email' ->> 0 AS email FROM dsr.requests WHERE id = $1", [id])[0]
                    return (try row.decode("hold_reason", as: String?.self), try row.decode("email", as: String?.self))
                }
                let alone = try await submitted(#"{"email": " ONLY.news@example.net"}"#)
                #expect(alone.hold == "unverified" && alone.onFile == "only.news@example.net", "\(alone)")
                #expect(
                    try await connection.count(
                        "SELECT count(*) FROM dsr.outbox WHERE template = 'verification_code' AND recipient = 'only.news@example.net'") == 1
                )
                let two = try await submitted(#"{"email": "only.news@example.net", "customer_id": "9999"}"#)
                #expect(two.hold == "no_contact_on_file" && two.onFile == nil, "\(two)")
                // An email nobody holds beside a phone only the opt-ins hold: not turned into a
                // request for the phone alone, which would answer for less than was asked.
                let phoneToo = try await submitted(#"{"email": "unknown@example.net", "phone": "082-333-4444"}"#)
                #expect(phoneToo.hold == "no_contact_on_file", "\(phoneToo)")
                #expect(try await connection.count("SELECT count(*) FROM dsr.outbox WHERE template = 'verification_code'") == 1)
                #expect(await daemon.stop() == 0)
            }
        }
    }

    /// A store whose tables live outside `public`, found through the connection's
    /// `search_path`: what `dsrd indexes` and `dsrd grants` print names each table with its
    /// schema (and grants the schema's USAGE), so it runs as printed in a plain psql session.
    @Test func indexesAndGrantsNameTheSchemaOfTablesOutsidePublic() async throws {
        try await TestDatabase.migrated { database, _ in
            try await ShopFixture.with(customers: 10) { shop in
                let store = try await PostgresConnection.connect(shop.url)
                try await store.execute("CREATE SCHEMA sales")
                for table in ["customers", "orders", "order_items", "newsletter"] {
                    try await store.execute("ALTER TABLE \(table) SET SCHEMA sales")
                }
                // A table the mapping leaves out points at orders, in the same schema: dsrd's
                // search_path finds it, a plain session does not.
                try await store.execute("CREATE TABLE sales.vouchers (order_id bigint REFERENCES sales.orders (id), code text)")
                let role = "t_grants_" + UUID().uuidString.prefix(8).lowercased()
                try await store.execute("CREATE ROLE \(role) LOGIN")
                let environment = ["DSRD_STORE_SHOP_URL": shop.url + " options='-csearch_path=sales'"]
                // Connected as the role before anything is granted, the tables cannot be seen:
                // said, and `indexes` fails rather than reporting "0 of 0".
                let unseen = shop.environment(as: role, options: "options='-csearch_path=sales'")
                let blind = try await DaemonProcess.run(shop.arguments(["indexes"], database: database), environment: unseen)
                #expect(
                    blind.status == 1 && blind.output.contains("not checked, not visible to this connection: customers"), "\(blind.output)")
                let blindGrants = try await DaemonProcess.run(
                    shop.arguments(["grants"], database: database, extra: ["--role", role]), environment: unseen)
                #expect(
                    blindGrants.output.contains("not visible to this connection, so named as mapped: customers"), "\(blindGrants.output)")
                let indexes = try await DaemonProcess.run(shop.arguments(["indexes"], database: database), environment: environment)
                let creates = indexes.output.split(separator: "\n").filter { $0.hasPrefix("CREATE INDEX") }
                #expect(creates.count == 5 && creates.allSatisfy { $0.contains(#" ON "sales"."#) }, "\(indexes.output)")
                let grants = try await DaemonProcess.run(
                    shop.arguments(["grants"], database: database, extra: ["--role", role]), environment: environment)
                let granted = grants.output.split(separator: "\n").filter { $0.hasPrefix("GRANT") }
                #expect(granted.first == #"GRANT USAGE ON SCHEMA "sales" TO "\#(role)";"#, "\(grants.output)")
                #expect(granted.dropFirst().allSatisfy { $0.contains(#""sales"."#) }, "\(grants.output)")
                #expect(granted.contains(#"GRANT SELECT ("order_id") ON "sales"."vouchers" TO "\#(role)";"#), "\(grants.output)")
                // As printed, in a session whose search_path does not find the tables.
                for statement in creates + granted { try await store.execute(String(statement)) }
                try await store.execute("SET ROLE \(role)")
                #expect(try await store.count("SELECT count(*) FROM sales.customers") == 10)
                try await store.execute("RESET ROLE")
                try await shop.drop(role: role, on: store)
                await store.close()
            }
        }
    }

    /// A table whose foreign key to its parent is composite, mapped as the connector guide
    /// says (a parent one of the key's columns reaches alone), draws no "no foreign key"
    /// warning: its rows cannot lose that parent. Rows anonymised in place that keep their
    /// parent link are named as pseudonymised.
    @Test func aCompositeForeignKeyReachesItsParentAndKeptLinksAreNamed() async throws {
        let connectors = try ShopFixture.mapping(
            appending: """

                [[tables]]
                name = "returns"
                parent = { table = "orders", column = "order_id", references = "id" }
                purposes = ["delivery"]
                [tables.categories]
                order_id = "transaction_financial"
                sku = "transaction_financial"
                reason = "other"
                [tables.erasure]
                _row = "delete"
                """)
        defer { try? FileManager.default.removeItem(at: connectors) }
        try await TestDatabase.migrated { database, _ in
            try await ShopFixture.with(customers: 10) { shop in
                let store = try await PostgresConnection.connect(shop.url)
                try await store.execute(
                    "CREATE TABLE returns (order_id bigint NOT NULL, sku text NOT NULL, reason text, PRIMARY KEY (order_id, sku), FOREIGN KEY (order_id, sku) REFERENCES order_items (order_id, sku))"
                )
                await store.close()
                let check = try await DaemonProcess.run(
                    shop.arguments(["check"], database: database, extra: ["--set", "connectors.directory=\(connectors.path)"]),
                    environment: shop.environment)
                #expect(!check.output.contains("table returns: no foreign key"), "\(check.output)")
                #expect(
                    check.output.contains("table order_items: anonymised rows keep order_id, which still find the person"),
                    "\(check.output)")
            }
        }
    }

    /// citext (the extension's case-insensitive text, its type oid given out at install) is
    /// text to the checks: an email in it can be hashed or masked.
    @Test func citextIsText() {
        for type in ["citext", "public.citext", "text", "character varying(200)"] {
            let oid: UInt32 = type.hasSuffix("citext") ? 16_385 : (type == "text" ? 25 : 1043)
            #expect(StoreSchema.Column(name: "email", type: type, typeOID: oid, notNull: false).isText, "\(type)")
        }
        #expect(!StoreSchema.Column(name: "n", type: "integer", typeOID: 23, notNull: false).isText)
    }

    /// Mixed-case tables and columns are named as the store has them (dsrd quotes every name);
    /// the store's name stays a lower-case code.
    @Test func mixedCaseNamesAreNamedAsTheyAre() throws {
        let mapping = try ConnectorCatalog.parse(
            "name = \"crm\"\n[[tables]]\nname = \"Contacts\"\nidentity = { email = \"EmailAddress\" }\n[tables.categories]\nDisplayName = \"personal\"\n",
            source: "crm.toml")
        #expect(mapping.tables.first?.name == "Contacts" && mapping.tables.first?.identity[.email] == "EmailAddress")
        #expect(SQLConnector.quote("DisplayName") == "\"DisplayName\"")
        #expect(throws: ConfigurationError.self) {
            try ConnectorCatalog.parse("name = \"CRM\"\n[[tables]]\nname = \"t\"\nidentity = { email = \"e\" }\n", source: "crm.toml")
        }
    }
}
