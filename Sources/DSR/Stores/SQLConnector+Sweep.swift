import Foundation
import Postgres

/// What a retention sweep did, or would do, in one store.
public struct StoreSweep: Codable, Sendable, Equatable {
    public struct Table: Codable, Sendable, Equatable {
        public var name: String
        /// Rows past the table's `expire` period: deleted, or anonymised where `_row = "anonymise"`.
        public var expired: Int
        /// Rows an erasure anonymised and kept for a hold or a reference that no longer
        /// applies (the hold ended, the referencing rows are gone): deleted.
        public var released: Int
        /// The retention applied, e.g. `expire 13 months from at`, and the holds that ended.
        public var rules: [String]

        public var rows: Int { expired + released }
    }

    public var store: String
    public var tables: [Table]
    public var rows: Int { tables.reduce(0) { $0 + $1.rows } }
}

extension SQLConnector {
    /// The retention sweep of this store as of `asOf`, in one transaction, children before
    /// parents; with `dryRun` everything is done and then rolled back, so the counts are
    /// exactly what a real sweep would change.
    ///
    /// For each table:
    /// - with `expire`: rows whose `expire.from` is older than `expire.after` are deleted
    ///   (`_row = "anonymise"`: their strategy columns are nulled or masked), unless
    ///   `hold.keep_if` holds, a hold still applies, or rows of another table still point at them;
    /// - with `_row = "delete"` and column strategies: rows an erasure anonymised and kept
    ///   (every strategy column NULL, hashed or masked, and a hashed or masked value in the
    ///   row or its parent row: a live row is never mistaken for one) are deleted once no hold
    ///   and no reference keeps them.
    ///
    /// A sweep that changed rows hands what it did to `record` before the store commits
    /// (the proof is durable first, as an erasure's plan is).
    public func sweep(asOf: Date, dryRun: Bool, record: @escaping @Sendable (StoreSweep) async throws -> Void = { _ in }) async throws
        -> StoreSweep
    {
        let store = mapping.name
        let schema = try await schema()
        let plans = Self.erasureOrder(mapping.tables, schema: schema).compactMap { sweepStatement(for: $0, schema: schema) }
        guard !plans.isEmpty else { return StoreSweep(store: store, tables: []) }
        do {
            return try await run { connection in
                try await connection.transaction(
                    .readWrite,
                    { sweep in
                        if dryRun { throw RolledBack(sweep: sweep) }
                        if sweep.rows > 0 { try await record(sweep) }
                    },
                    { connection in
                        var tables: [StoreSweep.Table] = []
                        for plan in plans {
                            let row = try connection.query(plan.sql, plan.after.map { [asOf, $0] } ?? [asOf])[0]
                            let table = StoreSweep.Table(
                                name: plan.table, expired: try row.decode("expired", as: Int.self),
                                released: try row.decode("released", as: Int.self), rules: plan.rules)
                            if table.rows > 0 { tables.append(table) }
                        }
                        return StoreSweep(store: store, tables: tables.sorted { $0.name < $1.name })
                    })
            }
        } catch let rolledBack as RolledBack {
            return rolledBack.sweep
        }
    }

    /// Tests that a row's hashed or masked columns hold a hash or a mask.
    /// Proof that a row of `table` (alias `t0`) was anonymised by an erasure, not merely
    /// empty: a hashed or masked value of its own, or a parent row with one (a payment of an
    /// erased order). Empty when the mapping leaves no such mark: the sweep then never
    /// releases the table's kept rows (`dsrd check` warns).
    static func erasureEvidence(_ table: TableMapping, in mapping: StoreMapping) -> [String] {
        var evidence = anonymisationEvidence(table, alias: "t0")
        if let relation = table.parent, let parent = mapping.tables.first(where: { $0.name == relation.table }) {
            let parentEvidence = anonymisationEvidence(parent, alias: "p")
            if !parentEvidence.isEmpty {
                evidence.append(
                    "EXISTS (SELECT 1 FROM \(quote(parent.name)) AS p WHERE p.\(quote(relation.references)) = t0.\(quote(relation.column)) AND (\(parentEvidence.joined(separator: " OR "))))"
                )
            }
        }
        return evidence
    }

    static func anonymisationEvidence(_ table: TableMapping, alias: String) -> [String] {
        table.columnStrategies.filter { $0.value == .hash || $0.value == .mask }.sorted { $0.key < $1.key }.map { column, strategy in
            let reference = "\(alias).\(quote(column))"
            return strategy == .hash ? "\(reference)::text ~ '^[0-9a-f]{64}$'" : "\(reference)::text LIKE '%***%'"
        }
    }

    struct RolledBack: Error {
        let sweep: StoreSweep
    }

    /// Whether a row of `t0` is still under `hold` as of `asOf` (an SQL timestamp): NULL where
    /// its date is not set, which both the erasure and the sweep take as no hold.
    static func underHold(_ hold: TableMapping.Hold, asOf: String) -> String {
        "t0.\(quote(hold.from)) > \(asOf) - make_interval(years => \(hold.years))"
    }

    /// The rule a sweep's released rows are deleted under, stated in its record: without it
    /// a sweep after a mapping changed from `anonymise` to `delete` deleted rows saying no rule.
    public static let releasedRule =
        "released: rows an erasure kept anonymised, which no hold, open dispute or referencing row keeps any more (_row = \"delete\")"

    struct SweepStatement {
        let table: String
        let sql: String
        /// `$2`: the table's `expire.after`, when it has one.
        let after: String?
        let rules: [String]
    }

    /// One table's sweep: a data-changing statement returning how many rows each rule took.
    /// `$1` is the time retention counts against, `$2` the expiry period. Nil when nothing can
    /// expire in the table.
    func sweepStatement(for table: TableMapping, schema: StoreSchema? = nil) -> SweepStatement? {
        let name = Self.quote(table.name)
        let strategies = table.columnStrategies
        let evidence = Self.erasureEvidence(table, in: mapping)
        let releases = table.rowStrategy == .delete && !strategies.isEmpty && !evidence.isEmpty
        guard table.expire != nil || releases else { return nil }
        var rules: [String] = []
        // Rows a hold still keeps, or a dispute, or rows of a child table still point at.
        var kept: [String] = []
        if let hold = table.hold {
            kept.append(Self.underHold(hold, asOf: "$1::timestamptz"))
            rules.append("hold ended: \(hold.rule)")
        }
        if let keepIf = table.hold?.keepIf { kept.append("coalesce(t0.\(Self.quote(keepIf)), false)") }
        // Mapped children, and any table whose foreign key points here (the schema, when known).
        for reference in Self.references(to: table, in: mapping, schema: schema ?? StoreSchema(tables: [:])) {
            kept.append("EXISTS (\(Self.referencingRows(reference)))")
        }
        let free = kept.isEmpty ? "true" : "NOT (" + kept.map { "coalesce(\($0), false)" }.joined(separator: " OR ") + ")"
        var expired = "false"
        if let expire = table.expire {
            expired = "t0.\(Self.quote(expire.from)) < $1::timestamptz - $2::interval"
            rules.insert("expire \(expire.after) from \(expire.from)", at: 0)
        }
        let released =
            releases ? "(\(Self.anonymisedForm(table, alias: "t0")) AND (\(evidence.joined(separator: " OR "))))" : "false"
        if releases {
            rules.append(Self.releasedRule)
        } else {
            rules.removeAll { $0.hasPrefix("hold ended") }
        }
        let sql: String
        if table.rowStrategy == .anonymise {
            // Expired rows are anonymised in place (null and mask only: no key in a sweep).
            let assignments = strategies.sorted { $0.key < $1.key }.map { column, strategy -> String in
                let reference = "t0.\(Self.quote(column))"
                return "\(Self.quote(column)) = \(strategy == .mask ? Self.masked(reference) : "NULL")"
            }.joined(separator: ", ")
            sql = """
                WITH changed AS (UPDATE \(name) AS t0 SET \(assignments)
                                  WHERE \(expired) AND \(free) AND NOT (\(Self.anonymisedForm(table, alias: "t0"))) RETURNING 1)
                SELECT count(*)::int AS expired, 0 AS released FROM changed
                """
        } else {
            sql = """
                WITH gone AS (DELETE FROM \(name) AS t0 WHERE $1::timestamptz IS NOT NULL AND ((\(expired)) OR \(released)) AND \(free)
                              RETURNING coalesce(\(expired), false) AS by_expiry)
                SELECT count(*) FILTER (WHERE by_expiry)::int AS expired, count(*) FILTER (WHERE NOT by_expiry)::int AS released FROM gone
                """
        }
        return SweepStatement(table: table.name, sql: sql, after: table.expire?.after, rules: rules)
    }
}
