extension SQLConnector {
    /// What points at `table`'s rows: the mapping's `parent` relations and every foreign key
    /// the store's catalog knows, from mapped tables and from tables the mapping leaves out.
    /// A row one of them still references after the erasure of the tables before it is kept
    /// (anonymised where the table has column strategies), never deleted: the store would
    /// refuse the deletion (23503), and the erasure would fail for days.
    static func references(to table: TableMapping, in mapping: StoreMapping, schema: StoreSchema) -> [StoreSchema.Reference] {
        var references = mapping.tables.compactMap { child -> StoreSchema.Reference? in
            guard let relation = child.parent, relation.table == table.name else { return nil }
            return .init(
                referencingTable: quote(child.name), referencingName: child.name, columns: [relation.column],
                referencedColumns: [relation.references])
        }
        for key in schema.tables[table.name]?.referencedBy ?? []
        where !references.contains(where: { $0.referencingName == key.referencingName && $0.columns == key.columns }) {
            references.append(key)
        }
        return references
    }

    /// `SELECT 1` from the rows of `reference`'s table (alias `c`) that point at the row `t0`;
    /// a bare `SELECT 1` (every row referenced, so kept) when dsrd's role cannot read that
    /// table: guessing wrong would fail the deletion (23503) on every retry.
    static func referencingRows(_ reference: StoreSchema.Reference) -> String {
        guard reference.readable else { return "SELECT 1" }
        let join = zip(reference.columns, reference.referencedColumns).map { "c.\(quote($0.0)) = t0.\(quote($0.1))" }
        return "SELECT 1 FROM \(reference.referencingTable) AS c WHERE \(join.joined(separator: " AND "))"
    }

    /// The order tables are erased in: a table that points at another (a mapped `parent`, or
    /// a foreign key in the catalog) before the table it points at, so its rows are gone, or
    /// known to be kept, when the other's are weighed. Otherwise the mapping's order,
    /// reversed (mappings list parents first); a cycle keeps that order.
    static func erasureOrder(_ tables: [TableMapping], schema: StoreSchema) -> [TableMapping] {
        let names = Set(tables.map(\.name))
        var pointsAt: [String: Set<String>] = [:]
        for table in tables {
            var targets = Set(schema.tables[table.name]?.foreignKeys.map(\.referencedTable) ?? [])
            if let parent = table.parent?.table { targets.insert(parent) }
            pointsAt[table.name] = targets.intersection(names).subtracting([table.name])
        }
        var remaining = Array(tables.reversed())
        var ordered: [TableMapping] = []
        while !remaining.isEmpty {
            // The first table no remaining table points at.
            let index =
                remaining.firstIndex { candidate in
                    !remaining.contains { pointsAt[$0.name, default: []].contains(candidate.name) }
                } ?? 0
            ordered.append(remaining.remove(at: index))
        }
        return ordered
    }
}
