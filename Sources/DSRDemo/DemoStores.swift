import DSR
import Foundation
import Logging
import Postgres

/// Creates and fills the demo stores (customer, order, marketing) described by the bundled
/// mappings, each a database of its own on the same server as dsrd's. The data is
/// generated in SQL, deterministically: Thai and English names, shared phones (every 50th
/// customer), emails that differ only by case (every 97th), minors (every 33rd).
public struct DemoStores: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    static func sql(_ file: String) -> String {
        embeddedDemoSQL.first { $0.file == file }?.sql ?? ""
    }

    /// `dbname=NAME` from a store's connection string (the demo mappings use that form).
    static func databaseName(_ conninfo: String) -> String? {
        guard let range = conninfo.range(of: #"dbname=([a-z_][a-z0-9_]*)"#, options: .regularExpression) else { return nil }
        return String(conninfo[range].dropFirst("dbname=".count))
    }

    /// Creates missing store databases and seeds empty ones with `customers` customers.
    /// Returns per store whether it was seeded now.
    @discardableResult
    public func setUp(stores: [StoreMapping], admin: PostgresConnection, customers: Int, reset: Bool) async throws -> [String: Bool] {
        var seeded: [String: Bool] = [:]
        for store in stores where store.kind == .postgres {
            guard ["customer", "order", "marketing"].contains(store.name), let database = Self.databaseName(store.url) else {
                continue
            }
            if reset { try await admin.execute("DROP DATABASE IF EXISTS \(database) WITH (FORCE)") }
            let exists = try await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]).count == 1
            if !exists {
                // Identifiers cannot be bound; this one matched [a-z_][a-z0-9_]* above.
                try await admin.execute("CREATE DATABASE \(database) TEMPLATE template0 ENCODING 'UTF8'")
            }
            let connection = try await PostgresConnection.connect(store.url)
            try await connection.runScript(Self.sql("\(store.name).sql"))
            // The indexes dsrd's lookups need and the store does not have yet.
            for lookup in try await SQLConnector(mapping: store, maxConnections: 1).lookupIndexes() where !lookup.isServed {
                try await connection.runScript(lookup.createIndex)
            }
            let table = store.tables[0].name
            let empty = try await connection.query("SELECT NOT EXISTS (SELECT 1 FROM \(table)) AS empty")[0].decode("empty", as: Bool.self)
            if empty {
                logger.info("seeding demo store", metadata: ["dsr.store": "\(store.name)", "dsr.customers": "\(customers)"])
                try await connection.runScript(Self.sql("demo-functions.sql"))
                try await connection.execute("SELECT set_config('dsr.demo_customers', $1, false)", [String(customers)])
                try await connection.runScript(Self.sql("seed-\(store.name).sql"))
            }
            seeded[store.name] = empty
            await connection.close()
        }
        return seeded
    }
}
