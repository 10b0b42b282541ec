import Foundation
import Logging
import Postgres

/// Keeps the policy's promise for minors: a customer under 20 (per date of birth) without a
/// parent's or guardian's consent on record has their data erased when found. Each round
/// asks every store with a `minor_check` and submits one erasure request per minor
/// (idempotency key `minor:<store>:<customer id>`, so a minor is queued once however often
/// the scan runs); each waits for the DPO's approval (`approvals.minors`) before any store is
/// touched, and the DPO gets the usual completion report. Records without a date of birth
/// are counted and reported to the DPO once a day instead of being skipped silently. Scheduled every
/// `minors.scan_interval`, only when a store has a `minor_check` and a signing key is set.
public struct MinorScanner: PeriodicWork {
    let scanners: [SQLConnector]

    public init(fanOut: FanOut) {
        scanners = fanOut.connectors.compactMap { $0 as? SQLConnector }.filter { $0.mapping.tables.contains { $0.minorCheck != nil } }
    }

    public var name: String { "minor scan" }
    public var hasWork: Bool { !scanners.isEmpty }

    public func run(on connection: PostgresConnection, logger: Logger) async throws {
        var queued = 0
        for scanner in scanners {
            for customerID in try await scanner.unconsentedMinors() {
                let key = "minor:\(scanner.mapping.name):\(customerID)"
                let existed = try await connection.query("SELECT 1 FROM dsr.requests WHERE idempotency_key = $1", [key]).count == 1
                if existed { continue }
                let subject = String(decoding: try JSONSerialization.data(withJSONObject: ["customer_id": customerID]), as: UTF8.self)
                let options = String(
                    decoding: try JSONSerialization.data(
                        withJSONObject: [
                            "idempotency_key": key,
                            "evidence": "dsrd minor scan: younger than the age of majority, no guardian consent on record",
                            // Not person-initiated: no code goes to the minor; the DPO
                            // approves the erasure first (approvals.minors).
                            "verification": [
                                "method": "system", "evidence": "created by dsrd's minors scan, not by a person", "operator": "dsrd",
                            ],
                        ], options: [.sortedKeys]), as: UTF8.self)
                try await connection.execute("SELECT dsr.submit('erasure', $1::jsonb, $2::jsonb)", [subject, options])
                queued += 1
            }
        }
        if queued > 0 { logger.notice("erasure queued for minors without guardian consent", metadata: ["dsr.count": "\(queued)"]) }
        // Records without a date of birth cannot be judged: the DPO hears of them once a day.
        for scanner in scanners {
            for (table, count) in try await scanner.recordsOfUnknownAge() {
                try await connection.execute(
                    """
                    SELECT dsr.notify_dpo('minors-unknown-age:' || $1 || ':' || $2 || ':' || to_char(now(), 'YYYY-MM-DD'), NULL,
                                          'dpo_minors_unknown_age', jsonb_build_object('store', $1::text, 'table', $2::text, 'count', $3::int))
                    """, [scanner.mapping.name, table, count])
            }
        }
    }
}
