import Crypto
import Foundation
import Postgres

/// One way dsrd finds a person's rows in a table, and whether an index serves it.
public struct LookupIndex: Sendable, Equatable {
    public var table: String
    /// e.g. `email lookup lower(btrim(email))`, `parent orders.order_id`.
    public var lookup: String
    /// The index the planner would use; nil when none serves the lookup.
    public var servedBy: String?
    /// The `CREATE INDEX` that serves it (named after the table, column and expression).
    public var createIndex: String
    /// Whether the table is partitioned: PostgreSQL refuses CONCURRENTLY there.
    public var partitioned = false

    public var isServed: Bool { servedBy != nil }

    /// The name `createIndex` gives the index.
    public var indexName: String {
        createIndex.split(separator: " ").first { $0.hasPrefix("\"dsrd_") }.map(String.init) ?? ""
    }

    /// `createIndex`, CONCURRENTLY when asked, so that a busy table stays writable. On a
    /// partitioned table, which PostgreSQL never indexes CONCURRENTLY, the plain statement
    /// after a comment saying what it does.
    public func statement(concurrently: Bool) -> String {
        guard concurrently else { return createIndex }
        guard !partitioned else {
            return
                "-- \(table) is partitioned (no CONCURRENTLY there): this creates the index on every partition and blocks writes to \(table) until it is built; run it when the store is quiet\n"
                + createIndex
        }
        return createIndex.replacingOccurrences(of: "CREATE INDEX ", with: "CREATE INDEX CONCURRENTLY ")
    }
}

extension SQLConnector {
    /// Values of every identifier kind, shaped like real ones, for asking the planner how
    /// dsrd's statements would run (they match nobody: `.invalid` is a reserved domain).
    static var probeIdentity: IdentitySet {
        var identity = IdentitySet()
        identity.emails = ["dsrd-check@example.invalid"]
        identity.phones = ["+66800000000"]
        identity.customerIDs = ["0", "00000000-0000-0000-0000-000000000000"]
        identity.nationalIDs = ["1101700207030"]
        return identity
    }

    /// For every identifier column and parent link of every table: whether an index serves
    /// the lookup dsrd makes on it, and the index that would. Asked of the planner with
    /// sequential scans priced out, so an existing index of any name, shape (a primary key's
    /// leading column, a foreign key's index) or expression counts, and none is proposed twice.
    /// Planned generically, as an export plans them: a partial index (`WHERE email <> ''`)
    /// serves a lookup for a value the planner can see, not one it cannot, so it does not count.
    public func lookupIndexes(extraKinds: [IdentityKind] = []) async throws -> [LookupIndex] {
        let statements = try await statements()
        var identity = Self.probeIdentity
        for kind in extraKinds { identity[kind] = ["X0000000"] }
        var probes: [(LookupIndex, String, [any PostgresEncodable])] = []
        // The planner refuses a table the role may not read: those are left out (named by
        // `unreadableTables`), the others checked.
        let unreadable = Set(try await unreadableTables())
        for table in mapping.tables where !unreadable.contains(table.name) {
            guard let found = statements.table(table.name) else { continue }
            let name = Self.quote(table.name)
            // The index is printed for psql, whose search_path may not find the table.
            let qualified = found.qualifiedName
            for (kind, column) in table.identity.sorted(by: { $0.key < $1.key }) {
                var binder = SQLStatements.Binder()
                guard let arm = statements.lookup(kind, column: column, in: table, alias: "t0", identity: identity, binder: &binder) else {
                    continue
                }
                let indexed: String
                switch kind.format {
                case .exact:
                    let comparison = statements.table(table.name)?.column(column)?.exactComparison ?? .textCast
                    indexed = comparison == .textCast ? "(\(Self.quote(column))::text)" : Self.quote(column)
                default:
                    indexed = "(\(SQLStatements.lookupExpression(kind, column: Self.quote(column))))"
                }
                let lookup = LookupIndex(
                    table: table.name, lookup: "\(kind.rawValue) lookup on \(column)", servedBy: nil,
                    createIndex: "CREATE INDEX IF NOT EXISTS \(Self.indexName(table.name, column, indexed)) ON \(qualified) (\(indexed));",
                    partitioned: found.isPartitioned)
                probes.append((lookup, "SELECT 1 FROM \(name) AS t0 WHERE \(arm)", binder.parameters))
            }
            if let relation = table.parent, !unreadable.contains(relation.table) {
                let lookup = LookupIndex(
                    table: table.name, lookup: "parent \(relation.table).\(relation.references) through \(relation.column)", servedBy: nil,
                    createIndex:
                        "CREATE INDEX IF NOT EXISTS \(Self.indexName(table.name, relation.column, relation.column)) ON \(qualified) (\(Self.quote(relation.column)));",
                    partitioned: found.isPartitioned)
                // The parent's keys arrive at run time: the planner cannot fold them away.
                probes.append(
                    (
                        lookup,
                        "SELECT 1 FROM \(name) AS t0 WHERE t0.\(Self.quote(relation.column)) = ANY(ARRAY(SELECT p.\(Self.quote(relation.references)) FROM \(Self.quote(relation.table)) AS p LIMIT 0))",
                        []
                    ))
            }
        }
        let checked = probes
        // A partitioned table's rows are read in its partitions: each must be searched.
        let partitions = statements.schema.tables.mapValues(\.partitions)
        let schemas = statements.schema.tables.mapValues(\.schemaName)
        return try await run { connection in
            try await connection.transaction { connection in
                try connection.execute("SET LOCAL enable_seqscan = off")
                return try checked.map { lookup, sql, parameters in
                    var result = lookup
                    let plan = try Self.genericPlan(of: sql, parameterCount: parameters.count, on: connection)
                    let read = [lookup.table] + partitions[lookup.table, default: []]
                    guard read.contains(where: plan.fullScans.contains) else {
                        result.servedBy = plan.indexes.first
                        return result
                    }
                    // The index dsrd proposed, once made, serves it even where the planner
                    // reads so small a table whole for now (asked of the catalog as it is now).
                    let proposed = Self.quote(schemas[lookup.table] ?? "public") + "." + lookup.indexName
                    let made = try connection.query("SELECT to_regclass($1) IS NOT NULL AS made", [proposed])[0].decode(
                        "made", as: Bool.self)
                    result.servedBy = made ? Self.unquotedName(lookup.indexName) : nil
                    return result
                }
            }
        }
    }

    /// An index's name without its schema and quotes (`crm."dsrd_x_Email_1a2b3c4d"`).
    static func unquotedName(_ name: String) -> String {
        String(name.split(separator: ".").last ?? "").replacingOccurrences(of: "\"", with: "")
    }

    /// `dsrd_<table>_<column>_<8 hex digits of the expression>`: a changed expression gets a
    /// new name, so `IF NOT EXISTS` never keeps an index on an older expression.
    static func indexName(_ table: String, _ column: String, _ expression: String) -> String {
        let digest = Digests.hex(SHA256.hash(data: Data(expression.utf8)).prefix(4))
        return quote(String("dsrd_\(table)_\(column)".prefix(54)) + "_" + digest)
    }

    /// What the planner would do: the tables it reads from end to end (a sequential scan, or
    /// a walk through a whole index with the lookup as a mere filter, which is what it does
    /// with sequential scans priced out and no index that fits), and the indexes it searches.
    struct Plan {
        var fullScans: Set<String> = []
        var indexes: [String] = []
    }

    /// The plan a store connection keeps for a statement it prepared, under `plan_cache_mode =
    /// force_generic_plan` (PostgreSQL 15 has no `EXPLAIN (GENERIC_PLAN)`): the statement is
    /// prepared under a name of its own, explained with NULL for every parameter (a generic
    /// plan does not look at them), then dropped. Sets the mode for the rest of the transaction.
    static func genericPlan(of sql: String, parameterCount: Int, on connection: isolated PostgresConnection) throws -> Plan {
        let name = "dsrd_check_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
        try connection.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        try connection.execute("PREPARE \(name) AS \(sql)")
        defer { _ = try? connection.execute("DEALLOCATE \(name)") }
        let arguments = parameterCount == 0 ? "" : "(" + Array(repeating: "NULL", count: parameterCount).joined(separator: ", ") + ")"
        return try plan(ofJSON: connection.query("EXPLAIN (FORMAT JSON) EXECUTE \(name)\(arguments)")[0].decode(at: 0, as: String.self))
    }

    private static func plan(ofJSON text: String) throws -> Plan {
        var plan = Plan()
        func walk(_ node: Any) {
            if let object = node as? [String: Any] {
                let type = object["Node Type"] as? String ?? ""
                let relation = object["Relation Name"] as? String
                let searches = object["Index Cond"] != nil
                if let relation, type == "Seq Scan" || (["Index Scan", "Index Only Scan"].contains(type) && !searches) {
                    plan.fullScans.insert(relation)
                }
                if searches, let index = object["Index Name"] as? String { plan.indexes.append(index) }
                object.values.forEach(walk)
            } else if let array = node as? [Any] {
                array.forEach(walk)
            }
        }
        walk(try JSONSerialization.jsonObject(with: Data(text.utf8)))
        return plan
    }
}
