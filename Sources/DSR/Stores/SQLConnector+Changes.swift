import Foundation
import Postgres

extension SQLConnector {
    /// One statement of a change: the table it touches, what it does there, and for a
    /// rectification the digest of the corrected value.
    struct ChangeStatement: Sendable {
        var table: String
        var action: String
        var column: String?
        /// For a rectification, the field the person named (``StoreMapping/Table/rectifyField(_:)``).
        var field: String? = nil
        var sql: String
        var parameters: [any PostgresEncodable]
        var afterDigest: String?
    }

    /// Applies a change to the person's rows, children before parents, in one transaction.
    /// Each statement skips rows already in the wanted state, so a re-run changes nothing.
    public func update(_ identity: IdentitySet, change: StoreChange, beforeCommit: @Sendable () async throws -> Void) async throws
        -> StoreUpdate
    {
        let prepared = changeStatements(identity, change: change, statements: try await statements())
        let store = mapping.name
        return try await run { connection in
            try await connection.transaction(.readWrite, { _ in try await beforeCommit() }) { connection in
                var tables: [StoreUpdate.Table] = []
                for statement in prepared {
                    if statement.action == "rectified" {
                        // A corrected value another row already holds (a unique key) is not
                        // retried for days: that table is left as it was and the conflict is
                        // recorded, for the person's notice and the DPO.
                        try connection.execute("SAVEPOINT dsrd_rectify")
                        let row: PostgresRow
                        do {
                            row = try connection.query(statement.sql, statement.parameters)[0]
                            try connection.execute("RELEASE SAVEPOINT dsrd_rectify")
                        } catch let error as PostgresError where error.sqlState == "23505" {
                            try connection.execute("ROLLBACK TO SAVEPOINT dsrd_rectify")
                            tables.append(
                                .init(
                                    name: statement.table, action: "conflict", column: statement.column, rows: 0, field: statement.field))
                            continue
                        }
                        let digests = try row.decode("digests", as: String.self)
                        tables.append(
                            .init(
                                name: statement.table, action: statement.action, column: statement.column,
                                rows: try row.decode("changed", as: Int.self),
                                beforeDigests: digests.isEmpty ? [] : digests.split(separator: ",").map(String.init),
                                afterDigest: statement.afterDigest, field: statement.field, matched: try row.decode("matched", as: Int.self)
                            ))
                    } else {
                        tables.append(
                            .init(
                                name: statement.table, action: statement.action, column: statement.column,
                                rows: try connection.execute(statement.sql, statement.parameters)))
                    }
                }
                return StoreUpdate(store: store, tables: tables)
            }
        }
    }

    /// The statements of `change`, children before parents.
    func changeStatements(_ identity: IdentitySet, change: StoreChange, statements: SQLStatements) -> [ChangeStatement] {
        var prepared: [ChangeStatement] = []
        for table in mapping.tables.reversed() {
            let name = Self.quote(table.name)
            switch change {
            case .rectify(let changes):
                for (field, value) in changes.sorted(by: { $0.key < $1.key }) {
                    for column in table.rectifyColumns(for: field) {
                        let quoted = Self.quote(column)
                        // The corrected value in the column's own type (a date stays a date); the
                        // type's name comes from the store's catalog, never from the request.
                        let type = statements.table(table.name)?.column(column)?.type ?? "text"
                        let (sql, parameters) = statements.statement(table, identity: identity) { match, binder in
                            let bound = "CAST(\(binder.bind(value, as: "text")) AS \(type))"
                            // One row however many match: how many rows hold the field (so "already
                            // as asked" is told apart from "not held here") and the digests of the
                            // values replaced.
                            return """
                                WITH old AS (SELECT t0.ctid AS row_id, t0.\(quoted)::text AS before FROM \(name) AS t0 WHERE \(match) FOR UPDATE),
                                     changed AS (UPDATE \(name) AS t SET \(quoted) = \(bound) FROM old
                                                  WHERE t.ctid = old.row_id AND t.\(quoted) IS DISTINCT FROM \(bound)
                                              RETURNING encode(sha256(convert_to(coalesce(old.before, ''), 'UTF8')), 'hex') AS before_digest)
                                SELECT (SELECT count(*) FROM old) AS matched,
                                       (SELECT coalesce(string_agg(DISTINCT before_digest, ',' ORDER BY before_digest), '') FROM changed) AS digests,
                                       (SELECT count(*) FROM changed) AS changed
                                """
                        }
                        prepared.append(
                            .init(
                                table: table.name, action: "rectified", column: column, field: field, sql: sql, parameters: parameters,
                                afterDigest: Digests.sha256Hex(Data(value.utf8))))
                    }
                }
            case .restrict(let lift):
                guard let flag = table.restrictFlag.map(Self.quote) else { continue }
                let (sql, parameters) = statements.statement(table, identity: identity) { match, binder in
                    let wanted = binder.bind(!lift, as: "boolean")
                    return "UPDATE \(name) AS t0 SET \(flag) = \(wanted) WHERE \(match) AND \(flag) IS DISTINCT FROM \(wanted)"
                }
                prepared.append(
                    .init(
                        table: table.name, action: lift ? "unrestricted" : "restricted", column: table.restrictFlag, sql: sql,
                        parameters: parameters))
            case .object(let purposes):
                guard let target = table.onObjection, table.coversObjection(to: purposes) else { continue }
                let (sql, parameters) = statements.statement(table, identity: identity) { match, binder in
                    var filter = match
                    if !purposes.isEmpty, let purpose = table.purposeColumn {
                        filter += " AND t0.\(Self.quote(purpose))::text = ANY(\(binder.bind(Set(purposes))))"
                    }
                    return target == "delete"
                        ? "DELETE FROM \(name) AS t0 WHERE \(filter)"
                        : "UPDATE \(name) AS t0 SET \(Self.quote(target)) = now() WHERE \(filter) AND t0.\(Self.quote(target)) IS NULL"
                }
                prepared.append(
                    .init(
                        table: table.name, action: target == "delete" ? "deleted" : "withdrawn", column: target == "delete" ? nil : target,
                        sql: sql, parameters: parameters))
            }
        }
        return prepared
    }
}
