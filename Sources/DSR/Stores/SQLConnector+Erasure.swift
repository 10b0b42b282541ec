import Foundation
import Postgres

extension SQLConnector {
    /// Erases the person in this store, in one transaction, children before parents:
    ///
    /// - rows kept untouched by `hold.keep_if` (an open dispute) are counted and left alone;
    /// - rows under a hold (`hold.from` younger than `hold.years`) and rows that kept rows
    ///   still reference are anonymised with the table's column strategies (or kept
    ///   unchanged when the table has none);
    /// - the rest follow `_row`: deleted, anonymised, or kept.
    ///
    /// Before the transaction commits, `record` is given what it did: the plan is made
    /// durable while nothing is yet, so a crash on either side of the commit proves the same
    /// thing. The statements are idempotent (hashes are not hashed twice; deleted rows stay
    /// deleted), so a re-run after a crash changes nothing more.
    public func erase(
        _ identity: IdentitySet, keys: ProofKeys, record: @Sendable (StoreErasure) async throws -> Void
    ) async throws -> StoreErasure {
        let statements = try await statements()
        if let problem = Self.unweighableReferences(mapping, schema: statements.schema) {
            throw ConnectorError.invalidResponse(store: mapping.name, reason: problem)
        }
        let hashInputs = hashInputsStatement(identity, statements: statements)
        let entries =
            mapping.suppressionTable.isEmpty
            ? []
            : identity.emails.sorted().map { (keys.identifierHash($0), "email") }
                + identity.phones.sorted().map { (keys.identifierHash($0), "phone") }
        let suppression = (hashes: entries.map(\.0), kinds: entries.map(\.1))
        let table = mapping.suppressionTable
        // Each hash once, also where the table has no unique key: with SELECT on it (which
        // `dsrd grants` prints), hashes already there are left out; without, as before.
        let onlyNew =
            statements.schema.tables[table]?.readable == true
            ? " WHERE NOT EXISTS (SELECT 1 FROM \(Self.quote(table)) AS e WHERE e.identifier_hash = s.h AND e.kind = s.k)" : ""
        let store = mapping.name
        return try await run { connection in
            try await connection.transaction(.readWrite, record) { connection in
                // The keyed hashes are computed here, in the daemon, from the values the
                // person's rows hold: the key never reaches the store (issue 15).
                var hashes = HashedValues()
                if let hashInputs {
                    let values = try connection.query(hashInputs.sql, hashInputs.parameters).map { try $0.decode("v", as: String.self) }
                    hashes = HashedValues(values: values, hashes: values.map(keys.identifierHash))
                }
                let plans = Self.erasureOrder(mapping.tables, schema: statements.schema).map {
                    erasurePlan(for: $0, identity: identity, hashes: hashes, statements: statements)
                }
                // The tables' statements (and the suppression list's insert) do not depend on
                // each other's results: they go to the store in one exchange, in order.
                var statements = plans.map { (sql: $0.sql, parameters: $0.parameters) }
                if !suppression.hashes.isEmpty {
                    statements.append(
                        (
                            "INSERT INTO \(Self.quote(table)) (identifier_hash, kind) SELECT s.h, s.k FROM unnest($1::text[], $2::text[]) AS s(h, k)\(onlyNew) ON CONFLICT DO NOTHING",
                            [suppression.hashes, suppression.kinds]
                        ))
                }
                let results = try connection.queryEach(statements)
                let tables = try zip(plans, results).map { plan, rows in try plan.measured(rows[0]) }
                return StoreErasure(
                    store: store, tables: tables.sorted { $0.name < $1.name }, suppressionEntries: suppression.hashes.count)
            }
        }
    }

    /// Why the erasure cannot say truthfully what it keeps, or nil: a table whose rows are
    /// deleted and that has no column strategies, pointed at by a table dsrd's role cannot
    /// read. Any of its rows may still be referenced, so each would be kept whole, and the
    /// person told it is kept because other records refer to it, which nobody knows. The
    /// erasure does not start (the task fails with this reason, the DPO hears of it) until
    /// the grants are made or the mapping anonymises such rows.
    static func unweighableReferences(_ mapping: StoreMapping, schema: StoreSchema) -> String? {
        for table in mapping.tables where keepsWholeWhatItCannotWeigh(table) {
            let unreadable = references(to: table, in: mapping, schema: schema).filter { !$0.readable }
            guard let first = unreadable.first else { continue }
            return
                "\(first.referencingTable) points at \(table.name) and dsrd's role cannot read it (USAGE on its schema, SELECT on \(first.columns.joined(separator: ", "))): any of the person's \(table.name) rows may still be referenced, and with no column strategies they would be kept whole; run what `dsrd grants --store \(mapping.name)` prints as the tables' owner and restart dsrd, or give \(table.name) column strategies"
        }
        return nil
    }

    /// Whether rows of `table` that something may still reference are kept unchanged: rows
    /// it would delete otherwise, with no column strategies to anonymise them.
    static func keepsWholeWhatItCannotWeigh(_ table: TableMapping) -> Bool {
        table.rowStrategy == .delete && table.columnStrategies.isEmpty
    }

    /// What is left of the person after erasure, per table: rows that still match, and of
    /// those the rows whose anonymised columns still hold values. Anonymised rows may keep
    /// a link to the person (their key, a parent's key); their personal columns may not.
    public func remainder(_ identity: IdentitySet) async throws -> [String: StoreErasure.Remainder] {
        let statements = try await statements()
        // One statement for the whole store: each table's counts, one row per table.
        var binder = SQLStatements.Binder()
        let parts = mapping.tables.map { table in
            let match = statements.condition(table, alias: "t0", identity: identity, binder: &binder)
            return
                "SELECT \(binder.bind(table.name, as: "text")) AS name, count(*) AS matching, count(*) FILTER (WHERE NOT (\(Self.anonymisedForm(table, alias: "t0")))) AS not_anonymised FROM \(Self.quote(table.name)) AS t0 WHERE \(match)"
        }
        let sql = parts.joined(separator: " UNION ALL ")
        let parameters = binder.parameters
        let rows = try await run { connection in try await connection.query(sql, parameters) }
        var remainders: [String: StoreErasure.Remainder] = [:]
        for row in rows {
            remainders[try row.decode("name", as: String.self)] = .init(
                matching: try row.decode("matching", as: Int.self), notAnonymised: try row.decode("not_anonymised", as: Int.self))
        }
        return remainders
    }

    func remainderStatement(_ table: TableMapping, identity: IdentitySet, statements: SQLStatements) -> (
        sql: String, parameters: [any PostgresEncodable]
    ) {
        statements.statement(table, identity: identity) { match, _ in
            "SELECT count(*) AS matching, count(*) FILTER (WHERE NOT (\(Self.anonymisedForm(table, alias: "t0")))) AS not_anonymised FROM \(Self.quote(table.name)) AS t0 WHERE \(match)"
        }
    }

    /// True for a row whose columns with an erasure strategy hold no value of the person's:
    /// NULL, a 64-hex-digit hash, or a mask. Vacuously false for a table with no strategies
    /// (its remaining rows are kept whole).
    static func anonymisedForm(_ table: TableMapping, alias: String) -> String {
        let tests = table.columnStrategies.sorted { $0.key < $1.key }.map { column, strategy -> String in
            let reference = "\(alias).\(quote(column))"
            switch strategy {
            case .hash: return "(\(reference) IS NULL OR \(reference)::text ~ '^[0-9a-f]{64}$')"
            case .mask: return "(\(reference) IS NULL OR \(reference)::text LIKE '%***%')"
            case .null, .keep: return "\(reference) IS NULL"
            }
        }
        return tests.isEmpty ? "false" : tests.joined(separator: " AND ")
    }

    /// A column's value masked: `s***@example.com` for an email, `0***` otherwise (NULL stays NULL).
    static func masked(_ reference: String) -> String {
        "CASE WHEN \(reference) IS NULL THEN NULL WHEN \(reference)::text LIKE '%@%' THEN left(\(reference)::text, 1) || '***@' || split_part(\(reference)::text, '@', 2) ELSE left(\(reference)::text, 1) || '***' END"
    }

    /// The statement that erases one table: held and remaining rows in data-changing CTEs
    /// over one snapshot (their filters are disjoint), with the counts the plan records.
    struct TableErasurePlan: Sendable {
        let table: TableMapping
        let sql: String
        let parameters: [any PostgresEncodable]
        let heldIsUpdate: Bool
        /// What points at this table's rows, in the order of the statement's `referrers`
        /// (the 1-based positions of those that kept rows here), as the held rule names them.
        var referrers: [Referrer] = []

        /// A table whose rows point at this one's, by `columns`; `mapped` unless the mapping
        /// leaves it out. Named as PostgreSQL names it when outside the mapping (with its
        /// schema when outside the `search_path`), as mapped otherwise.
        struct Referrer: Sendable, Equatable {
            var table: String
            var columns: [String]
            var mapped: Bool
        }

        /// What the table's statement did, from the row it returned.
        func measured(_ row: PostgresRow) throws -> StoreErasure.Table {
            let kept = try row.decode("kept", as: Int.self)
            let byHold = try row.decode("by_hold", as: Int.self)
            let byReference = try row.decode("by_reference", as: Int.self)
            let affected = try row.decode("rest", as: Int.self)
            var heldEntries: [StoreErasure.Held] = []
            if kept > 0, let hold = table.hold { heldEntries.append(.init(rule: hold.keepRule, rows: kept, until: nil, treatment: "kept")) }
            let treatment = heldIsUpdate ? "anonymised" : "kept"
            if byHold > 0, let hold = table.hold {
                let latest = try row.decode("latest", as: Date?.self)
                let until = latest.flatMap { Calendar(identifier: .gregorian).date(byAdding: .year, value: hold.years, to: $0) }
                heldEntries.append(.init(rule: hold.rule, rows: byHold, until: until.map(Self.isoDate), treatment: treatment))
            }
            if byReference > 0 {
                let positions = try row.decode("referrers", as: [Int].self)
                let found = positions.compactMap { referrers.indices.contains($0 - 1) ? referrers[$0 - 1] : nil }
                heldEntries.append(.init(rule: Self.referencedRule(found), rows: byReference, until: nil, treatment: treatment))
            }
            var heldUnchanged = kept + (heldIsUpdate ? 0 : byHold + byReference)
            if table.rowStrategy == .keep && affected > 0 {
                heldEntries.append(.init(rule: StoreErasure.Held.mappingRule, rows: affected, until: nil, treatment: "kept"))
                heldUnchanged += affected
            }
            return StoreErasure.Table(
                name: table.name, strategy: table.rowStrategy.rawValue, columns: table.columnStrategies.mapValues(\.rawValue),
                deleted: table.rowStrategy == .delete ? affected : 0,
                anonymised: table.rowStrategy == .anonymise ? affected : 0,
                heldAnonymised: heldIsUpdate ? byHold + byReference : 0, heldUnchanged: heldUnchanged, held: heldEntries)
        }

        static func isoDate(_ date: Date) -> String { DateTexts.day(date) }

        /// The held rule naming the tables whose kept rows point at the held ones (each with
        /// its referencing columns: `customers (referred_by)` for a table pointing at itself).
        static func referencedRule(_ found: [Referrer]) -> String {
            var tables: [String] = []
            var columns: [String: [String]] = [:]
            for referrer in found {
                if columns[referrer.table] == nil { tables.append(referrer.table) }
                for column in referrer.columns where !(columns[referrer.table] ?? []).contains(column) {
                    columns[referrer.table, default: []].append(column)
                }
            }
            let unmapped = tables.filter { table in !found.contains { $0.table == table && $0.mapped } }
            return StoreErasure.Held.referenced(
                by: tables.map { "\($0) (\(columns[$0, default: []].joined(separator: ", ")))" }, unmapped: unmapped)
        }
    }

    /// The values a `hash` column strategy will replace, paired with their keyed hashes.
    struct HashedValues: Sendable {
        var values: [String] = []
        var hashes: [String] = []
    }

    /// One statement reading every distinct value the person's rows hold in a column whose
    /// strategy is `hash` (not already a hash), so the daemon can compute the keyed hashes
    /// itself; nil when no table hashes a column. A value written between this read and the
    /// erasure (same transaction, a concurrent writer) finds no hash and becomes NULL.
    func hashInputsStatement(_ identity: IdentitySet, statements: SQLStatements) -> (sql: String, parameters: [any PostgresEncodable])? {
        var binder = SQLStatements.Binder()
        var parts: [String] = []
        for table in mapping.tables {
            let columns = table.columnStrategies.filter { $0.value == .hash }.keys.sorted()
            guard !columns.isEmpty else { continue }
            let match = statements.condition(table, alias: "t0", identity: identity, binder: &binder)
            for column in columns {
                parts.append("SELECT t0.\(Self.quote(column))::text AS v FROM \(Self.quote(table.name)) AS t0 WHERE \(match)")
            }
        }
        guard !parts.isEmpty else { return nil }
        return (
            "SELECT DISTINCT v FROM (\(parts.joined(separator: " UNION ALL "))) AS s WHERE v IS NOT NULL AND v !~ '^[0-9a-f]{64}$'",
            binder.parameters
        )
    }

    func erasurePlan(for table: TableMapping, identity: IdentitySet, hashes: HashedValues, statements: SQLStatements) -> TableErasurePlan {
        let name = Self.quote(table.name)
        let keep = table.hold?.keepIf.map { "coalesce(t0.\(Self.quote($0)), false)" } ?? "false"
        // A row whose date is not set (a subscription not yet ended) is under no hold, as in
        // the retention sweep; NULL would leave it neither held nor erased.
        let hold = table.hold.map { "coalesce(\(Self.underHold($0, asOf: "now()")), false)" } ?? "false"
        let references = Self.references(to: table, in: mapping, schema: statements.schema)
        // One EXISTS over all referencing tables, and OFFSET 0: both keep PostgreSQL from
        // turning the test into a hashed subplan, which reads every child table whole (60 ms
        // on the demo's 235,000 payments) instead of probing its index once per row to erase.
        let referenced =
            references.isEmpty
            ? "false"
            : "EXISTS (" + references.map(Self.referencingRows).joined(separator: " UNION ALL ") + " OFFSET 0)"
        let fromColumn = table.hold.map { "t0.\(Self.quote($0.from))::timestamptz" } ?? "NULL::timestamptz"
        let heldIsUpdate = !table.columnStrategies.isEmpty

        func assignments(_ binder: inout SQLStatements.Binder) -> String {
            var values: String?
            var digests: String?
            return table.columnStrategies.sorted { $0.key < $1.key }.map { column, strategy in
                let reference = "t0.\(Self.quote(column))"
                let value: String
                switch strategy {
                case .hash:
                    if values == nil {
                        values = binder.bind(hashes.values, as: "text[]")
                        digests = binder.bind(hashes.hashes, as: "text[]")
                    }
                    // Already a 64-hex-digit hash: leave it, so a re-run does not hash twice.
                    value =
                        "CASE WHEN \(reference) IS NULL OR \(reference)::text ~ '^[0-9a-f]{64}$' THEN \(reference) ELSE (SELECT m.h FROM unnest(\(values!), \(digests!)) AS m(v, h) WHERE m.v = \(reference)::text) END"
                case .mask:
                    value = Self.masked(reference)
                case .null, .keep:
                    value = "NULL"
                }
                return "\(Self.quote(column)) = \(value)"
            }.joined(separator: ", ")
        }

        let (sql, parameters) = statements.statement(table, identity: identity) { match, binder in
            let set = heldIsUpdate ? assignments(&binder) : ""
            let heldFilter = "\(match) AND NOT \(keep) AND ((\(hold)) OR (\(referenced)))"
            // Which references keep each held row, told apart only for the few held rows.
            let referrers =
                references.isEmpty
                ? "'{}'::bool[]" : "ARRAY[" + references.map { "EXISTS (\(Self.referencingRows($0)))" }.joined(separator: ", ") + "]"
            let heldReturns = "(\(hold)) AS by_hold, \(fromColumn) AS from_at, \(referrers) AS referrers"
            let held =
                heldIsUpdate
                ? "UPDATE \(name) AS t0 SET \(set) WHERE \(heldFilter) RETURNING \(heldReturns)"
                : "SELECT \(heldReturns) FROM \(name) AS t0 WHERE \(heldFilter)"
            let restFilter = "\(match) AND NOT (\(keep) OR (\(hold)) OR (\(referenced)))"
            let rest: String
            switch table.rowStrategy {
            case .delete: rest = "DELETE FROM \(name) AS t0 WHERE \(restFilter) RETURNING 1"
            case .anonymise where heldIsUpdate: rest = "UPDATE \(name) AS t0 SET \(set) WHERE \(restFilter) RETURNING 1"
            default: rest = "SELECT 1 FROM \(name) AS t0 WHERE \(restFilter)"
            }
            let kept = table.hold?.keepIf == nil ? "0::bigint" : "(SELECT count(*) FROM \(name) AS t0 WHERE \(match) AND \(keep))"
            return """
                WITH held AS (\(held)), rest AS (\(rest))
                SELECT \(kept) AS kept, (SELECT count(*) FROM held WHERE by_hold) AS by_hold,
                       (SELECT count(*) FROM held WHERE NOT by_hold) AS by_reference,
                       (SELECT max(from_at) FROM held WHERE by_hold) AS latest, (SELECT count(*) FROM rest) AS rest,
                       array(SELECT DISTINCT r.n::int FROM held, unnest(held.referrers) WITH ORDINALITY AS r(hit, n)
                              WHERE NOT held.by_hold AND r.hit ORDER BY 1) AS referrers
                """
        }
        return TableErasurePlan(
            table: table, sql: sql, parameters: parameters, heldIsUpdate: heldIsUpdate,
            referrers: references.map { reference in
                let mapped = mapping.lists(reference.referencingName)
                return .init(
                    table: mapped ? reference.referencingName : reference.referencingTable, columns: reference.columns, mapped: mapped)
            })
    }
}
