import Foundation
import Logging
import Postgres

/// Enforces the retention the mappings state (issue 16), and dsrd's own (`OwnDataPseudonymiser`):
/// each round sweeps every SQL store
/// (`SQLConnector.sweep`: rows past their table's `expire`, and what erasures kept for a hold
/// or a reference that no longer applies). A store sweep that changed rows is signed, chained
/// into the audit log and recorded in `dsr.sweeps` before the store commits; its proof is
/// written to `exports.directory/proofs/sweep-<id>.json`. Scheduled every
/// `retention.interval` when `retention.enabled`; `dsrd sweep` runs one round by hand, or a
/// dry run that changes nothing.
public struct RetentionSweeper: PeriodicWork {
    let fanOut: FanOut
    let stores: [SQLConnector]
    /// dsrd's own copies of identifiers, pseudonymised after `retention.own_data_after`.
    let ownData: OwnDataPseudonymiser?

    public init(fanOut: FanOut, ownDataAfter: Duration? = nil) {
        self.fanOut = fanOut
        if let keys = fanOut.proofKeys, let ownDataAfter {
            ownData = OwnDataPseudonymiser(keys: keys, after: ownDataAfter)
        } else {
            ownData = nil
        }
        stores = fanOut.connectors.compactMap { $0 as? SQLConnector }.filter { connector in
            connector.mapping.tables.contains { connector.sweepStatement(for: $0) != nil }
        }
    }

    public var name: String { "retention sweep" }
    public var hasWork: Bool { !stores.isEmpty || ownData != nil }

    public func run(on connection: PostgresConnection, logger: Logger) async throws {
        let swept = try await sweep(asOf: Date(), dryRun: false)
        for store in swept where store.sweep.rows > 0 {
            logger.notice(
                "retention sweep",
                metadata: [
                    "dsr.store": "\(store.sweep.store)", "dsr.rows": "\(store.sweep.rows)",
                    "dsr.sweep": "\(store.id?.uuidString.lowercased() ?? "-")",
                ])
        }
        if let ownData {
            let done = try await ownData.run(on: connection)
            if done.requests > 0 { logger.notice("requests pseudonymised", metadata: ["dsr.count": "\(done.requests)"]) }
            if done.breaches > 0 { logger.notice("breaches' people pseudonymised", metadata: ["dsr.count": "\(done.breaches)"]) }
        }
    }

    /// One store's sweep: what it did (or would do), and for a real one that changed rows,
    /// its id and proof file.
    public struct Swept: Sendable {
        public let sweep: StoreSweep
        public let id: UUID?
        public let proofPath: String?
    }

    /// Sweeps every store as of `asOf` (a later time shows what a future sweep will take).
    public func sweep(asOf: Date, dryRun: Bool) async throws -> [Swept] {
        let keys = dryRun ? nil : try fanOut.requireProofKeys()
        var swept: [Swept] = []
        for store in stores {
            let started = Date()
            let id = UUID()
            let signed = SignedBox()
            let result = try await store.sweep(asOf: asOf, dryRun: dryRun) { sweep in
                guard let keys else { return }
                let payload = SweepProofPayload(
                    sweepID: id.uuidString.lowercased(), dsrdVersion: DSRVersion.current, startedAt: DateTexts.iso(started),
                    asOf: DateTexts.iso(asOf), stores: [sweep])
                await signed.set(try await record(payload, rows: sweep.rows, keys: keys))
            }
            var path: String?
            if let data = await signed.data {
                try fanOut.prepareDirectories()
                let file = fanOut.proofDirectory.appendingPathComponent("sweep-\(id.uuidString.lowercased()).json")
                try data.write(to: file, options: .atomic)
                try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: file.path)
                path = file.path
            }
            swept.append(Swept(sweep: result, id: path == nil ? nil : id, proofPath: path))
        }
        return swept
    }

    /// Signs the proof and records it, with its audit entry, in one transaction of dsrd's database.
    func record(_ payload: SweepProofPayload, rows: Int, keys: ProofKeys) async throws -> Data {
        let unsigned = try DeletionProofFile.sign(payload, with: keys)
        let summary = try CanonicalJSON.string(payload)
        return try await fanOut.pool.withConnection { connection in
            try await connection.transaction { connection in
                try connection.execute(
                    """
                    INSERT INTO dsr.sweeps (id, started_at, as_of, rows, summary, proof, sha256, key_id)
                    VALUES ($1, $2::timestamptz, $3::timestamptz, $4, ($5::jsonb) -> 'stores', '', $6, $7)
                    """,
                    [
                        UUID(uuidString: payload.sweepID)!, payload.startedAt, payload.asOf, rows, summary, unsigned.payloadSHA256,
                        unsigned.keyID,
                    ])
                let entry = try connection.query(
                    "SELECT seq, prev_hash, entry_hash FROM dsr.append_sweep_audit($1, $2)",
                    [UUID(uuidString: payload.sweepID)!, unsigned.payloadSHA256])[0]
                var file = unsigned
                file.audit = .init(
                    seq: try entry.decode("seq", as: Int64.self), prevHash: try entry.decode("prev_hash", as: String.self),
                    entryHash: try entry.decode("entry_hash", as: String.self))
                let data = try file.encoded()
                try connection.execute(
                    "UPDATE dsr.sweeps SET proof = $2 WHERE id = $1",
                    [UUID(uuidString: payload.sweepID)!, String(decoding: data, as: UTF8.self)])
                return data
            }
        }
    }

    /// The signed proof, handed out of the store's commit hook.
    actor SignedBox {
        private(set) var data: Data?
        func set(_ data: Data) { self.data = data }
    }
}
