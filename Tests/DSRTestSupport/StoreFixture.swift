import DSR
import DSRDemo
import Foundation
import Logging
import Postgres
import TestSupport
import ZIPFoundation

/// The three demo stores in databases of their own for one test, seeded with generated
/// customers plus a known person (T-1) and their family member sharing a phone (T-2).
public struct StoreFixture: Sendable {
    public let names: [String: String]

    public var environment: [String: String] {
        Dictionary(uniqueKeysWithValues: names.map { ("DSRD_STORE_\($0.key.uppercased())_URL", "dbname=\($0.value)") })
    }

    public func url(_ store: String) -> String { "dbname=\(names[store]!)" }

    public static let connectorsDirectory = URL(fileURLWithPath: exampleConfigFile)
        .deletingLastPathComponent().appendingPathComponent("connectors").path

    public static func make(customers: Int = 300, creating stores: Set<String> = ["customer", "order", "marketing"]) async throws
        -> StoreFixture
    {
        let suffix = UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(10).lowercased()
        let fixture = StoreFixture(names: [
            "customer": "t_customer_\(suffix)", "order": "t_order_\(suffix)", "marketing": "t_marketing_\(suffix)",
        ])
        try await fixture.create(stores, customers: customers)
        return fixture
    }

    public func mappings() throws -> [StoreMapping] {
        try ConnectorCatalog.load(directory: Self.connectorsDirectory, environment: environment)
    }

    /// Creates and seeds the named stores, then adds the known people to them.
    public func create(_ stores: Set<String>, customers: Int) async throws {
        let admin = try await PostgresConnection.connect("dbname=postgres")
        let mappings = try mappings().filter { stores.contains($0.name) }
        // Creating and seeding, a few fixtures at a time (see AdmissionGate).
        try await AdmissionGate.databaseCreation.run {
            try await DemoStores(logger: Logger(label: "test")).setUp(stores: mappings, admin: admin, customers: customers, reset: false)
        }
        if stores.contains("customer") {
            let customer = try await PostgresConnection.connect(url("customer"))
            try await customer.execute(
                """
                INSERT INTO customers (id, first_name, last_name, date_of_birth, nationality, national_id, address, phone, email, login_provider)
                VALUES ('T-1', 'สมชาย', 'ทดสอบ', '1990-01-02', 'TH', '1101700207030', '33/1 ซอยหมู่บ้านเศรษฐกิจ 40 บางแค', '081-234-5678', ' Somchai.Test@Example.co.th ', 'facebook'),
                       ('T-2', 'มาลี', 'ทดสอบ', '1992-03-04', 'TH', NULL, '33/1 ซอยหมู่บ้านเศรษฐกิจ 40 บางแค', '+66 81 234 5678', 'mali.test@example.co.th', 'google')
                """)
            try await customer.execute(
                "INSERT INTO identity_documents (customer_id, kind, scan) VALUES ('T-1', 'national_id_card', '\\xdeadbeef'::bytea), ('T-2', 'passport', '\\x00'::bytea)"
            )
            try await customer.execute(
                "INSERT INTO activity_log (customer_id, ip_address, cookie_id, event) VALUES ('T-1', '127.0.0.1', 'ck-1', 'login'), ('T-2', '127.0.0.2', 'ck-2', 'login')"
            )
            await customer.close()
        }
        if stores.contains("order") {
            let order = try await PostgresConnection.connect(url("order"))
            try await addOrders(on: order, customer: "T-1", count: 3)
            try await addOrders(on: order, customer: "T-2", count: 2)
            await order.close()
        }
        if stores.contains("marketing") { try await addMarketing() }
    }

    public func addMarketing() async throws {
        let marketing = try await PostgresConnection.connect(url("marketing"))
        try await marketing.execute(
            """
            INSERT INTO subscriptions (email, phone, channel, source, subscribed_at)
            VALUES ('SOMCHAI.TEST@example.co.th', '0812345678', 'email', 'signup', now()),
                   ('mali.test@example.co.th', '081-234-5678', 'sms', 'signup', now())
            """)
        try await marketing.execute(
            "INSERT INTO consents (customer_id, email, purpose, given_at) VALUES ('T-1', NULL, 'marketing', now()), ('T-2', NULL, 'marketing', now())"
        )
        try await marketing.execute(
            "INSERT INTO campaign_events (email, campaign, event, pixel_id, at) VALUES ('somchai.test@EXAMPLE.co.th', 'promo-1', 'open', 'px-1', now()), ('mali.test@example.co.th', 'promo-1', 'click', 'px-2', now())"
        )
        await marketing.close()
    }

    /// Creates one store under a scratch name and renames it into place, so that a daemon
    /// waiting for it never sees it half-filled (a store coming back from an outage).
    public func createAtomically(_ store: String, customers: Int) async throws {
        let scratch = names[store]! + "_new"
        try await StoreFixture(names: names.merging([store: scratch]) { $1 }).create([store], customers: customers)
        let admin = try await PostgresConnection.connect("dbname=postgres")
        try await admin.execute("ALTER DATABASE \(scratch) RENAME TO \(names[store]!)")
    }

    public func addOrders(on connection: PostgresConnection, customer: String, count: Int) async throws {
        try await connection.execute(
            """
            WITH new_orders AS (
                INSERT INTO orders (customer_id, ordered_at, status, shipping_address, total)
                SELECT $1, now() - g * interval '1 day', 'delivered', 'บางแค กรุงเทพฯ', 1500.50 FROM generate_series(1, $2::int) AS g
                RETURNING id, ordered_at, total),
            items AS (INSERT INTO order_items (order_id, product, quantity, unit_price) SELECT id, 'ฟิล์มกรองแสง', 1, total FROM new_orders),
            pays AS (INSERT INTO payments (order_id, method, card_last4, amount, paid_at) SELECT id, 'card', '4242', total, ordered_at FROM new_orders),
            invs AS (INSERT INTO invoices (order_id, invoice_no, issued_at, buyer_name, amount) SELECT id, 'INV-' || id, ordered_at, $1, total FROM new_orders)
            INSERT INTO shipments (order_id, carrier, tracking_no, address, shipped_at) SELECT id, 'Kerry', 'TR' || id, 'บางแค', ordered_at FROM new_orders
            """, [customer, count])
    }

    /// The order store's tables, parents first.
    public static let orderTables = ["orders", "order_items", "payments", "invoices", "shipments"]

    /// Gives T-1 two orders outside the 5-year hold and one with an open dispute.
    public func addOldAndDisputedOrders() async throws -> (old: [Int64], disputed: Int64) {
        let order = try await PostgresConnection.connect(url("order"))
        try await addOrders(on: order, customer: "T-1", count: 3)
        let ids = try await order.query("SELECT id FROM orders WHERE customer_id = 'T-1' ORDER BY id DESC LIMIT 3")
            .map { try $0.decode("id", as: Int64.self) }
        let old = Array(ids[0...1])
        try await order.execute("UPDATE invoices SET issued_at = now() - interval '6 years' WHERE order_id = ANY($1::bigint[])", [old])
        try await order.execute("UPDATE payments SET paid_at = now() - interval '6 years' WHERE order_id = ANY($1::bigint[])", [old])
        try await order.execute("UPDATE invoices SET dispute_open = true WHERE order_id = $1", [ids[2]])
        await order.close()
        return (old, ids[2])
    }

    public func drop() async {
        guard let admin = try? await PostgresConnection.connect("dbname=postgres") else { return }
        for name in names.values { _ = try? await admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
    }

    public static func with<T: Sendable>(
        customers: Int = 300, creating stores: Set<String> = ["customer", "order", "marketing"],
        _ body: (StoreFixture) async throws -> T
    ) async throws -> T {
        let fixture = try await make(customers: customers, creating: stores)
        do {
            let value = try await body(fixture)
            await fixture.drop()
            return value
        } catch {
            await fixture.drop()
            throw error
        }
    }
}

/// An export bundle opened for assertions.
public struct OpenedBundle {
    public let archive: Archive
    public let url: URL

    /// Throws unless `path` is a file: an empty path (a request that never completed has no
    /// `export_path`) would be the working directory, which ZIPFoundation reads for ever.
    public init(path: String) throws {
        var isFolder: ObjCBool = false
        guard !path.isEmpty, FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        url = URL(fileURLWithPath: path)
        archive = try Archive(url: url, accessMode: .read)
    }

    public func data(_ path: String) throws -> Data {
        guard let entry = archive[path] else { throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: path]) }
        var data = Data()
        _ = try archive.extract(entry) { data.append($0) }
        return data
    }

    public func rows(_ path: String) throws -> [[String: Any]] {
        try JSONSerialization.jsonObject(with: try data(path)) as? [[String: Any]] ?? []
    }

    public var paths: [String] { archive.map(\.path).sorted() }
}
