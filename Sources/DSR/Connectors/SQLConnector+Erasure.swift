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
    /// With `dryRun` the transaction is rolled back: the returned counts are the plan. The
    /// statements are idempotent (hashes are not hashed twice; deleted rows stay deleted).
    public func erase(_ identity: IdentitySet, keys: ProofKeys, dryRun: Bool) async throws -> StoreErasure {
        let statements = try await statements()
        let plans = mapping.tables.reversed().map { erasurePlan(for: $0, identity: identity, keys: keys, statements: statements) }
        let entries = mapping.suppressionTable.isEmpty ? [] :
            identity.emails.sorted().map { (keys.identifierHash($0), "email") }
            + identity.phones.sorted().map { (keys.identifierHash($0), "phone") }
        let suppression = (hashes: entries.map(\.0), kinds: entries.map(\.1))
        let table = mapping.suppressionTable
        let store = mapping.name
        return try await run { connection in
            do {
                return try await connection.transaction { connection in
                    var tables: [StoreErasure.Table] = []
                    for plan in plans { tables.append(try plan.run(on: connection)) }
                    var entries = 0
                    if !suppression.hashes.isEmpty {
                        try connection.execute(
                            "INSERT INTO \(Self.quote(table)) (identifier_hash, kind) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
                            [suppression.hashes, suppression.kinds])
                        entries = suppression.hashes.count
                    }
                    let result = StoreErasure(store: store, tables: tables.sorted { $0.name < $1.name }, suppressionEntries: entries)
                    if dryRun { throw DryRun(result: result) }
                    return result
                }
            } catch let dryRun as DryRun {
                return dryRun.result
            }
        }
    }

    /// What is left of the person after erasure, per table: rows that still match, and of
    /// those the rows whose anonymised columns still hold values. Anonymised rows may keep
    /// a link to the person (their key, a parent's key); their personal columns may not.
    public func remainder(_ identity: IdentitySet) async throws -> [String: StoreErasure.Remainder] {
        let statements = try await statements()
        var remainders: [String: StoreErasure.Remainder] = [:]
        for table in mapping.tables {
            let (sql, parameters) = remainderStatement(table, identity: identity, statements: statements)
            let row = try await run { connection in try await connection.query(sql, parameters)[0] }
            remainders[table.name] = .init(
                matching: try row.decode("matching", as: Int.self), notAnonymised: try row.decode("not_anonymised", as: Int.self))
        }
        return remainders
    }

    func remainderStatement(_ table: TableMapping, identity: IdentitySet, statements: SQLStatements) -> (sql: String, parameters: [any PostgresEncodable]) {
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
            case "hash": return "(\(reference) IS NULL OR \(reference)::text ~ '^[0-9a-f]{64}$')"
            case "mask": return "(\(reference) IS NULL OR \(reference)::text LIKE '%***%')"
            default: return "\(reference) IS NULL"
            }
        }
        return tests.isEmpty ? "false" : tests.joined(separator: " AND ")
    }

    private struct DryRun: Error {
        let result: StoreErasure
    }

    /// The statements that erase one table.
    struct TableErasurePlan: Sendable {
        let table: TableMapping
        let kept: (sql: String, parameters: [any PostgresEncodable])?
        let held: (sql: String, parameters: [any PostgresEncodable])
        let rest: (sql: String, parameters: [any PostgresEncodable])
        let heldIsUpdate: Bool

        func run(on connection: isolated PostgresConnection) throws -> StoreErasure.Table {
            var heldEntries: [StoreErasure.Held] = []
            var heldUnchanged = 0
            var heldAnonymised = 0
            if let kept, let hold = table.hold {
                let count = try connection.query(kept.sql, kept.parameters)[0].decode("n", as: Int.self)
                if count > 0 { heldEntries.append(.init(rule: hold.keepRule, rows: count, until: nil, treatment: "kept")) }
                heldUnchanged += count
            }
            let treatment = heldIsUpdate ? "anonymised" : "kept"
            var byHold = 0
            var byReference = 0
            var latest: Date?
            for row in try connection.query(held.sql, held.parameters) {
                if try row.decode("by_hold", as: Bool.self) {
                    byHold += 1
                    if let from = try row.decode("from_at", as: Date?.self), latest.map({ from > $0 }) ?? true { latest = from }
                } else {
                    byReference += 1
                }
            }
            if byHold > 0, let hold = table.hold {
                let until = latest.flatMap { Calendar(identifier: .gregorian).date(byAdding: .year, value: hold.years, to: $0) }
                heldEntries.append(.init(rule: hold.rule, rows: byHold, until: until.map(Self.isoDate), treatment: treatment))
            }
            if byReference > 0 {
                heldEntries.append(.init(
                    rule: "referenced by rows kept in other tables of this store", rows: byReference, until: nil, treatment: treatment))
            }
            if heldIsUpdate { heldAnonymised += byHold + byReference } else { heldUnchanged += byHold + byReference }
            let affected = table.rowStrategy == "keep"
                ? try connection.query(rest.sql, rest.parameters)[0].decode("n", as: Int.self)
                : try connection.execute(rest.sql, rest.parameters)
            if table.rowStrategy == "keep" && affected > 0 {
                heldEntries.append(.init(rule: "kept by the store mapping", rows: affected, until: nil, treatment: "kept"))
                heldUnchanged += affected
            }
            return StoreErasure.Table(
                name: table.name, strategy: table.rowStrategy, columns: table.columnStrategies,
                deleted: table.rowStrategy == "delete" ? affected : 0,
                anonymised: table.rowStrategy == "anonymise" ? affected : 0,
                heldAnonymised: heldAnonymised, heldUnchanged: heldUnchanged, held: heldEntries)
        }

        static func isoDate(_ date: Date) -> String { DateTexts.day(date) }
    }

    func erasurePlan(for table: TableMapping, identity: IdentitySet, keys: ProofKeys, statements: SQLStatements) -> TableErasurePlan {
        let name = Self.quote(table.name)
        let keep = table.hold?.keepIf.map { "coalesce(t0.\(Self.quote($0)), false)" } ?? "false"
        let hold = table.hold.map { "t0.\(Self.quote($0.from)) > now() - make_interval(years => \($0.years))" } ?? "false"
        let children = mapping.tables.filter { $0.parent?.table == table.name }
        let referenced = children.isEmpty ? "false" : children.map { child in
            "EXISTS (SELECT 1 FROM \(Self.quote(child.name)) AS c WHERE c.\(Self.quote(child.parent!.column)) = t0.\(Self.quote(child.parent!.references)))"
        }.joined(separator: " OR ")
        let fromColumn = table.hold.map { "t0.\(Self.quote($0.from))" } ?? "NULL::timestamptz"

        func assignments(_ binder: inout SQLStatements.Binder) -> String {
            let pads = keys.hmacPads
            return table.columnStrategies.sorted { $0.key < $1.key }.map { column, strategy in
                let reference = "t0.\(Self.quote(column))"
                let value: String
                switch strategy {
                case "hash":
                    let inner = binder.bind(pads.inner, as: "bytea")
                    let outer = binder.bind(pads.outer, as: "bytea")
                    // Already a 64-hex-digit hash: leave it, so a re-run does not hash twice.
                    value = "CASE WHEN \(reference) IS NULL OR \(reference)::text ~ '^[0-9a-f]{64}$' THEN \(reference) ELSE encode(sha256(\(outer) || sha256(\(inner) || convert_to(\(reference)::text, 'UTF8'))), 'hex') END"
                case "mask":
                    value = "CASE WHEN \(reference) IS NULL THEN NULL WHEN \(reference)::text LIKE '%@%' THEN left(\(reference)::text, 1) || '***@' || split_part(\(reference)::text, '@', 2) ELSE left(\(reference)::text, 1) || '***' END"
                default:
                    value = "NULL"
                }
                return "\(Self.quote(column)) = \(value)"
            }.joined(separator: ", ")
        }

        let kept = table.hold?.keepIf == nil ? nil : statements.statement(table, identity: identity) { match, _ in
            "SELECT count(*) AS n FROM \(name) AS t0 WHERE \(match) AND \(keep)"
        }
        let heldIsUpdate = !table.columnStrategies.isEmpty
        let held = statements.statement(table, identity: identity) { match, binder in
            let filter = "\(match) AND NOT \(keep) AND ((\(hold)) OR (\(referenced)))"
            let select = "(\(hold)) AS by_hold, \(fromColumn) AS from_at"
            return heldIsUpdate
                ? "UPDATE \(name) AS t0 SET \(assignments(&binder)) WHERE \(filter) RETURNING \(select)"
                : "SELECT \(select) FROM \(name) AS t0 WHERE \(filter)"
        }
        let rest = statements.statement(table, identity: identity) { match, binder in
            let filter = "\(match) AND NOT (\(keep) OR (\(hold)) OR (\(referenced)))"
            switch table.rowStrategy {
            case "delete": return "DELETE FROM \(name) AS t0 WHERE \(filter)"
            case "anonymise" where heldIsUpdate: return "UPDATE \(name) AS t0 SET \(assignments(&binder)) WHERE \(filter)"
            default: return "SELECT count(*) AS n FROM \(name) AS t0 WHERE \(filter)"
            }
        }
        return TableErasurePlan(table: table, kept: kept, held: held, rest: rest, heldIsUpdate: heldIsUpdate)
    }
}
