import Foundation
import Postgres
import TestSupport

/// One person with a long history (N orders, each with an item, a payment, an invoice and a
/// shipment) added to the demo stores; their access export timed against `psql \copy` of the
/// same order-store rows, then their erasure.
struct ExportBenchmark {
    let environment: BenchEnvironment
    let orders: Int
    var name = "BENCH"

    var customerID: String { "\(name)-\(orders)" }

    func addPerson() async throws {
        let customers = try await environment.connect("dsr_customer")
        try await customers.execute(
            "INSERT INTO customers (id, first_name, last_name, email, phone, login_provider) VALUES ($1, 'สมชาย', 'ทดสอบ', $2, NULL, 'password')",
            [customerID, "\(customerID.lowercased())@example.com"])
        await customers.close()
        let store = try await environment.connect("dsr_order")
        try await store.execute(
            """
            WITH o AS (INSERT INTO orders (customer_id, ordered_at, status, shipping_address, total)
                       SELECT $1, now() - g * interval '1 hour', 'delivered', 'บางแค กรุงเทพฯ 10160', 1500.50
                         FROM generate_series(1, $2) g RETURNING id, ordered_at, total),
                 i AS (INSERT INTO order_items (order_id, product, quantity, unit_price) SELECT id, 'ฟิล์มกรองแสง', 1, total FROM o),
                 p AS (INSERT INTO payments (order_id, method, card_last4, amount, paid_at) SELECT id, 'card', '4242', total, ordered_at FROM o),
                 v AS (INSERT INTO invoices (order_id, invoice_no, issued_at, buyer_name, amount) SELECT id, 'INV-' || id, ordered_at, $1, total FROM o)
            INSERT INTO shipments (order_id, carrier, tracking_no, address, shipped_at) SELECT id, 'Kerry', 'TR' || id, 'บางแค', ordered_at FROM o
            """, [customerID, orders])
        try await store.execute("ANALYZE orders, order_items, payments, invoices, shipments")
        await store.close()
    }

    struct Timing {
        var seconds: Double
        var requestSeconds: Double
        var orderStoreSeconds: Double
        var finalizeSeconds: Double
        var rows: Int
        var bytes: Int
        var zipBytes: Int
        var peak: Double
    }

    /// Submits `kind` for the person and runs a daemon until it completes (a cold start:
    /// the daemon connects and prepares its statements for this one request).
    func request(_ kind: String) async throws -> Timing {
        let connection = try await environment.connect()
        defer { Task { await connection.close() } }
        let id = try await submit(kind, on: connection)
        let peak = try await environment.withDaemons(
            1, environment.configArguments, until: { try await Self.isCompleted(id, on: connection) }, timeout: .seconds(600))
        var timing = try await timing(of: id, on: connection)
        timing.peak = peak
        return timing
    }

    /// Submits `kind` for the person to daemons already running and waits for it to complete.
    func requestWarm(_ kind: String, daemons: [DaemonProcess], on connection: PostgresConnection) async throws -> Timing {
        let id = try await submit(kind, on: connection)
        let finished = try await eventually(timeout: .seconds(600), every: .milliseconds(5)) {
            try BenchEnvironment.checkRunning(daemons)
            return try await Self.isCompleted(id, on: connection)
        }
        guard finished else { throw BenchError("\(kind) for \(customerID) did not complete within 600 s") }
        return try await timing(of: id, on: connection)
    }

    func submit(_ kind: String, on connection: PostgresConnection) async throws -> UUID {
        try await connection.query(
            "SELECT dsr.submit($1, jsonb_build_object('customer_id', $2::text), $3::jsonb) AS id",
            [kind, customerID, BenchEnvironment.verifiedAtSubmission])[0].decode("id", as: UUID.self)
    }

    static func isCompleted(_ id: UUID, on connection: PostgresConnection) async throws -> Bool {
        try await connection.query("SELECT status FROM dsr.requests WHERE id = $1", [id])[0].decode("status", as: String.self)
            == "completed"
    }

    /// The request's timeline from its jobs (database clock) and its sizes.
    func timing(of id: UUID, on connection: PostgresConnection) async throws -> Timing {
        let row = try await connection.query(
            """
            SELECT extract(epoch FROM (SELECT max(finished_at) FROM dsr.jobs WHERE request_id = $1 AND kind = 'finalize')
                                    - (SELECT min(attempted_at) FROM dsr.jobs WHERE request_id = $1 AND kind = 'request'))::float8 AS seconds,
                   (SELECT extract(epoch FROM finished_at - attempted_at)::float8 FROM dsr.jobs
                     WHERE request_id = $1 AND kind = 'request') AS request_seconds,
                   (SELECT extract(epoch FROM finished_at - attempted_at)::float8 FROM dsr.jobs
                     WHERE request_id = $1 AND kind = 'store_task' AND payload->>'store' = 'order') AS order_seconds,
                   (SELECT extract(epoch FROM finished_at - attempted_at)::float8 FROM dsr.jobs
                     WHERE request_id = $1 AND kind = 'finalize') AS finalize_seconds,
                   coalesce((r.result->>'rows_exported')::bigint, 0) + coalesce((r.result->>'rows_erased')::bigint, 0) + coalesce((r.result->>'rows_held')::bigint, 0) AS rows,
                   (SELECT coalesce(sum((f->>'size')::bigint), 0) FROM dsr.request_tasks t, jsonb_array_elements(coalesce(t.files, '[]')) f
                     WHERE t.request_id = $1)::int8 AS bytes,
                   coalesce((r.result->>'export_size')::bigint, 0) AS zip_bytes
              FROM dsr.requests r WHERE r.id = $1
            """, [id])[0]
        return Timing(
            seconds: try row.decode("seconds", as: Double.self), requestSeconds: try row.decode("request_seconds", as: Double?.self) ?? 0,
            orderStoreSeconds: try row.decode("order_seconds", as: Double?.self) ?? 0,
            finalizeSeconds: try row.decode("finalize_seconds", as: Double?.self) ?? 0,
            rows: try row.decode("rows", as: Int.self), bytes: try row.decode("bytes", as: Int.self),
            zipBytes: try row.decode("zip_bytes", as: Int.self), peak: 0)
    }

    /// The same order-store rows the export reads, copied out by psql (server time per
    /// statement from `\timing`, so the ceiling is as strict as it gets).
    func copy() throws -> (rows: Int, seconds: Double) {
        // The same shape as dsrd's statements (parent keys collected once, the child's index
        // probed with them), so the ceiling is the best plan, not a hash join over a table.
        let orders = "SELECT id FROM orders WHERE customer_id = '\(customerID)'"
        let statements =
            ["SELECT * FROM orders WHERE customer_id = '\(customerID)' ORDER BY id"]
            + ["order_items", "payments", "invoices", "shipments"].map {
                "SELECT * FROM \($0) WHERE order_id = ANY(ARRAY(\(orders))) ORDER BY id"
            }
        let script = (["\\timing on"] + statements.map { "\\copy (\($0)) TO '/dev/null'" }).joined(separator: "\n")
        let file = environment.work.appendingPathComponent("copy.sql")
        try script.write(to: file, atomically: true, encoding: .utf8)
        let output = try capture("psql -X -d dsr_order -f \(quoted(file.path))")
        var rows = 0
        var milliseconds = 0.0
        for line in output.split(separator: "\n") {
            if line.hasPrefix("COPY ") { rows += Int(line.dropFirst(5)) ?? 0 }
            if line.hasPrefix("Time: ") { milliseconds += Double(line.dropFirst(6).prefix { $0.isNumber || $0 == "." }) ?? 0 }
        }
        guard rows > 0, milliseconds > 0 else { throw BenchError("unexpected psql output:\n\(output)") }
        return (rows, milliseconds / 1000)
    }

    /// The person's access export: once from a daemon started for it (cold: it connects,
    /// reads the stores' catalogs), then `repetitions` times from one warm daemon, each
    /// followed by `\copy` of the same rows. The warm median is what is compared with
    /// `\copy`, whose `\timing` counts neither a connection nor a catalog read either.
    func runExport(repetitions: Int) async throws -> BenchReport.ExportRun {
        let cold = try await request("access")
        let warmUp = ExportBenchmark(environment: environment, orders: 10, name: "WARMUP")
        try await warmUp.addPerson()
        let connection = try await environment.connect()
        defer { Task { await connection.close() } }
        let (warm, warmPeak) = try await environment.whileDaemonsRun(1, environment.configArguments) { daemons in
            _ = try await warmUp.requestWarm("access", daemons: daemons, on: connection)
            var timings: [Timing] = []
            var copies: [(rows: Int, seconds: Double)] = []
            for _ in 0..<repetitions {
                timings.append(try await requestWarm("access", daemons: daemons, on: connection))
                copies.append(try copy())
            }
            return (timings, copies)
        }
        let (timings, copies) = warm
        let peak = max(cold.peak, warmPeak)
        let median = timings.sorted { $0.seconds < $1.seconds }[timings.count / 2]
        func middle(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let orderStore = middle(timings.map(\.orderStoreSeconds))
        let ceiling = copies.sorted { $0.seconds < $1.seconds }[copies.count / 2]
        let rate = Double(median.rows) / median.seconds
        let copyRate = Double(ceiling.rows) / ceiling.seconds
        return BenchReport.ExportRun(
            orders: orders, rows: median.rows, bytes: median.bytes, zipBytes: median.zipBytes, repetitions: repetitions,
            seconds: median.seconds.rounded(to: 3), rowsPerSecond: rate.rounded(),
            megabytesPerSecond: (Double(median.bytes) / 1_048_576 / median.seconds).rounded(to: 1),
            requestSeconds: middle(timings.map(\.requestSeconds)).rounded(to: 3), orderStoreSeconds: orderStore.rounded(to: 3),
            finalizeSeconds: middle(timings.map(\.finalizeSeconds)).rounded(to: 3), coldSeconds: cold.seconds.rounded(to: 3),
            coldOrderStoreSeconds: cold.orderStoreSeconds.rounded(to: 3), copyRows: ceiling.rows,
            copySeconds: ceiling.seconds.rounded(to: 3),
            copyRowsPerSecond: copyRate.rounded(), ratioToCopy: (rate / copyRate).rounded(to: 2),
            orderStoreRatioToCopy: (ceiling.seconds / orderStore).rounded(to: 2),
            peakRSSMebibytes: peak.rounded(to: 1))
    }

    func runErasure() async throws -> BenchReport.RequestRun {
        let timing = try await request("erasure")
        return BenchReport.RequestRun(
            kind: "erasure, 1 big", requests: 1, completed: 1, seconds: timing.seconds.rounded(to: 3),
            requestsPerSecond: (1 / timing.seconds).rounded(to: 1), rows: timing.rows,
            rowsPerSecond: (Double(timing.rows) / timing.seconds).rounded(), peakRSSMebibytes: timing.peak.rounded(to: 1))
    }
}
