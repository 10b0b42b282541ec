import Foundation
import Postgres

/// What restricting (or lifting) a person's data while a request is decided did, per store:
/// the rows of each table whose `restrict_flag` changed. No personal data.
struct RestrictionRecord: Codable {
    struct Store: Codable {
        var store: String
        var rows: Int
    }

    var stores: [Store]
    /// Set when the restriction was kept instead of lifted: why (`dsr.restriction_still_required`).
    var kept: String?

    init(_ updates: [StoreUpdate]) {
        stores = updates.map { update in Store(store: update.store, rows: update.tables.reduce(0) { $0 + $1.rows }) }
    }
}

extension FanOut {
    /// Sets (or, with `lift`, clears) the `restrict_flag` of the person's rows in every SQL
    /// store that has one, each store in one transaction (PDPA s.34: processing restricted while
    /// a rectification or objection is decided). Idempotent.
    func restrictions(_ identity: IdentitySet, lift: Bool) async throws -> [StoreUpdate] {
        var updates: [StoreUpdate] = []
        for connector in connectors
        where connector.mapping.kind == .postgres && connector.mapping.tables.contains(where: { $0.restrictFlag != nil }) {
            updates.append(try await connector.update(identity, change: .restrict(lift: lift)) {})
        }
        return updates
    }
}

extension FinalizeHandler {
    /// Lifts a restriction made while the request was decided, and records that it did.
    /// Used when the request completes (the change applied) and when it was refused or
    /// cancelled (`dsr.lift_restriction_after_decision` queues this step). A restriction that
    /// still stands is kept (`dsr.restriction_still_required`: the person asked for one, or
    /// another of their requests is being decided): no store is changed, and the record says why.
    func liftRestriction(_ request: FanOut.RequestRow) async throws -> SQLStatement {
        let kept = try await fanOut.pool.withConnection { connection in
            try await connection.query("SELECT dsr.restriction_still_required($1) AS why", [request.id])[0]
                .decode("why", as: String?.self)
        }
        var record = RestrictionRecord([])
        if let kept {
            record.kept = kept
        } else {
            record = RestrictionRecord(try await fanOut.restrictions(request.resolved ?? request.given, lift: true))
        }
        let detail = String(decoding: try JSONEncoder().encode(record), as: UTF8.self)
        return SQLStatement(
            """
            INSERT INTO dsr.request_events (request_id, step, detail)
            SELECT $1, 'restriction_lifted', $2::jsonb
             WHERE NOT EXISTS (SELECT 1 FROM dsr.request_events WHERE request_id = $1 AND step = 'restriction_lifted')
            """, [request.id, detail])
    }
}
