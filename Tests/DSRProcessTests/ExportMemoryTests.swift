import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// An export's memory, measured on a `dsrd run` process of its own (its peak RSS).
@Suite("Export memory")
struct ExportMemoryTests {
    @Test func fiveThousandOrdersExportWithBoundedMemory() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let order = try await PostgresConnection.connect(stores.url("order"))
                try await stores.addOrders(on: order, customer: "T-1", count: 5_000)
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                let id = try await connection.query(
                    "SELECT dsr.submit('access', '{\"customer_id\": \"T-1\"}') AS id")[0].decode("id", as: UUID.self)
                // A process of its own: its peak memory is what is measured.
                let daemon = try DaemonProcess(database.exportArguments(exports), environment: stores.environment)
                #expect(
                    try await eventually(timeout: .seconds(120)) {
                        try await connection.isCompleted(id)
                    }, "\(daemon.output)")
                let peak = daemon.peakResidentMebibytes
                print("dsrd peak RSS exporting 5,003 orders (25,015 order-store rows): \(Int(peak)) MiB")
                #expect(peak > 0 && peak < 200)
                daemon.signal(SIGTERM)
                _ = try await daemon.waitForExit(timeout: .seconds(30))
                let bundle = try OpenedBundle(path: try #require(try await completedResult(connection, id)["export_path"] as? String))
                #expect(try bundle.rows("order/orders.json").count == 5_003)
            }
        }
    }
}
