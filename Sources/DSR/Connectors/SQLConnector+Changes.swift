import Foundation
import Postgres

extension SQLConnector {
    /// Applies a change to the person's rows, children before parents, in one transaction.
    /// Each statement skips rows already in the wanted state, so a re-run changes nothing.
    public func update(_ identity: IdentitySet, change: StoreChange) async throws -> StoreUpdate {
        var statements: [(table: String, action: String, column: String?, sql: String, parameters: [any PostgresEncodable], after: String?)] = []
        for table in mapping.tables.reversed() {
            let name = Self.quote(table.name)
            func build(_ body: (String, inout Binder) -> String) -> (String, [any PostgresEncodable]) {
                var binder = Binder()
                let match = condition(table, alias: "t0", identity: identity, binder: &binder, depth: 0)
                return (body(match, &binder), binder.parameters)
            }
            switch change {
            case .rectify(let changes):
                for (column, value) in changes.sorted(by: { $0.key < $1.key }) where table.rectify.contains(column) {
                    let key = Self.quote(table.key)
                    let quoted = Self.quote(column)
                    let (sql, parameters) = build { match, binder in
                        binder.parameters.append(value)
                        let bound = "$\(binder.parameters.count)::text"
                        return """
                            WITH old AS (SELECT t0.\(key) AS row_key, t0.\(quoted)::text AS before FROM \(name) AS t0 WHERE \(match) FOR UPDATE)
                            UPDATE \(name) AS t SET \(quoted) = \(bound) FROM old
                             WHERE t.\(key) = old.row_key AND t.\(quoted)::text IS DISTINCT FROM \(bound)
                            RETURNING encode(sha256(convert_to(coalesce(old.before, ''), 'UTF8')), 'hex') AS before_digest
                            """
                    }
                    statements.append((table.name, "rectified", column, sql, parameters, Digests.sha256Hex(Data(value.utf8))))
                }
            case .restrict(let lift):
                guard let flag = table.restrictFlag.map(Self.quote) else { continue }
                let (sql, parameters) = build { match, binder in
                    binder.parameters.append(!lift)
                    return "UPDATE \(name) AS t0 SET \(flag) = $\(binder.parameters.count)::boolean WHERE \(match) AND \(flag) IS DISTINCT FROM $\(binder.parameters.count)::boolean"
                }
                statements.append((table.name, lift ? "unrestricted" : "restricted", table.restrictFlag, sql, parameters, nil))
            case .object(let purposes):
                guard let target = table.onObjection, table.coversObjection(to: purposes) else { continue }
                let (sql, parameters) = build { match, binder in
                    var filter = match
                    if !purposes.isEmpty, let purpose = table.purposeColumn {
                        binder.parameters.append(purposes)
                        filter += " AND t0.\(Self.quote(purpose)) = ANY($\(binder.parameters.count)::text[])"
                    }
                    return target == "delete"
                        ? "DELETE FROM \(name) AS t0 WHERE \(filter)"
                        : "UPDATE \(name) AS t0 SET \(Self.quote(target)) = now() WHERE \(filter) AND t0.\(Self.quote(target)) IS NULL"
                }
                statements.append((table.name, target == "delete" ? "deleted" : "withdrawn", target == "delete" ? nil : target, sql, parameters, nil))
            }
        }
        let store = mapping.name
        let prepared = statements  // a constant copy for the Sendable closure
        return try await run { connection in
            try await connection.transaction { connection in
                var tables: [StoreUpdate.Table] = []
                for (table, action, column, sql, parameters, after) in prepared {
                    if action == "rectified" {
                        let digests = try connection.query(sql, parameters).map { try $0.decode("before_digest", as: String.self) }
                        tables.append(.init(name: table, action: action, column: column, rows: digests.count,
                                            beforeDigests: Array(Set(digests)).sorted(), afterDigest: after))
                    } else {
                        tables.append(.init(name: table, action: action, column: column, rows: try connection.execute(sql, parameters)))
                    }
                }
                return StoreUpdate(store: store, tables: tables)
            }
        }
    }
}
