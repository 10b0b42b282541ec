import Foundation
import Postgres

/// A database of its own for one test, on the server the test scripts started
/// (`PG*` environment, loopback). Created empty, dropped afterwards.
public struct TestDatabase: Sendable {
    public let name: String

    /// A libpq connection string for this database; other settings come from `PG*`.
    public var conninfo: String { "dbname=\(name)" }

    public func connect() async throws -> PostgresConnection {
        try await PostgresConnection.connect(conninfo)
    }

    /// Runs `body` with a freshly created database and drops it afterwards.
    public static func with<T: Sendable>(_ body: (TestDatabase) async throws -> T) async throws -> T {
        let database = try await create()
        do {
            let value = try await body(database)
            try await database.drop()
            return value
        } catch {
            try? await database.drop()
            throw error
        }
    }

    public static func create() async throws -> TestDatabase {
        let name = "dsrd_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try await AdmissionGate.databaseCreation.run {
            let admin = try await PostgresConnection.connect("dbname=postgres")
            // Identifiers cannot be bound; the name is generated above from hex digits only.
            try await admin.execute("CREATE DATABASE \(name) TEMPLATE template0 ENCODING 'UTF8'")
        }
        return TestDatabase(name: name)
    }

    public func drop() async throws {
        let admin = try await PostgresConnection.connect("dbname=postgres")
        try await admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }
}
