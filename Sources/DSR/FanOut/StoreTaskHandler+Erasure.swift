import Foundation
import Postgres

extension StoreTaskHandler {
    /// One store's erasure. The plan is measured by a rolled-back dry run and recorded
    /// before the store is touched; the real erasure follows, then a fresh discovery checks
    /// that nothing but rows on hold still matches the person. A crash anywhere repeats the
    /// erasure (idempotent) and proves the recorded plan, so the proof does not depend on
    /// how often the task ran.
    func erase(requestID: UUID, store: String, identity: IdentitySet, connector: any Connector) async throws
        -> JobResult
    {
        let keys = try fanOut.requireProofKeys()
        var plan = try await recordedPlan(requestID: requestID, store: store)
        if plan == nil {
            let measured = try await connector.erase(identity, keys: keys, dryRun: true)
            let json = String(decoding: try Self.encoder.encode(measured), as: UTF8.self)
            _ = try await fanOut.pool.withConnection { connection in
                try await connection.execute(
                    "UPDATE dsr.request_tasks SET plan = $3::jsonb WHERE request_id = $1 AND store = $2 AND plan IS NULL",
                    [requestID, store, json])
            }
            plan = try await recordedPlan(requestID: requestID, store: store)
            Failpoints.hit("erase.after_plan_recorded")
        }
        guard let plan else { throw JobFailure.permanent("erasure plan for store \(store) could not be recorded") }
        _ = try await connector.erase(identity, keys: keys, dryRun: false)
        Failpoints.hit("erase.after_store_commit")
        let remainder = try await connector.remainder(identity)
        for table in plan.tables {
            let left = remainder[table.name] ?? .init(matching: 0, notAnonymised: 0)
            // Only rows kept whole by a rule may still hold the person's values; rows kept or
            // anonymised in place may still be found through a key of theirs.
            if left.notAnonymised > table.heldUnchanged {
                throw ConnectorError.invalidResponse(
                    store: store,
                    reason: "after erasure \(left.notAnonymised) rows of \(table.name) still hold the person's data, \(table.heldUnchanged) of them kept unchanged by a rule")
            }
            if left.matching > table.anonymised + table.kept {
                throw ConnectorError.invalidResponse(
                    store: store,
                    reason: "after erasure \(left.matching) rows of \(table.name) still match the person, \(table.anonymised + table.kept) of them anonymised or kept")
            }
        }
        Failpoints.hit("erase.after_discovery")
        let rows = plan.tables.reduce(0) { $0 + $1.erased }
        let outcome = String(decoding: try Self.encoder.encode(ErasureOutcome(
            rows: rows, discovery: remainder.mapValues(\.matching), notAnonymised: remainder.mapValues(\.notAnonymised))), as: UTF8.self)
        return JobResult(effects: [SQLStatement("SELECT dsr.finish_task($1, $2, $3::jsonb)", [requestID, store, outcome])])
    }

    struct ErasureOutcome: Codable {
        let rows: Int
        let discovery: [String: Int]
        /// Absent in outcomes recorded before the check counted anonymised rows apart.
        let notAnonymised: [String: Int]?

        enum CodingKeys: String, CodingKey {
            case rows, discovery
            case notAnonymised = "not_anonymised"
        }
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }

    private func recordedPlan(requestID: UUID, store: String) async throws -> StoreErasure? {
        let text = try await fanOut.pool.withConnection { connection in
            try await connection.query(
                "SELECT plan::text AS plan FROM dsr.request_tasks WHERE request_id = $1 AND store = $2", [requestID, store]
            ).first?.decode("plan", as: String?.self)
        }
        return try text.map { try JSONDecoder().decode(StoreErasure.self, from: Data($0.utf8)) }
    }
}
