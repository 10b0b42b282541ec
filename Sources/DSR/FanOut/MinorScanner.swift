import Foundation
import Logging
import Postgres
import ServiceLifecycle

/// Keeps the policy's promise for minors: a customer under 20 (per date of birth) without a
/// parent's or guardian's consent on record has their data erased when found. Every
/// `minors.scan_interval` it asks each store with a `minor_check` and submits one erasure
/// request per minor (idempotency key `minor:<store>:<customer id>`, so a minor is queued
/// once however often the scan runs); the DPO gets the usual completion report.
public struct MinorScanner: Service {
    let fanOut: FanOut
    let conninfo: String
    let interval: Duration
    let logger: Logger

    public init(fanOut: FanOut, conninfo: String, interval: Duration, logger: Logger) {
        self.fanOut = fanOut
        self.conninfo = conninfo
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        let scanners = fanOut.connectors.compactMap { $0 as? SQLConnector }
            .filter { $0.mapping.tables.contains { $0.minorCheck != nil } }
        guard !scanners.isEmpty, fanOut.proofKeys != nil else {
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            var link = DatabaseLink(conninfo: conninfo, logger: logger)
            while !Task.isCancelled {
                do {
                    let queued = try await scanOnce(scanners, link: &link)
                    if queued > 0 { logger.notice("erasure queued for minors without guardian consent", metadata: ["dsr.count": "\(queued)"]) }
                } catch is CancellationError {
                    break
                } catch {
                    logger.warning("minor scan failed", metadata: ["dsr.error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Submits erasure for every minor found; returns how many requests were new.
    func scanOnce(_ scanners: [SQLConnector], link: inout DatabaseLink) async throws -> Int {
        var queued = 0
        let connection = try await link.connection()
        for scanner in scanners {
            for customerID in try await scanner.unconsentedMinors() {
                let key = "minor:\(scanner.mapping.name):\(customerID)"
                let existed = try await connection.query("SELECT 1 FROM dsr.requests WHERE idempotency_key = $1", [key]).count == 1
                if existed { continue }
                let subject = String(decoding: try JSONSerialization.data(withJSONObject: ["customer_id": customerID]), as: UTF8.self)
                let options = String(decoding: try JSONSerialization.data(withJSONObject: [
                    "idempotency_key": key,
                    "evidence": "dsrd minor scan: younger than the age of majority, no guardian consent on record",
                ], options: [.sortedKeys]), as: UTF8.self)
                try await connection.execute("SELECT dsr.submit('erasure', $1::jsonb, $2::jsonb)", [subject, options])
                queued += 1
            }
        }
        link.succeeded()
        return queued
    }
}
