import DSR
import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// At start the daemon asks each store which lookups no index serves and warns about them:
/// a store that lost an index (or whose index no longer matches dsrd's expression after an
/// upgrade) would otherwise be read whole on every request without anyone being told.
@Suite("Store index check at start")
struct StoreIndexCheckTests {
    /// Starts the daemon on the demo stores until it has checked all three; what each check
    /// reported (missing lookups, nil when it could not check) and the daemon's log.
    static func startUpChecks(_ database: TestDatabase, _ stores: StoreFixture) async throws -> ([String: Int?], LogCapture) {
        let log = LogCapture()
        let checks = try await InProcessDaemon.run(arguments: database.runArguments([]), environment: stores.environment, log: log) {
            daemon in try await daemon.indexChecks(of: ["customer", "order", "marketing"])
        }
        return (checks, log)
    }

    @Test func aLookupWithoutAnIndexIsLoggedAtStart() async throws {
        try await TestDatabase.migrated { database, _ in
            try await StoreFixture.with(customers: 20) { stores in
                let customer = try await PostgresConnection.connect(stores.url("customer"))
                let email = try await customer.query(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'customers' AND indexdef LIKE '%lower(btrim(email))%'")
                #expect(email.count == 1, "the demo store has its email index")
                for row in email { try await customer.execute("DROP INDEX \(try row.decode("indexname", as: String.self))") }
                await customer.close()

                let (checks, log) = try await Self.startUpChecks(database, stores)
                #expect(checks == ["customer": 1, "order": 0, "marketing": 0])
                let warnings = log.text.split(separator: "\n").filter { $0.contains("store lookups without an index") }
                #expect(warnings.count == 1)
                #expect(warnings.first?.contains("dsr.store=customer") == true)
                #expect(warnings.first?.contains("customers: email lookup") == true)
                #expect(warnings.first?.contains("dsrd indexes --store customer") == true)
            }
        }
    }

    @Test func aMappingThatDoesNotFitItsStoreIsLoggedAtStart() async throws {
        try await TestDatabase.migrated { database, _ in
            try await StoreFixture.with(customers: 20) { stores in
                let order = try await PostgresConnection.connect(stores.url("order"))
                try await order.execute("ALTER TABLE shipments RENAME COLUMN recipient_phone TO phone_of_recipient")
                await order.close()

                let (checks, log) = try await Self.startUpChecks(database, stores)
                #expect(checks == ["customer": 0, "order": nil, "marketing": 0])
                let errors = log.text.split(separator: "\n").filter { $0.contains("mapping does not fit the store") }
                #expect(errors.count == 1)
                #expect(errors.first?.contains("dsr.store=order") == true)
                #expect(errors.first?.contains("shipments: ") == true && errors.first?.contains("no column recipient_phone") == true)
                #expect(errors.first?.contains("dsrd check --store order") == true)
            }
        }
    }
}
