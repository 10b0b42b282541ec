import Crypto
import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

@testable import DSR

/// A store like the one an acceptance tester connected: orders partitioned by date (their key
/// is `(id, order_date)`), order lines pointing at them by that composite key, customers who
/// refer each other. The partitions are read, erased and granted through the partitioned
/// table, and the catalog's CHECK constraints, foreign keys and delete triggers are held
/// against the erasure strategies.
struct PartitionedStore: Sendable {
    static let schema = """
        CREATE TABLE customers (
          id          text PRIMARY KEY CHECK (id ~ '^cust_[0-9]+$'),
          full_name   text NOT NULL,
          email       text CHECK (email LIKE '%@%'),
          referred_by text REFERENCES customers (id)
        );
        CREATE TABLE orders (
          id          text NOT NULL,
          order_date  date NOT NULL,
          customer_id text REFERENCES customers (id),
          ship_to     text,
          PRIMARY KEY (id, order_date)
        ) PARTITION BY RANGE (order_date);
        CREATE TABLE orders_old  PARTITION OF orders FOR VALUES FROM ('2015-01-01') TO ('2021-01-01');
        CREATE TABLE orders_2021 PARTITION OF orders FOR VALUES FROM ('2021-01-01') TO ('2024-01-01');
        CREATE TABLE orders_new  PARTITION OF orders FOR VALUES FROM ('2024-01-01') TO ('2030-01-01');
        CREATE TABLE order_lines (
          order_id     text NOT NULL,
          order_date   date NOT NULL,
          sku          text NOT NULL,
          gift_message text,
          FOREIGN KEY (order_id, order_date) REFERENCES orders (id, order_date)
        );
        INSERT INTO customers VALUES
          ('cust_1', 'Ann Referrer', 'ann@example.com', NULL),
          ('cust_2', 'Ben Referred', 'ben@example.com', 'cust_1'),
          ('cust_3', 'Cat Alone', 'cat@example.com', NULL);
        INSERT INTO orders VALUES
          ('o1', '2020-05-01', 'cust_1', '1 Road'), ('o2', '2022-05-01', 'cust_1', '1 Road'), ('o3', '2025-05-01', 'cust_3', '3 Road');
        INSERT INTO order_lines VALUES
          ('o1', '2020-05-01', 'SKU-1', 'Happy birthday'), ('o2', '2022-05-01', 'SKU-2', NULL), ('o3', '2025-05-01', 'SKU-3', NULL);
        ANALYZE customers, orders, order_lines;
        """

    /// The mapping: the partitioned table mapped, its partitions not. `customers` is the
    /// customers table's erasure section, for a test's variant.
    static func mapping(url: String, customers: String = "_row = \"delete\"\nfull_name = \"mask\"\nemail = \"null\"") -> String {
        """
        name = "parts"
        url = "\(url)"

        [[tables]]
        name = "customers"
        key = "id"
        authoritative = true
        identity = { customer_id = "id", email = "email" }
        [tables.categories]
        id = "account"
        full_name = "personal"
        email = "contact"
        referred_by = "account"
        [tables.erasure]
        \(customers)

        [[tables]]
        name = "orders"
        key = ["id", "order_date"]
        identity = { customer_id = "customer_id" }
        [tables.categories]
        id = "transaction_financial"
        order_date = "transaction_financial"
        customer_id = "account"
        ship_to = "contact"
        [tables.erasure]
        _row = "delete"

        [[tables]]
        name = "order_lines"
        key = ["order_id", "sku"]
        parent = { table = "orders", column = "order_id", references = "id" }
        [tables.categories]
        order_id = "transaction_financial"
        order_date = "transaction_financial"
        sku = "transaction_financial"
        gift_message = "personal"
        [tables.erasure]
        _row = "delete"
        """
    }

    let database: TestDatabase
    let owner: PostgresConnection

    /// A database with the schema and its rows, and a connection as its owner.
    static func with<T: Sendable>(_ body: (PartitionedStore) async throws -> T) async throws -> T {
        try await TestDatabase.with { database in
            let owner = try await database.connect()
            try await owner.runScript(schema)
            let value = try await body(PartitionedStore(database: database, owner: owner))
            await owner.close()
            return value
        }
    }

    func mapping(customers: String? = nil, user: String? = nil) throws -> StoreMapping {
        let url = database.conninfo + (user.map { " user=\($0)" } ?? "")
        let text = customers.map { Self.mapping(url: url, customers: $0) } ?? Self.mapping(url: url)
        return try ConnectorCatalog.parse(text, source: "parts.toml")
    }

    /// A login role holding exactly the privileges `dsrd grants` prints for the mapping
    /// (on the partitioned table, none on its partitions); dropped after `body`.
    func withGrantedRole<T: Sendable>(_ body: (String) async throws -> T) async throws -> T {
        let role = "t_parts_" + UUID().uuidString.prefix(8).lowercased()
        try await owner.execute("CREATE ROLE \(role) LOGIN")
        do {
            let mapping = try mapping()
            let schema = try await SQLConnector(mapping: mapping, maxConnections: 1).schema()
            for grant in StoreGrants(mapping).statements(role: role, schema: schema) { try await owner.execute(grant) }
            let value = try await body(role)
            try await owner.execute("DROP OWNED BY \(role)")
            try await owner.execute("DROP ROLE \(role)")
            return value
        } catch {
            _ = try? await owner.execute("DROP OWNED BY \(role)")
            _ = try? await owner.execute("DROP ROLE \(role)")
            throw error
        }
    }
}

@Suite("Partitioned tables and the store's own constraints")
struct PartitionedStoreTests {
    /// Partitions of a mapped partitioned table are covered by it: `dsrd check`, connected with
    /// only the privileges `dsrd grants` prints, names none of them (neither as unmapped nor as
    /// unreadable) and finds nothing missing. An erasure reads and deletes the person's orders
    /// through the partitioned table; a customer another customer was referred by is kept, and
    /// the held rule names that self-reference, not the partitions; a customer nobody refers
    /// to is deleted.
    @Test func partitionsAreCoveredByTheirMappedTable() async throws {
        try await PartitionedStore.with { store in
            try await store.withGrantedRole { role in
                let connector = SQLConnector(mapping: try store.mapping(user: role), maxConnections: 1)
                let report = try await connector.check()
                #expect(report.errors == 0, "\(report.render())")
                let partitions = ["orders_old", "orders_2021", "orders_new"]
                let naming = report.findings.filter { finding in partitions.contains { finding.message.contains($0) } }
                #expect(naming.isEmpty, "\(report.render())")

                let keys = ProofKeys(signing: Curve25519.Signing.PrivateKey())
                func erase(_ customer: String) async throws -> StoreErasure {
                    var identity = IdentitySet()
                    identity.customerIDs = [customer]
                    return try await connector.erase(identity, keys: keys) { _ in }
                }
                let referrer = try await erase("cust_1")
                let customers = try #require(referrer.tables.first { $0.name == "customers" })
                #expect(customers.heldAnonymised == 1 && customers.deleted == 0, "\(customers)")
                #expect(customers.held.map(\.rule) == ["referenced by rows kept in this store: customers (referred_by)"], "\(customers)")
                #expect(customers.held.first?.reason == .referenced)
                #expect(referrer.tables.first { $0.name == "orders" }?.deleted == 2, "\(referrer)")
                #expect(referrer.tables.first { $0.name == "order_lines" }?.deleted == 2, "\(referrer)")
                #expect(try await store.owner.count("SELECT count(*) FROM orders WHERE customer_id = 'cust_1'") == 0)
                #expect(
                    try await store.owner.count(
                        "SELECT count(*) FROM customers WHERE id = 'cust_1' AND email IS NULL AND full_name = 'A***'")
                        == 1)

                let alone = try await erase("cust_3")
                #expect(alone.tables.first { $0.name == "customers" }?.deleted == 1, "\(alone)")
                #expect(alone.tables.allSatisfy { $0.held.isEmpty }, "\(alone)")
                #expect(try await store.owner.count("SELECT count(*) FROM customers WHERE id = 'cust_3'") == 0)
            }
        }
    }

    /// Proofs made before the held rule named the referencing tables still count those rows
    /// as kept because other rows refer to them.
    /// A correction in a partitioned table changes the person's rows in every partition and
    /// no one else's: the first row of each partition has the same ctid, so rows are told
    /// apart by partition too.
    @Test func aCorrectionInAPartitionedTableChangesOnlyThePersonsRows() async throws {
        try await PartitionedStore.with { store in
            let text = PartitionedStore.mapping(url: store.database.conninfo).replacingOccurrences(
                of: "key = [\"id\", \"order_date\"]", with: "key = [\"id\", \"order_date\"]\nrectify = [\"ship_to\"]")
            let connector = SQLConnector(mapping: try ConnectorCatalog.parse(text, source: "parts.toml"))
            var identity = IdentitySet()
            identity.customerIDs = ["cust_1"]
            let update = try await connector.update(identity, change: .rectify(["ship_to": "9 New Road"])) {}
            #expect(update.tables.first { $0.name == "orders" }?.rows == 2, "\(update)")
            let rows = try await store.owner.query("SELECT id, ship_to FROM orders ORDER BY id").map {
                "\(try $0.decode("id", as: String.self)) \(try $0.decode("ship_to", as: String.self))"
            }
            #expect(rows == ["o1 9 New Road", "o2 9 New Road", "o3 3 Road"], "\(rows)")
        }
    }

    @Test func theEarlierReferencedRuleIsStillAReference() {
        let earlier = StoreErasure.Held(
            rule: "referenced by rows kept in other tables of this store; tables not in the mapping among them: wishlists", rows: 1,
            until: nil, treatment: "anonymised")
        #expect(earlier.reason == .referenced)
    }

    /// `dsrd indexes` on a partitioned table prints a statement PostgreSQL accepts (it
    /// refuses CONCURRENTLY there), saying what it does; run as printed, every lookup has its
    /// index, the partitioned table's in each partition, and nothing is proposed twice.
    @Test func indexesOfAPartitionedTableRunAsPrinted() async throws {
        try await TestDatabase.migrated { database, _ in
            try await PartitionedStore.with { store in
                let connectors = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: connectors) }
                try PartitionedStore.mapping(url: store.database.conninfo).write(
                    to: connectors.appendingPathComponent("parts.toml"), atomically: true, encoding: .utf8)
                let arguments = [
                    "indexes", "--config", ConfigurationTests.exampleFile, "--database-url", database.conninfo,
                    "--set", "connectors.directory=\(connectors.path)",
                ]
                let indexes = try await DaemonProcess.run(arguments)
                #expect(indexes.status == 0, "\(indexes.output)")
                let lines = indexes.output.split(separator: "\n").map(String.init)
                let orders = try #require(lines.firstIndex { $0.hasPrefix("CREATE INDEX") && $0.contains(#""public"."orders" "#) })
                #expect(!lines[orders].contains("CONCURRENTLY"), "\(indexes.output)")
                #expect(lines[orders - 1].hasPrefix("-- orders is partitioned"), "\(indexes.output)")
                // As psql runs the output: each statement on its own, comments skipped.
                for line in lines where !line.isEmpty && !line.hasPrefix("--") { try await store.owner.execute(line) }
                let partitionIndexes = try await store.owner.count(
                    "SELECT count(*) FROM pg_indexes WHERE tablename IN ('orders_old', 'orders_2021', 'orders_new') AND indexdef LIKE '%(customer_id)%'"
                )
                #expect(partitionIndexes == 3)
                let again = try await DaemonProcess.run(arguments)
                #expect(again.status == 0 && !again.output.contains("CREATE INDEX"), "\(again.output)")
            }
        }
    }

    /// A parent link served by one pair of a composite foreign key (`(order_id, order_date)`
    /// → `orders (id, order_date)` links `order_id` to `orders.id`) draws no "no foreign key"
    /// warning.
    @Test func aCompositeForeignKeyServesTheParentLinkItPairs() async throws {
        try await PartitionedStore.with { store in
            let report = try await SQLConnector(mapping: try store.mapping(), maxConnections: 1).check()
            #expect(!report.findings.contains { $0.message.contains("no foreign key") }, "\(report.render())")
        }
    }

    /// `dsrd check` refuses a hash or mask in a column with a foreign key (the store refuses
    /// the value, 23503) and deletes from a table whose ON DELETE DO INSTEAD rule returns
    /// nothing (PostgreSQL refuses DELETE … RETURNING there), and warns where the store may
    /// refuse or redirect what dsrd does: a CHECK constraint on a hashed or masked column, a
    /// BEFORE DELETE trigger (also one on a partition) on a table whose rows are deleted.
    @Test func strategiesTheStoreWouldRefuseAreNamed() async throws {
        try await PartitionedStore.with { store in
            try await store.owner.runScript(
                """
                CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'delete refused'; END $$;
                CREATE TRIGGER orders_new_no_delete BEFORE DELETE ON orders_new FOR EACH ROW EXECUTE FUNCTION refuse_delete();
                CREATE RULE order_lines_archive AS ON DELETE TO order_lines DO INSTEAD NOTHING;
                """)
            let mapping = try store.mapping(
                customers: "_row = \"anonymise\"\nfull_name = \"mask\"\nemail = \"mask\"\nreferred_by = \"hash\"")
            let report = try await SQLConnector(mapping: mapping, maxConnections: 1).check()
            let text = report.render()
            #expect(report.failed, "\(text)")
            for line in [
                #"ERROR table customers: erasure.referred_by = "hash" writes a value the foreign key customers_referred_by_fkey to customers.id refuses (23503); use "null", or "keep""#,
                #"WARN  table customers: erasure.email = "mask": CHECK constraint customers_email_check on email may refuse the masked value (dsrd cannot evaluate it); test an erasure on a copy first"#,
                #"WARN  table orders: _row = "delete", but trigger orders_new_no_delete runs BEFORE DELETE: it may refuse or redirect the deletes; test an erasure on a copy first"#,
                #"ERROR table order_lines: _row = "delete", but rule order_lines_archive is ON DELETE DO INSTEAD (conditional, or without RETURNING): PostgreSQL refuses dsrd's DELETE … RETURNING there (0A000); drop the rule, or anonymise instead"#,
            ] {
                #expect(text.contains(line), "\(line)\n\(text)")
            }
            // The masked name has no CHECK constraint: no warning about it.
            #expect(!text.contains("erasure.full_name"), "\(text)")
        }
    }
}
