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
        /// For a rectification, the statement finding the person's rows in the table, run
        /// before its first field is corrected: every field then corrects those rows, even
        /// after an earlier field changed the identifier they were found by.
        var locate: (sql: String, parameters: [any PostgresEncodable])? = nil
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
                // The person's rows per table (row ids), found once, before any field changes.
                var rowsOf: [String: [String]] = [:]
                for statement in prepared {
                    if statement.action == "rectified" {
                        if rowsOf[statement.table] == nil, let locate = statement.locate {
                            rowsOf[statement.table] = try connection.query(locate.sql, locate.parameters).map {
                                try $0.decode("row_id", as: String.self)
                            }
                        }
                        let rows = rowsOf[statement.table] ?? []
                        // A row id is the partition's oid and the row's ctid (a ctid alone repeats
                        // across partitions), passed as two arrays.
                        let ids = rows.map { $0.split(separator: "/", maxSplits: 1).map(String.init) }
                        let partitions = "{" + ids.map { $0[0] }.joined(separator: ",") + "}"
                        let ctids = "{" + ids.map { "\"\($0[1])\"" }.joined(separator: ",") + "}"
                        // A corrected value the store refuses (another row already holds it under a
                        // unique key, or a constraint or type refuses it) is not retried for days:
                        // that table is left as it was and why is recorded, for the person's
                        // notice and the DPO.
                        try connection.execute("SAVEPOINT dsrd_rectify")
                        let row: PostgresRow
                        do {
                            row = try connection.query(statement.sql, statement.parameters + [partitions, ctids])[0]
                            try connection.execute("RELEASE SAVEPOINT dsrd_rectify")
                        } catch let error as PostgresError where Self.refusesValue(error) {
                            try connection.execute("ROLLBACK TO SAVEPOINT dsrd_rectify")
                            tables.append(
                                .init(
                                    name: statement.table, action: error.sqlState == "23505" ? "conflict" : "refused_value",
                                    column: statement.column, rows: 0, field: statement.field, matched: rows.count,
                                    refusal: error.sqlState == "23505"
                                        ? nil : ([error.sqlState] + [error.constraint]).compactMap { $0 }.joined(separator: " ")))
                            continue
                        }
                        // Rows the update rewrote have new row ids: later fields follow them.
                        for pair in try row.decode("moved", as: String.self).split(separator: ";") {
                            let ids = pair.split(separator: "=").map(String.init)
                            if ids.count == 2, let index = rowsOf[statement.table]?.firstIndex(of: ids[0]) {
                                rowsOf[statement.table]?[index] = ids[1]
                            }
                        }
                        let digests = try row.decode("digests", as: String.self)
                        let ambiguous = try row.decode("ambiguous", as: Bool.self)
                        tables.append(
                            .init(
                                name: statement.table, action: ambiguous ? "ambiguous" : statement.action, column: statement.column,
                                rows: try row.decode("changed", as: Int.self),
                                beforeDigests: digests.isEmpty ? [] : digests.split(separator: ",").map(String.init),
                                afterDigest: ambiguous ? nil : statement.afterDigest, field: statement.field,
                                matched: try row.decode("matched", as: Int.self)
                            ))
                    } else if statement.action == "not_restrictable" {
                        let rows = try connection.query(statement.sql, statement.parameters)[0].decode("n", as: Int.self)
                        tables.append(.init(name: statement.table, action: statement.action, column: nil, rows: rows))
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
                let locate = statements.statement(table, identity: identity) { match, _ in
                    "SELECT t0.tableoid::int8::text || '/' || t0.ctid::text AS row_id FROM \(name) AS t0 WHERE \(match) FOR UPDATE"
                }
                for (field, value) in changes.sorted(by: { $0.key < $1.key }) {
                    for column in table.rectifyColumns(for: field) {
                        let quoted = Self.quote(column)
                        // The corrected value in the column's own type (a date stays a date); the
                        // type's name comes from the store's catalog, never from the request.
                        // Without its length or precision: an explicit cast to varchar(30) would cut
                        // a longer value silently, where the assignment refuses it (22001).
                        let type = (statements.table(table.name)?.column(column)?.type ?? "text").replacing(
                            #/\(\d+(,\s*\d+)?\)/#, with: "")
                        // The person's rows disagreeing on a detail that is not an identifier (a
                        // home and an office address) are different records: which one the
                        // person meant cannot be told, so none is overwritten. Their emails or
                        // phones are all theirs, and all take the corrected one.
                        let identifier = table.identity.values.contains(column)
                        var binder = SQLStatements.Binder()
                        let bound = "CAST(\(binder.bind(value, as: "text")) AS \(type))"
                        let partitions = "$\(binder.parameters.count + 1)::oid[]"
                        let rows = "$\(binder.parameters.count + 2)::tid[]"
                        let agree =
                            identifier
                            ? "count(*) >= 0" : "count(DISTINCT before) + max(CASE WHEN before IS NULL THEN 1 ELSE 0 END) <= 1"
                        // `agree` is an aggregate, one row even when the person has none here.
                        // One row however many match: how many rows hold the field (so "already
                        // as asked" is told apart from "not held here"), the digests of the values
                        // replaced, and the new row ids of the rows rewritten.
                        let sql = """
                            WITH old AS (SELECT t0.tableoid AS part, t0.ctid AS row_id, t0.\(quoted)::text AS before FROM \(name) AS t0
                                          WHERE t0.ctid = ANY(\(rows)) AND (t0.tableoid, t0.ctid) IN (SELECT * FROM unnest(\(partitions), \(rows)))),
                                 agree AS (SELECT coalesce(\(agree), true) AS ok FROM old),
                                 changed AS (UPDATE \(name) AS t SET \(quoted) = \(bound) FROM old
                                              WHERE t.ctid = ANY(\(rows)) AND t.tableoid = old.part AND t.ctid = old.row_id
                                                AND t.\(quoted) IS DISTINCT FROM \(bound) AND (SELECT ok FROM agree)
                                          RETURNING old.part::int8::text || '/' || old.row_id::text AS was,
                                                    t.tableoid::int8::text || '/' || t.ctid::text AS now,
                                                    encode(sha256(convert_to(coalesce(old.before, ''), 'UTF8')), 'hex') AS before_digest)
                            SELECT (SELECT count(*) FROM old) AS matched,
                                   (SELECT coalesce(string_agg(DISTINCT before_digest, ',' ORDER BY before_digest), '') FROM changed) AS digests,
                                   (SELECT count(*) FROM changed) AS changed,
                                   NOT (SELECT ok FROM agree) AS ambiguous,
                                   (SELECT coalesce(string_agg(was || '=' || now, ';'), '') FROM changed) AS moved
                            """
                        prepared.append(
                            .init(
                                table: table.name, action: "rectified", column: column, field: field, sql: sql,
                                parameters: binder.parameters, afterDigest: Digests.sha256Hex(Data(value.utf8)), locate: locate))
                    }
                }
            case .restrict(let lift):
                guard let flag = table.restrictFlag.map(Self.quote) else {
                    // A table keyed by a contact alone (a newsletter by email), which no flag on the
                    // customer record covers, and with no flag of its own: the person's rows are
                    // counted, so the person and the DPO hear they were not restricted, instead of
                    // "nothing needed to change". Tables keyed by the customer follow its flag.
                    if !lift, table.parent == nil, table.identity[.customerID] == nil {
                        let (sql, parameters) = statements.statement(table, identity: identity) { match, _ in
                            "SELECT count(*) AS n FROM \(name) AS t0 WHERE \(match)"
                        }
                        prepared.append(.init(table: table.name, action: "not_restrictable", column: nil, sql: sql, parameters: parameters))
                    }
                    continue
                }
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

    /// Whether a store's error refuses the corrected value itself (a unique key another row
    /// holds, a CHECK or NOT NULL constraint, a value too long or of the wrong form): that
    /// table is left as it was instead of the request being retried for days.
    static func refusesValue(_ error: PostgresError) -> Bool {
        guard error.kind == .server, let state = error.sqlState else { return false }
        return state.hasPrefix("22") || ["23505", "23514", "23502", "23P01"].contains(state)
    }
}
