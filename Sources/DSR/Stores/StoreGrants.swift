import Postgres

/// The privileges a store's dsrd user needs, read from its mapping alone: SELECT on every
/// mapped table; DELETE where rows are deleted (erasure `_row = "delete"`, objection
/// `delete`); UPDATE on exactly the columns dsrd writes (erasure strategies, the restriction
/// flag, rectifiable columns, the objection column); INSERT and SELECT on the suppression
/// table (SELECT so a retried erasure adds no hash twice where the table has no unique key).
/// `dsrd grants` prints them as GRANT statements; `dsrd check` compares them with what the
/// connected user holds.
public struct StoreGrants: Sendable, Equatable {
    public struct Table: Sendable, Equatable {
        public var name: String
        public var select = false
        public var insert = false
        public var delete = false
        public var updateColumns: Set<String> = []
    }

    public var store: String
    public var tables: [Table]

    public init(_ mapping: StoreMapping) {
        store = mapping.name
        var tables: [Table] = []
        for table in mapping.tables {
            var needed = Table(name: table.name, select: true)
            needed.delete = table.rowStrategy == .delete || table.onObjection == "delete"
            needed.updateColumns.formUnion(table.columnStrategies.keys)
            needed.updateColumns.formUnion(table.rectify)
            if let flag = table.restrictFlag { needed.updateColumns.insert(flag) }
            if let column = table.onObjection, column != "delete" { needed.updateColumns.insert(column) }
            tables.append(needed)
        }
        if !mapping.suppressionTable.isEmpty {
            if let index = tables.firstIndex(where: { $0.name == mapping.suppressionTable }) {
                tables[index].insert = true
            } else {
                tables.append(Table(name: mapping.suppressionTable, select: true, insert: true))
            }
        }
        self.tables = tables
    }

    /// The GRANT statements for `role`, one privilege kind per statement. With the store's
    /// catalog, tables are named with their schema and each schema other than `public` gets
    /// `GRANT USAGE`, so the output runs as it is in psql; without it, names are as mapped.
    public func statements(role: String, schema: StoreSchema? = nil) -> [String] {
        let grantee = SQLStatements.quote(role)
        func name(_ table: String) -> String { schema?.tables[table]?.qualifiedName ?? SQLStatements.quote(table) }
        var lines: [String] = []
        let schemas = Set(tables.compactMap { schema?.tables[$0.name]?.schemaName }).subtracting(["public"]).sorted()
        for used in schemas { lines.append("GRANT USAGE ON SCHEMA \(SQLStatements.quote(used)) TO \(grantee);") }
        let selected = tables.filter(\.select).map { name($0.name) }
        if !selected.isEmpty { lines.append("GRANT SELECT ON \(selected.joined(separator: ", ")) TO \(grantee);") }
        let deleted = tables.filter(\.delete).map { name($0.name) }
        if !deleted.isEmpty { lines.append("GRANT DELETE ON \(deleted.joined(separator: ", ")) TO \(grantee);") }
        for table in tables where !table.updateColumns.isEmpty {
            let columns = table.updateColumns.sorted().map(SQLStatements.quote).joined(separator: ", ")
            lines.append("GRANT UPDATE (\(columns)) ON \(name(table.name)) TO \(grantee);")
        }
        for table in tables where table.insert { lines.append("GRANT INSERT ON \(name(table.name)) TO \(grantee);") }
        lines += referencingGrants(to: grantee, schema: schema, usable: Set(schemas).union(["public"]))
        return lines
    }

    /// Tables outside the mapping whose foreign keys point at rows dsrd deletes: an erasure
    /// reads their referencing columns to know which rows are still referenced (without that,
    /// every row they could point at is kept). SELECT on just those columns, and USAGE on
    /// their schemas (those not in `usable` already). Only the catalog knows them.
    func referencingGrants(to grantee: String, schema: StoreSchema?, usable: Set<String>) -> [String] {
        guard let schema else { return [] }
        let mapped = Set(tables.map(\.name))
        var columns: [String: Set<String>] = [:]
        var schemas: Set<String> = []
        for table in tables where table.delete {
            for reference in schema.tables[table.name]?.referencedBy ?? [] where !mapped.contains(reference.referencingName) {
                columns[reference.qualifiedName, default: []].formUnion(reference.columns)
                schemas.insert(reference.schemaName)
            }
        }
        return schemas.subtracting(usable).sorted().map { "GRANT USAGE ON SCHEMA \(SQLStatements.quote($0)) TO \(grantee);" }
            + columns.keys.sorted().map { table in
                "GRANT SELECT (\(columns[table, default: []].sorted().map(SQLStatements.quote).joined(separator: ", "))) ON \(table) TO \(grantee);"
            }
    }
}

extension SQLConnector {
    /// What the connected user holds against what ``StoreGrants`` says it needs: a missing
    /// privilege is an error (the request would fail at that step); a superuser, or a
    /// privilege no statement of dsrd's uses (DELETE, TRUNCATE, UPDATE of other columns), a
    /// warning.
    func privilegeFindings() async throws -> [StoreCheckReport.Finding] {
        let needed = StoreGrants(mapping)
        return try await run { connection in
            var findings: [StoreCheckReport.Finding] = []
            let superuser =
                try await connection.query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                .first.map { try $0.decode("rolsuper", as: Bool.self) } ?? false
            if superuser {
                findings.append(
                    .init(
                        severity: .warning, table: nil,
                        message: "connected as a superuser: give dsrd a role with only the GRANTs `dsrd grants` prints"))
                return findings
            }
            for table in needed.tables {
                let held = try await connection.query(
                    """
                    SELECT has_table_privilege(current_user, $1::regclass, 'SELECT') AS s,
                           has_table_privilege(current_user, $1::regclass, 'INSERT') AS i,
                           has_table_privilege(current_user, $1::regclass, 'DELETE') AS d,
                           has_table_privilege(current_user, $1::regclass, 'TRUNCATE') AS t,
                           (SELECT coalesce(string_agg(a.attname::text, chr(31)), '') FROM pg_attribute AS a
                             WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
                               AND has_column_privilege(current_user, $1::regclass, a.attnum, 'UPDATE')) AS u
                    """, [SQLStatements.quote(table.name)])[0]
                func missing(_ what: String) {
                    findings.append(.init(severity: .error, table: table.name, message: "\(what) is not granted"))
                }
                func excess(_ what: String) {
                    findings.append(
                        .init(
                            severity: .warning, table: table.name,
                            message: "\(what) is granted but dsrd never uses it (unless a trigger on a table dsrd changes needs it)"))
                }
                let select = try held.decode("s", as: Bool.self)
                let insert = try held.decode("i", as: Bool.self)
                let delete = try held.decode("d", as: Bool.self)
                let updatable = Set(try held.decode("u", as: String.self).split(separator: "\u{1F}").map(String.init))
                if table.select && !select { missing("SELECT") }
                if table.insert && !insert { missing("INSERT") }
                if !table.insert && insert { excess("INSERT") }
                if table.delete && !delete { missing("DELETE") }
                if !table.delete && delete { excess("DELETE") }
                if try held.decode("t", as: Bool.self) { excess("TRUNCATE") }
                let notUpdatable = table.updateColumns.subtracting(updatable)
                if !notUpdatable.isEmpty { missing("UPDATE of \(notUpdatable.sorted().joined(separator: ", "))") }
                let extra = updatable.subtracting(table.updateColumns)
                if !extra.isEmpty { excess("UPDATE of \(extra.sorted().joined(separator: ", "))") }
            }
            return findings
        }
    }
}
