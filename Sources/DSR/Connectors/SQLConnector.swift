import Foundation
import Postgres

/// A PostgreSQL store driven by its mapping: every statement is generated from the mapping's
/// identifiers (checked against `[a-z_][a-z0-9_]*` and quoted) and binds the person's
/// identifiers as parameters.
public struct SQLConnector: Connector {
    public let mapping: StoreMapping
    let pool: ConnectionPool

    public init(mapping: StoreMapping, maxConnections: Int = 4) {
        self.mapping = mapping
        self.pool = ConnectionPool(conninfo: mapping.url, maximum: maxConnections)
    }

    public func resolve(_ identity: IdentitySet) async throws -> Resolution {
        var found = IdentitySet()
        var matches = 0
        var conflicts: [String] = []
        for table in mapping.tables where table.authoritative {
            var binder = Binder()
            let columns = table.identity.sorted { $0.key.rawValue < $1.key.rawValue }
            // Personal details (names, date of birth, national id...) tell whether two matched
            // records are one person; compared trimmed and case-insensitively.
            let personal = table.categories.filter { $0.value == "personal" }.keys.sorted()
            let select = ([Self.quote(table.key) + "::text AS dsr_key"]
                + columns.map { "t0.\(Self.quote($0.value))::text AS \(Self.quote("dsr_" + $0.key.rawValue))" }
                + personal.enumerated().map { "lower(btrim(t0.\(Self.quote($0.element))::text)) AS dsr_p\($0.offset)" })
                .joined(separator: ", ")
            let sql = "SELECT \(select) FROM \(Self.quote(table.name)) AS t0 WHERE \(condition(table, alias: "t0", identity: identity, binder: &binder, depth: 0))"
            let parameters = binder.parameters
            let rows = try await run { connection in try await connection.query(sql, parameters) }
            var keys = Set<String>()
            var details = Array(repeating: Set<String>(), count: personal.count)
            for row in rows {
                keys.insert(try row.decode("dsr_key", as: String.self))
                for (kind, _) in columns {
                    if let value = try row.decode("dsr_" + kind.rawValue, as: String?.self) { found.add(value, as: kind) }
                }
                for index in personal.indices {
                    if let value = try row.decode("dsr_p\(index)", as: String?.self), !value.isEmpty { details[index].insert(value) }
                }
            }
            matches += keys.count
            conflicts += personal.indices.filter { details[$0].count > 1 }.map { "\(table.name).\(personal[$0])" }
        }
        return Resolution(identity: found, matches: matches, conflicts: conflicts)
    }

    public func discover(_ identity: IdentitySet) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for table in mapping.tables {
            var binder = Binder()
            let sql = "SELECT count(*) AS n FROM \(Self.quote(table.name)) AS t0 WHERE \(condition(table, alias: "t0", identity: identity, binder: &binder, depth: 0))"
            let parameters = binder.parameters
            counts[table.name] = try await run { connection in
                try await connection.query(sql, parameters)[0].decode("n", as: Int.self)
            }
        }
        return counts
    }

    public func export(_ identity: IdentitySet, into directory: URL, formats: ExportFormats) async throws -> [ExportedFile] {
        let statements = mapping.tables.map { table -> (String, String, [any PostgresEncodable]) in
            var binder = Binder()
            let sql = "SELECT t0.* FROM \(Self.quote(table.name)) AS t0 WHERE \(condition(table, alias: "t0", identity: identity, binder: &binder, depth: 0)) ORDER BY t0.\(Self.quote(table.key))"
            return (table.name, sql, binder.parameters)
        }
        let store = mapping.name
        return try await run { connection in
            try await connection.transaction { connection in
                // One snapshot for the whole store, so related tables agree with each other.
                try connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                var files: [ExportedFile] = []
                for (table, sql, parameters) in statements {
                    let writer = try TableFileWriter(directory: directory, store: store, table: table, formats: formats)
                    var kinds: [TableFileWriter.FieldKind]?
                    try connection.stream(sql, parameters) { row in
                        let rowKinds = kinds ?? row.columnTypes.map(TableFileWriter.FieldKind.init(postgresType:))
                        kinds = rowKinds
                        try writer.write(columns: row.columns, kinds: rowKinds, row: row)
                    }
                    files += try writer.finish()
                }
                return files
            }
        }
    }

    /// Runs `body` on a pooled connection; connection failures become `unreachable`.
    func run<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await pool.withConnection(body)
        } catch let error as PostgresError where error.kind == .connection {
            throw ConnectorError.unreachable(store: mapping.name, reason: error.message)
        }
    }

    struct Binder {
        var parameters: [any PostgresEncodable] = []

        mutating func bind(_ values: Set<String>) -> String {
            parameters.append(values.sorted())
            return "$\(parameters.count)::text[]"
        }
    }

    /// The rows of `table` that belong to the person. Strong identifiers match directly; a
    /// phone only where the row has no strong identifier (or the person gave none); child
    /// tables through their parent.
    func condition(_ table: TableMapping, alias: String, identity: IdentitySet, binder: inout Binder, depth: Int) -> String {
        var clauses: [String] = []
        let strongColumns = table.identity.filter { $0.key.isStrong }.map { "\(alias).\(Self.quote($0.value))" }.sorted()
        for (kind, column) in table.identity.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let reference = "\(alias).\(Self.quote(column))"
            switch kind {
            case .email where !identity.emails.isEmpty:
                // Both forms of an internationalised domain: stores may hold either.
                let emails = Set(identity.emails.flatMap(IdentifierNormalizer.emailVariants))
                clauses.append("\(Self.lookupExpression(kind, column: reference)) = ANY(\(binder.bind(emails)))")
            case .customerID where !identity.customerIDs.isEmpty:
                clauses.append("\(Self.lookupExpression(kind, column: reference)) = ANY(\(binder.bind(identity.customerIDs)))")
            case .nationalID where !identity.nationalIDs.isEmpty:
                clauses.append("\(Self.lookupExpression(kind, column: reference)) = ANY(\(binder.bind(identity.nationalIDs)))")
            case .phone where !identity.phones.isEmpty:
                let match = "\(Self.lookupExpression(kind, column: reference)) = ANY(\(binder.bind(identity.phones)))"
                if identity.hasStrongIdentifier && !strongColumns.isEmpty {
                    clauses.append("(\(match) AND " + strongColumns.map { "\($0) IS NULL" }.joined(separator: " AND ") + ")")
                } else {
                    clauses.append(match)
                }
            default:
                break
            }
        }
        if let relation = table.parent, let parent = mapping.tables.first(where: { $0.name == relation.table }) {
            let parentAlias = "p\(depth)"
            let inner = condition(parent, alias: parentAlias, identity: identity, binder: &binder, depth: depth + 1)
            clauses.append(
                "\(alias).\(Self.quote(relation.column)) IN (SELECT \(parentAlias).\(Self.quote(relation.references)) FROM \(Self.quote(parent.name)) AS \(parentAlias) WHERE \(inner))")
        }
        return clauses.isEmpty ? "false" : "(" + clauses.joined(separator: " OR ") + ")"
    }

    /// The store-side twin of `dsr.normalize_phone` (digits normalised first, the same
    /// 40-character limit), applied to a column. Built from immutable functions only (no
    /// subquery, nothing from the dsr schema: it runs in the store's database), so a store
    /// can index exactly this expression: see ``lookupIndexes(for:)``.
    static func phoneExpression(_ column: String) -> String {
        // Thai (๐-๙) and fullwidth (０-９) digits as ASCII, as dsr.normalize_digits does.
        let digits = "translate(\(column)::text, '๐๑๒๓๔๕๖๗๘๙０１２３４５６７８９', '01234567890123456789')"
        let n = "regexp_replace(\(digits), '[ \\t().-]', '', 'g')"
        return """
            (CASE WHEN length(\(column)::text) > 40 THEN NULL \
            WHEN \(n) ~ '^\\+660?[1-9][0-9]{7,8}$' THEN '+66' || regexp_replace(substr(\(n), 4), '^0', '') \
            WHEN \(n) ~ '^660?[1-9][0-9]{7,8}$' THEN '+66' || regexp_replace(substr(\(n), 3), '^0', '') \
            WHEN \(n) ~ '^0[1-9][0-9]{7,8}$' THEN '+66' || substr(\(n), 2) \
            WHEN \(n) ~ '^\\+[1-9][0-9]{6,14}$' AND \(n) !~ '^\\+66' THEN \(n) END)
            """
    }

    /// The expression each kind of identifier is matched on.
    static func lookupExpression(_ kind: IdentityKind, column: String) -> String {
        switch kind {
        case .email: "lower(btrim(\(column)::text))"
        case .customerID: "\(column)::text"
        case .nationalID:
            "regexp_replace(translate(\(column)::text, '๐๑๒๓๔๕๖๗๘๙０１２３４５６７８９', '01234567890123456789'), '[ -]', '', 'g')"
        case .phone: phoneExpression(column)
        }
    }

    /// `CREATE INDEX` statements that serve every lookup this mapping makes: one per identity
    /// column on exactly the expression it is matched on, and one per parent column. Without
    /// them each lookup is a sequential scan (one OR-arm that no index serves is enough).
    /// `dsrd indexes` prints them for a DBA; `dsrd demo` creates them in the demo stores.
    public static func lookupIndexes(for mapping: StoreMapping) -> [String] {
        var statements: [String] = []
        for table in mapping.tables {
            // The key already has its primary-key index.
            for (kind, column) in table.identity.sorted(by: { $0.key.rawValue < $1.key.rawValue })
            where !(kind == .customerID && column == table.key) {
                statements.append(
                    "CREATE INDEX IF NOT EXISTS \(quote("dsrd_\(table.name)_\(column)")) ON \(quote(table.name)) ((\(lookupExpression(kind, column: quote(column)))));")
            }
            if let parent = table.parent {
                statements.append(
                    "CREATE INDEX IF NOT EXISTS \(quote("dsrd_\(table.name)_\(parent.column)")) ON \(quote(table.name)) (\(quote(parent.column)));")
            }
        }
        return statements
    }

    static func quote(_ identifier: String) -> String { "\"" + identifier + "\"" }
}
