import Foundation
import Postgres
import Synchronization

extension StoreTaskHandler {
    /// One store's erasure, in one store transaction. What it does is recorded in
    /// `dsr.request_tasks.plan` before the store commits, so that a crash at any point repeats
    /// the erasure (idempotent) and proves the plan first recorded; the proof does not depend
    /// on how often the task ran. A fresh check afterwards makes sure nothing of the person
    /// is left but rows kept by a rule or anonymised in place. When that check fails, the
    /// erasure has committed: its plan moves to `committed_plans`, and the next attempt (after
    /// someone mended the mapping or the store, it may do something else) records its own.
    func erase(_ request: FanOut.RequestRow, store: String, identity: IdentitySet, connector: any Connector) async throws
        -> JobResult
    {
        let requestID = request.id
        let keys = try fanOut.requireProofKeys()
        let (earlier, committed) = try await recordedPlans(request, store: store)
        let encoder = Self.encoder
        let recorded = Mutex<StoreErasure?>(earlier)
        _ = try await WorkGate.around(requestID, pool: fanOut.pool) { gate in
            try await connector.erase(identity, keys: keys) { measured in
                if earlier == nil {  // an earlier attempt's plan stands
                    let json = String(decoding: try encoder.encode(measured), as: UTF8.self)
                    // The first plan recorded wins (an attempt that overlapped this one may have
                    // been first); committed before the store commits, outside the gate's lock.
                    let winner = try await gate.connection.query(
                        "UPDATE dsr.request_tasks SET plan = coalesce(plan, $3::jsonb) WHERE request_id = $1 AND store = $2 RETURNING plan::text AS plan",
                        [requestID, store, json]
                    ).first?.decode("plan", as: String?.self)
                    let plan = try StoreErasure.recorded(winner)
                    recorded.withLock { $0 = plan }
                    Failpoints.hit("erase.after_plan_recorded")
                }
                try await gate.admit()
            }
        }
        guard let plan = recorded.withLock({ $0 }) else {
            throw JobFailure.permanent("erasure plan for store \(store) could not be recorded")
        }
        Failpoints.hit("erase.after_store_commit")
        let remainder = try await connector.remainder(identity)
        if let failure = Self.leftover(remainder, after: plan) {
            try await setAside(plan, requestID: requestID, store: store)
            throw ConnectorError.invalidResponse(store: store, reason: failure)
        }
        Failpoints.hit("erase.after_discovery")
        // Rows an earlier committed attempt deleted are gone, and this plan could not count them.
        let rows = plan.tables.reduce(0) { $0 + $1.erased } + committed.reduce(0) { $0 + $1.deleted }
        let outcome = String(
            decoding: try Self.encoder.encode(
                ErasureOutcome(
                    rows: rows, discovery: remainder.mapValues(\.matching), notAnonymised: remainder.mapValues(\.notAnonymised))),
            as: UTF8.self)
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

    /// What the post-erasure check finds wrong, nil when nothing: only rows kept whole by a
    /// rule may still hold the person's values; rows kept or anonymised in place may still be
    /// found through a key of theirs.
    static func leftover(_ remainder: [String: StoreErasure.Remainder], after plan: StoreErasure) -> String? {
        for table in plan.tables {
            let left = remainder[table.name] ?? .init(matching: 0, notAnonymised: 0)
            if left.notAnonymised > table.heldUnchanged {
                return
                    "after erasure \(left.notAnonymised) rows of \(table.name) still hold the person's data, \(table.heldUnchanged) of them kept unchanged by a rule"
            }
            if left.matching > table.anonymised + table.kept {
                return
                    "after erasure \(left.matching) rows of \(table.name) still match the person, \(table.anonymised + table.kept) of them anonymised or kept"
            }
        }
        return nil
    }

    /// Moves a plan whose erasure committed and then failed its check to `committed_plans`,
    /// unless another attempt moved it first; a plan equal to the last one moved is not added
    /// again (an attempt that failed the same way did the same thing).
    private func setAside(_ plan: StoreErasure, requestID: UUID, store: String) async throws {
        let json = String(decoding: try Self.encoder.encode(plan), as: UTF8.self)
        try await fanOut.pool.withConnection { connection in
            _ = try await connection.execute(
                """
                UPDATE dsr.request_tasks
                   SET committed_plans = CASE WHEN committed_plans -> -1 = plan THEN committed_plans
                                              ELSE coalesce(committed_plans, '[]') || jsonb_build_array(plan) END,
                       plan = NULL
                 WHERE request_id = $1 AND store = $2 AND plan = $3::jsonb
                """, [requestID, store, json])
        }
    }

    /// The plan recorded for this store's erasure, and those of earlier attempts that
    /// committed: as the task's claim read them, or read now.
    private func recordedPlans(_ request: FanOut.RequestRow, store: String) async throws -> (StoreErasure?, [StoreErasure]) {
        var plans = request.claimedPlans
        if plans == nil {
            let row = try await fanOut.pool.withConnection { connection in
                try await connection.query(
                    "SELECT plan::text AS plan, committed_plans::text AS committed FROM dsr.request_tasks WHERE request_id = $1 AND store = $2",
                    [request.id, store]
                ).first
            }
            plans = (try row?.decode("plan", as: String?.self), try row?.decode("committed", as: String?.self))
        }
        return (try StoreErasure.recorded(plans?.plan), try StoreErasure.committed(plans?.committed))
    }
}
