import Foundation
import Postgres

/// `dsrd check` for one store: the mapping held against the live store's catalog, every
/// lookup's index, and the plan of every statement dsrd generates for it.
public struct StoreCheckReport: Sendable {
    public enum Severity: String, Sendable {
        case error = "ERROR"
        case warning = "WARN"
    }

    public struct Finding: Sendable, Equatable {
        public var severity: Severity
        public var table: String?
        public var message: String
    }

    /// A statement that would scan a large table from end to end for every request.
    public struct Scan: Sendable, Equatable {
        public var statement: String
        public var table: String
        public var estimatedRows: Int64
    }

    public var store: String
    public var findings: [Finding] = []
    public var lookups: [LookupIndex] = []
    public var scans: [Scan] = []
    /// Tables larger than this (planner estimate) must not be scanned sequentially.
    public var threshold: Int64

    public var errors: Int { findings.filter { $0.severity == .error }.count }
    public var warnings: Int { findings.filter { $0.severity == .warning }.count }
    /// Errors or sequential scans over large tables: `dsrd check` exits 1.
    public var failed: Bool { errors > 0 || !scans.isEmpty }

    public func render() -> String {
        var lines = ["store \(store)"]
        for finding in findings {
            lines.append(
                "  \(finding.severity.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)) \(finding.table.map { "table \($0): " } ?? "")\(finding.message)"
            )
        }
        for lookup in lookups {
            lines.append(
                lookup.isServed
                    ? "  ok    \(lookup.table): \(lookup.lookup), served by \(lookup.servedBy ?? "")"
                    : "  INDEX \(lookup.table): \(lookup.lookup) has no index:\n          "
                        + lookup.statement(concurrently: true).replacingOccurrences(of: "\n", with: "\n          "))
        }
        for scan in scans {
            lines.append("  SCAN  \(scan.statement) reads all of \(scan.table) (about \(scan.estimatedRows) rows) for every request")
            let fixes = lookups.filter { $0.table == scan.table && !$0.isServed }.map(\.indexName)
            lines.append(
                fixes.isEmpty
                    ? "          (every lookup has an index: the planner prefers reading the table; compare the estimate with the real size)"
                    : "          fix: the missing index(es) above, \(fixes.joined(separator: ", "))")
        }
        // With errors the statements were not planned: no figure for indexes and scans.
        lines.append(
            errors > 0
                ? "  \(errors) error(s), \(warnings) warning(s); indexes and sequential scans are checked once the errors are fixed"
                : "  \(errors) error(s), \(warnings) warning(s), \(lookups.filter { !$0.isServed }.count) missing index(es), \(scans.count) sequential scan(s) over tables above \(threshold) rows"
        )
        return lines.joined(separator: "\n")
    }
}

extension SQLConnector {
    /// Checks the mapping against the store: every table and column it names exists with a
    /// type its use needs; keys order exports; erasure strategies can work (a `null` on a NOT
    /// NULL column, a hash of an integer, a hash or mask in a foreign-key column, a changed
    /// value that a foreign key points at, or deletes PostgreSQL refuses to RETURN cannot;
    /// CHECK constraints and delete triggers may refuse them); then asks the planner about
    /// every lookup and every statement dsrd generates.
    public func check(threshold: Int64 = 10_000, extraKinds: [IdentityKind] = []) async throws -> StoreCheckReport {
        var report = StoreCheckReport(store: mapping.name, threshold: threshold)
        report.findings = mappingFindings(schema: try await self.schema())
        guard report.errors == 0 else { return report }  // statements on missing columns cannot be planned
        report.findings += try await privilegeFindings()
        report.lookups = try await lookupIndexes(extraKinds: extraKinds)
        // The planner refuses statements on tables the role may not use: name the missing
        // grants (above) instead of stopping at the first statement.
        guard report.errors == 0 else {
            report.findings.append(
                .init(
                    severity: .warning, table: nil,
                    message: "statements not planned (no sequential-scan check) until the privileges above are granted"))
            return report
        }
        report.scans = try await sequentialScans(threshold: threshold, extraKinds: extraKinds)
        return report
    }

    /// What the catalog says of every mapped table's mapping (``findings(_:in:schema:)``).
    func mappingFindings(schema: StoreSchema) -> [StoreCheckReport.Finding] {
        mapping.tables.flatMap { Self.findings($0, in: mapping, schema: schema) }
    }

    /// Every statement a request makes in this store, shaped by the probe identity and planned
    /// as a store connection plans it (generically); the sequential scans of tables above
    /// `threshold` rows.
    func sequentialScans(threshold: Int64, extraKinds: [IdentityKind]) async throws -> [StoreCheckReport.Scan] {
        let statements = try await statements()
        var identity = Self.probeIdentity
        for kind in extraKinds { identity[kind] = ["X0000000"] }
        var planned: [(String, String, [any PostgresEncodable])] = []
        for table in mapping.tables {
            if table.authoritative {
                let (sql, parameters) = resolveStatement(table, identity: identity, statements: statements)
                planned.append(("identity resolution in \(table.name)", sql, parameters))
            }
            let (exportSQL, exportParameters) = exportStatement(table, identity: identity, statements: statements)
            planned.append(("export of \(table.name)", exportSQL, exportParameters))
            let (remainderSQL, remainderParameters) = remainderStatement(table, identity: identity, statements: statements)
            planned.append(("post-erasure check of \(table.name)", remainderSQL, remainderParameters))
        }
        if let hashInputs = hashInputsStatement(identity, statements: statements) {
            planned.append(("reading the values to hash", hashInputs.sql, hashInputs.parameters))
        }
        // Erasure with a made-up hash: only the statements' shape matters here.
        let hashes = HashedValues(values: ["X0000000"], hashes: [String(repeating: "0", count: 64)])
        for table in mapping.tables {
            let plan = erasurePlan(for: table, identity: identity, hashes: hashes, statements: statements)
            planned.append(("erasure of \(table.name)", plan.sql, plan.parameters))
        }
        var corrections: [String: String] = [:]
        for table in mapping.tables {
            for column in table.rectify {
                corrections[table.rectifyField(column)] = Self.probeValue(for: statements.table(table.name)?.column(column))
            }
        }
        for change in [StoreChange.rectify(corrections), .restrict(lift: false), .object(purposes: ["marketing"])] {
            var located = Set<String>()
            for statement in changeStatements(identity, change: change, statements: statements) {
                // A correction finds the person's rows once (by identity), then corrects them by row id.
                if let locate = statement.locate, located.insert(statement.table).inserted {
                    planned.append(("finding the rows to correct in \(statement.table)", locate.sql, locate.parameters))
                }
                let rows: [any PostgresEncodable] = statement.locate == nil ? [] : ["{}", "{}"]
                planned.append(("\(statement.action) in \(statement.table)", statement.sql, statement.parameters + rows))
            }
        }
        let checked = planned
        let sizes = schema(statements)
        return try await run { connection in
            try await connection.transaction { connection in
                var scans: [StoreCheckReport.Scan] = []
                for (name, sql, parameters) in checked {
                    let plan: Plan
                    do {
                        // As a store connection plans it: once, without the values (`planSettings`).
                        plan = try Self.genericPlan(of: sql, parameterCount: parameters.count, on: connection)
                    } catch let error as PostgresError {
                        // Say which statement: the server's message names no table.
                        throw ConnectorError.invalidResponse(
                            store: mapping.name, reason: "the \(name) statement cannot be planned: \(error.message)")
                    }
                    for table in plan.fullScans.sorted() {
                        let rows = sizes[table] ?? 0
                        if rows > threshold { scans.append(.init(statement: name, table: table, estimatedRows: rows)) }
                    }
                }
                return scans
            }
        }
    }

    private func schema(_ statements: SQLStatements) -> [String: Int64] {
        statements.schema.tables.mapValues(\.estimatedRows)
    }

    /// A value of the column's type, so that planning a correction does not fail on a cast.
    static func probeValue(for column: StoreSchema.Column?) -> String {
        guard let column else { return "x" }
        if column.isDateOrTime { return "2000-01-01" }
        if column.isBoolean { return "false" }
        switch column.exactComparison {
        case .integer, .numeric: return "0"
        case .uuid: return "00000000-0000-0000-0000-000000000000"
        default: return "x"
        }
    }

    /// Whether `relation` (one column of a composite foreign key) reaches its parent through
    /// the table that key points at: `returns (order_id, line_no)` → `order_lines (order_id,
    /// line_no)`, whose `order_id` → `orders (id)`. Rows cannot lose their parent then either.
    static func reachesThroughCompositeKey(_ entry: StoreSchema.Table, _ relation: TableMapping.Relation, schema: StoreSchema) -> Bool {
        entry.foreignKeys.contains { key in
            guard key.columns.count > 1, let index = key.columns.firstIndex(of: relation.column),
                let via = schema.tables[key.referencedTable]
            else { return false }
            let viaColumn = key.referencedColumns[index]
            return via.foreignKeys.contains {
                $0.columns == [viaColumn] && $0.referencedTable == relation.table && $0.referencedColumns == [relation.references]
            }
        }
    }

    /// A foreign key of the table to the parent that links the tables otherwise than the
    /// mapping does, when no key links them as mapped: one that holds the mapped parent column
    /// in another column (`line_no` mapped where the key is `order_id → orders.id`), or one
    /// that points the mapped column at another parent column (`customer_id → customers.id`
    /// mapped as `customer_id → customers.referred_by`). Either would pair other people's
    /// rows with the person's parents.
    static func contradictingForeignKey(_ entry: StoreSchema.Table, _ relation: TableMapping.Relation) -> StoreSchema.ForeignKey? {
        let toParent = entry.foreignKeys.filter { $0.referencedTable == relation.table }
        guard !toParent.contains(where: { $0.links(relation.column, to: relation.table, relation.references) }) else { return nil }
        return toParent.first { $0.columns.contains(relation.column) }
            ?? toParent.first { $0.referencedColumns.contains(relation.references) }
    }

    /// A foreign key's column pairs, e.g. `order_id → orders.id`.
    static func links(of key: StoreSchema.ForeignKey) -> String {
        zip(key.columns, key.referencedColumns).map { "\($0) → \(key.referencedTable).\($1)" }.joined(separator: ", ")
    }

    /// The first mapped parent link that contradicts the store's own foreign key, described;
    /// nil when there is none. Its statements would run, on the wrong rows, so every
    /// operation on the store refuses to start while it is there (`dsrd check` says the same).
    static func misjoinedParent(_ mapping: StoreMapping, schema: StoreSchema) -> String? {
        for table in mapping.tables {
            guard let relation = table.parent, let entry = schema.tables[table.name],
                let key = contradictingForeignKey(entry, relation)
            else { continue }
            return
                "the mapping of \(table.name) links parent.column \(relation.column) → \(relation.table).\(relation.references), but its foreign key \(key.name) links \(links(of: key)): rows would be matched to the person by the wrong column (other people's rows exported and erased as theirs); map the foreign key's columns in parent.column and parent.references"
        }
        return nil
    }

    /// The mapping of one table held against its catalog entry.
    static func findings(_ table: TableMapping, in mapping: StoreMapping, schema: StoreSchema) -> [StoreCheckReport.Finding] {
        var found: [StoreCheckReport.Finding] = []
        func error(_ message: String) { found.append(.init(severity: .error, table: table.name, message: message)) }
        func warning(_ message: String) { found.append(.init(severity: .warning, table: table.name, message: message)) }
        guard let entry = schema.tables[table.name] else {
            return [.init(severity: .error, table: table.name, message: "no such table in the store (or not in its search_path)")]
        }
        let known = entry.columns.map(\.name)
        func column(_ name: String, _ key: String) -> StoreSchema.Column? {
            guard let column = entry.column(name) else {
                error("\(key): no column \(name) (columns: \(known.joined(separator: ", ")))")
                return nil
            }
            return column
        }
        for (kind, name) in table.identity.sorted(by: { $0.key < $1.key }) {
            guard let identifier = column(name, "identity.\(kind.rawValue)") else { continue }
            switch kind.format {
            case .email, .phone:
                if !identifier.isText {
                    error("identity.\(kind.rawValue) \(name) is \(identifier.type): an email or phone column holds text")
                }
            case .exact, .document:
                if !["text", "number", "uuid"].contains(identifier.family) {
                    error("identity.\(kind.rawValue) \(name) is \(identifier.type): an identifier column holds text, a number or a uuid")
                }
            }
        }
        for name in table.categories.keys.sorted() { _ = column(name, "categories") }
        for name in table.rectify { _ = column(name, "rectify") }
        for name in table.key { _ = column(name, "key") }
        if let flag = table.restrictFlag, let flagColumn = column(flag, "restrict_flag"), !flagColumn.isBoolean {
            error("restrict_flag \(flag) is \(flagColumn.type), not boolean")
        }
        if let target = table.onObjection, target != "delete", let targetColumn = column(target, "on_objection"), !targetColumn.isDateOrTime
        {
            error("on_objection \(target) is \(targetColumn.type): it must be a date or timestamp column, or \"delete\"")
        }
        if let purpose = table.purposeColumn { _ = column(purpose, "purpose_column") }
        if let check = table.minorCheck {
            if let birth = column(check.birthDate, "minor_check.birth_date"), !birth.isDateOrTime {
                error("minor_check.birth_date \(check.birthDate) is \(birth.type), not a date")
            }
            if let consent = column(check.guardianConsent, "minor_check.guardian_consent"), !consent.isBoolean {
                error("minor_check.guardian_consent \(check.guardianConsent) is \(consent.type), not boolean")
            }
        }
        if let hold = table.hold {
            if let from = column(hold.from, "hold.from") {
                if !from.isDateOrTime {
                    error("hold rules count from a date: hold.from \(hold.from) is \(from.type), not a date or timestamp")
                } else if !from.notNull {
                    warning(
                        "hold.from \(hold.from) may be NULL: a row without that date is under no hold, and an erasure treats it as _row says"
                    )
                }
            }
            if let keepIf = hold.keepIf, let keep = column(keepIf, "hold.keep_if"), !keep.isBoolean {
                error("hold.keep_if \(keepIf) is \(keep.type), not boolean")
            }
        }
        if let relation = table.parent {
            let child = column(relation.column, "parent.column")
            if let parent = schema.tables[relation.table], parent.column(relation.references) == nil {
                error("parent.references: table \(relation.table) has no column \(relation.references)")
            } else if let child, let referenced = schema.tables[relation.table]?.column(relation.references),
                child.family != referenced.family
            {
                error(
                    "parent.column \(relation.column) is \(child.type) but \(relation.table).\(relation.references) is \(referenced.type): they cannot be compared; name the column of \(table.name) that holds \(relation.table).\(relation.references)"
                )
            } else if let contradicting = Self.contradictingForeignKey(entry, relation) {
                error(
                    "parent.column \(relation.column) → \(relation.table).\(relation.references) is not how this table points at \(relation.table): its foreign key \(contradicting.name) links \(Self.links(of: contradicting)). Rows would be matched to the person by the wrong column (other people's rows exported and erased as theirs), so dsrd refuses to work on this store until it is mended; map the foreign key's columns in parent.column and parent.references"
                )
            } else if !entry.foreignKeys.contains(where: {
                ($0.columns == [relation.column] && $0.referencedTable == relation.table)
                    || $0.links(relation.column, to: relation.table, relation.references)
            }),
                !Self.reachesThroughCompositeKey(entry, relation, schema: schema)
            {
                warning(
                    "no foreign key from \(relation.column) to \(relation.table).\(relation.references): rows whose parent is gone are never found"
                )
            }
        }
        // A table the mapping leaves out whose foreign key points here: the person's rows there
        // are never found, and the rows here they point at are kept, not deleted.
        for reference in entry.referencedBy where !mapping.lists(reference.referencingName) {
            if !reference.readable && Self.keepsWholeWhatItCannotWeigh(table) {
                error(
                    "\(reference.referencingTable) (not in the mapping) points at \(table.name).\(reference.referencedColumns.joined(separator: ", ")), and dsrd's role cannot read it (USAGE on its schema, SELECT on the referencing columns): with no column strategies every row here would be kept whole, so erasures in this store do not start; run what `dsrd grants` prints as the tables' owner, or map it"
                )
                continue
            }
            if !reference.readable {
                warning(
                    "\(reference.referencingTable) (not in the mapping) points at \(table.name).\(reference.referencedColumns.joined(separator: ", ")), and dsrd's role cannot read it (USAGE on its schema, SELECT on the referencing columns): every row here is kept (anonymised), never deleted; map it, or run what `dsrd grants` prints as the tables' owner"
                )
                continue
            }
            warning(
                "\(reference.referencingName) (not in the mapping) points at \(table.name).\(reference.referencedColumns.joined(separator: ", ")): its rows are neither exported nor erased, and the rows here they point at are kept (anonymised), not deleted; map it"
            )
        }
        // A generated column follows the columns it is computed from: nobody may write it, so
        // the erasure, correction, restriction or objection writing it would fail (428C9).
        let written = StoreGrants(mapping).tables.first { $0.name == table.name }?.updateColumns ?? []
        for name in written.sorted() where entry.column(name)?.generated == true {
            error(
                "\(name) is a generated column (GENERATED ALWAYS AS … STORED): PostgreSQL lets nobody write it, so the statement dsrd writes it with would fail; leave it out of the erasure strategies, rectify, restrict_flag and on_objection (it changes with the columns it is computed from)"
            )
        }
        // Rows an erasure keeps here (a hold, or kept rows pointing at them) are deleted by the
        // retention sweep once free, but only if it can tell them from a live customer's (its
        // own test: a hash or mask in the row, or in its parent row).
        let references = Self.references(to: table, in: mapping, schema: schema)
        if table.rowStrategy == .delete, !table.columnStrategies.isEmpty, table.hold != nil || !references.isEmpty,
            Self.erasureEvidence(table, in: mapping).isEmpty
        {
            warning(
                "rows an erasure keeps here (for a hold, or because kept rows point at them) are anonymised with null only, and no mapped parent of theirs carries a hash or mask: the retention sweep cannot tell them from a live customer's rows, so it never deletes them when the hold ends; give one column \"mask\" or \"hash\""
            )
        }
        // Erasure strategies that cannot work on this table as it is.
        let referencedBy = references.flatMap { reference in
            zip(reference.referencedColumns, reference.columns).map { ($0.0, "\(reference.referencingName).\($0.1)") }
        }
        for (name, strategy) in table.columnStrategies.sorted(by: { $0.key < $1.key }) {
            guard let target = column(name, "erasure.\(name)") else { continue }
            if strategy == .null && target.notNull {
                error(
                    "erasure.\(name) = \"null\" on a NOT NULL column: "
                        + (target.isText
                            ? "use hash or mask, or _row = \"delete\"" : "leave the column out (keep its value), or _row = \"delete\"")
                )
            }
            if (strategy == .hash || strategy == .mask) && !target.isText {
                error(
                    "erasure.\(name) = \"\(strategy)\" needs a text column (\(strategy == .hash ? "a hash is 64 hex characters" : "a mask keeps the first character and hides the rest with ***")); \(name) is \(target.type)"
                )
            }
            if strategy == .hash && target.isText, let limit = Int(target.type.drop { $0 != "(" }.dropFirst().prefix { $0 != ")" }),
                limit < 64
            {
                error("erasure.\(name) = \"hash\" needs room for 64 characters; \(name) is \(target.type)")
            }
            if let reference = referencedBy.first(where: { $0.0 == name }) {
                error(
                    "erasure.\(name) = \"\(strategy)\" changes a value \(reference.1) points at: the foreign key would break; keep it and anonymise the other columns"
                )
            }
            guard strategy == .hash || strategy == .mask else { continue }
            // The hash or mask is no key of the referenced table: the store refuses it (23503).
            if let key = entry.foreignKeys.first(where: { $0.columns.contains(name) }),
                let referenced = zip(key.columns, key.referencedColumns).first(where: { $0.0 == name })?.1
            {
                let fix = target.notNull ? "use \"keep\" (the column is NOT NULL)" : "use \"null\", or \"keep\""
                error(
                    "erasure.\(name) = \"\(strategy)\" writes a value the foreign key \(key.name) to \(key.referencedTable).\(referenced) refuses (23503); \(fix)"
                )
            }
            for check in entry.checks where check.columns.contains(name) {
                warning(
                    "erasure.\(name) = \"\(strategy)\": CHECK constraint \(check.name) on \(name) may refuse the \(strategy == .hash ? "hashed" : "masked") value (dsrd cannot evaluate it); test an erasure on a copy first"
                )
            }
        }
        // What sees dsrd's deletes first: a trigger may refuse or redirect them; a rule that
        // returns nothing makes PostgreSQL refuse the erasure's DELETE … RETURNING (an
        // objection's DELETE returns nothing, so it is only redirected).
        let deletes =
            table.rowStrategy == .delete ? "_row = \"delete\"" : (table.onObjection == "delete" ? "on_objection = \"delete\"" : nil)
        if let deletes {
            for interceptor in entry.deleteInterceptors {
                if interceptor.refusesReturning && table.rowStrategy == .delete {
                    error(
                        "\(deletes), but \(interceptor.description) (conditional, or without RETURNING): PostgreSQL refuses dsrd's DELETE … RETURNING there (0A000); drop the rule, or anonymise instead"
                    )
                } else {
                    warning(
                        "\(deletes), but \(interceptor.description): it may refuse or redirect the deletes; test an erasure on a copy first"
                    )
                }
            }
        }
        // A trigger on a table dsrd changes runs with dsrd's role: what it writes elsewhere
        // (an audit table) needs grants `dsrd grants` cannot know of, and may copy the
        // person's values where no erasure reaches them.
        let changes =
            table.rowStrategy != .keep || !table.columnStrategies.isEmpty || !table.rectify.isEmpty || table.restrictFlag != nil
            || table.onObjection != nil
        if changes {
            // A trigger that only intercepts deletes was warned of above, where rows are deleted.
            for trigger in entry.writeTriggers where !(trigger.interceptsDeletes && !trigger.onUpdate) || deletes == nil {
                warning(
                    "\(trigger.description), and dsrd changes this table: grant what the trigger writes (`dsrd grants` cannot know it), map the tables it writes the person's data to, and test an erasure on a copy first"
                )
            }
        }
        if table.rowStrategy != .delete || table.hold != nil {
            // Identifier columns, and the link to a parent (the person's kept parent row), that
            // no strategy changes.
            var linked = Set(table.identity.filter { table.columnStrategies[$0.value] == nil }.map(\.value))
            if let link = table.parent?.column, table.columnStrategies[link] == nil { linked.insert(link) }
            let kept = linked.sorted()
            if !kept.isEmpty && table.rowStrategy == .anonymise {
                warning(
                    "anonymised rows keep \(kept.joined(separator: ", ")), which still find the person: they are pseudonymised, not anonymous"
                )
            }
        }
        if table.key.isEmpty && entry.primaryKey.isEmpty {
            warning("no key and no primary key: exports of the same data may list rows in a different order; set key = [\"...\"]")
        } else if !table.key.isEmpty && !entry.isUnique(table.key) {
            warning("key (\(table.key.joined(separator: ", "))) has no unique index: rows with equal keys come out in any order")
        }
        let uncategorised = known.filter { table.categories[$0] == nil && !table.identity.values.contains($0) }
        if !uncategorised.isEmpty {
            warning("columns without a data category (the export summary cannot name them): \(uncategorised.joined(separator: ", "))")
        }
        return found
    }
}
