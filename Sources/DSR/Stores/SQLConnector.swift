import Foundation
import Postgres

/// A PostgreSQL store driven by its mapping: every statement is generated from the mapping's
/// identifiers and the store's catalog (``SQLStatements``) and binds the person's identifiers
/// as parameters.
public struct SQLConnector: Connector {
    public let mapping: StoreMapping
    let pool: ConnectionPool
    private let schemaCache = SchemaCache()
    /// Tests: runs when a large export has exported its snapshot, before the other
    /// connections import it (a commit made here must not reach the export).
    var afterSnapshotExported: (@Sendable () async throws -> Void)?

    /// `settings`: session limits for the store's connections (`connectors.statement_timeout`,
    /// `connectors.lock_timeout`).
    public init(mapping: StoreMapping, maxConnections: Int = 4, settings: [(name: String, value: String)] = []) {
        self.mapping = mapping
        self.pool = ConnectionPool(conninfo: mapping.url, maximum: maxConnections, settings: settings + Self.planSettings)
    }

    /// A store connection plans each statement once, without the person's values, and keeps
    /// that plan (`plan_cache_mode = force_generic_plan`): planning every run for its values
    /// cost more than the run itself (an export's `COPY`s 9% of the machine's CPU on access
    /// requests, an erasure's statements 11% on erasures; issue 12), and it re-planned the
    /// store's own foreign-key checks on every row an erasure changed. Without the values,
    /// PostgreSQL assumes ten identifiers of average frequency, so a lookup an index serves
    /// uses that index for anyone. `dsrd check` asks the planner for exactly those plans (a
    /// partial index that only a known value can use does not count); PostgreSQL's default
    /// (`auto`) was tried earlier and, comparing estimates, sometimes kept sequential scans
    /// for the ORed identifier lookups. dsrd's own database keeps the default.
    ///
    /// JIT compilation is off (`jit = off`): a generic plan's estimates (ten identifiers, an
    /// array of unknown length) can pass `jit_above_cost` on statements that then run in a
    /// millisecond. The catalog read did, and compiled for 50 to 90 ms on every load (issue
    /// 12); none of dsrd's store statements runs long enough to repay a compilation.
    static let planSettings: [(name: String, value: String)] = [PostgresConnection.genericPlansAlways, ("jit", "off")]

    /// The mapped tables as the store's catalog describes them, read once and again after a
    /// statement fails on the schema (a migration in the store). Callers that ask while it
    /// is being read wait for that read instead of starting their own.
    public func schema() async throws -> StoreSchema {
        let names = catalogTables
        return try await schemaCache.schema {
            try await run { connection in try await connection.transaction { try StoreSchema.load(names, on: $0) } }
        }
    }

    /// The tables whose catalog entries dsrd reads: the mapped ones, and the suppression table
    /// (`dsrd grants` names it with its schema).
    var catalogTables: [String] {
        mapping.tables.map(\.name) + [mapping.suppressionTable].filter { !$0.isEmpty && !mapping.lists($0) }
    }

    /// The mapped tables (and the suppression table) this connection cannot see: missing, or in
    /// a schema its role has no USAGE on, or outside its `search_path`.
    public func invisibleTables() async throws -> [String] {
        let schema = try await schema()
        return catalogTables.filter { schema.tables[$0] == nil }
    }

    /// Mapped tables this connection's role may not read (no SELECT): no statement on them
    /// can be planned, so `dsrd indexes` and `dsrd check` name them instead of stopping.
    public func unreadableTables() async throws -> [String] {
        let schema = try await schema()
        return mapping.tables.map(\.name).filter { schema.tables[$0]?.readable == false }
    }

    func statements() async throws -> SQLStatements {
        let schema = try await schema()
        if let problem = Self.misjoinedParent(mapping, schema: schema) {
            throw ConnectorError.invalidResponse(store: mapping.name, reason: problem)
        }
        return SQLStatements(mapping: mapping, schema: schema)
    }

    public func resolve(_ identity: IdentitySet) async throws -> Resolution {
        // A store with no authoritative table is not asked (nor reached) to find the person.
        guard mapping.tables.contains(where: \.authoritative) else { return Resolution(identity: IdentitySet(), matches: 0) }
        let statements = try await statements()
        var found = IdentitySet()
        var matches = 0
        var conflicts: [String] = []
        for table in mapping.tables where table.authoritative {
            let columns = table.identity.sorted { $0.key < $1.key }
            let personal = Self.personalColumns(table)
            let (sql, parameters) = resolveStatement(table, identity: identity, statements: statements)
            let rows = try await run { connection in try await connection.query(sql, parameters) }
            var keys = Set<String>()
            var details = Array(repeating: Set<String>(), count: personal.count)
            for row in rows {
                keys.insert(try row.decode("dsr_row", as: String.self))
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

    /// Personal details (names, date of birth, national id...) tell whether two matched
    /// records are one person; compared trimmed and case-insensitively.
    static func personalColumns(_ table: TableMapping) -> [String] { table.categories.filter { $0.value == "personal" }.keys.sorted() }

    /// The person's rows of an authoritative table: each row's id, identifiers and personal details.
    func resolveStatement(_ table: TableMapping, identity: IdentitySet, statements: SQLStatements) -> (
        sql: String, parameters: [any PostgresEncodable]
    ) {
        let select =
            // The partition and the row: a ctid alone repeats across a partitioned table's partitions.
            (["t0.tableoid::int8::text || '/' || t0.ctid::text AS dsr_row"]
            + table.identity.sorted { $0.key < $1.key }.map {
                "t0.\(Self.quote($0.value))::text AS \(Self.quote("dsr_" + $0.key.rawValue))"
            }
            + Self.personalColumns(table).enumerated().map { "lower(btrim(t0.\(Self.quote($0.element))::text)) AS dsr_p\($0.offset)" })
            .joined(separator: ", ")
        return statements.statement(table, identity: identity) { match, _ in
            "SELECT \(select) FROM \(Self.quote(table.name)) AS t0 WHERE \(match)"
        }
    }

    func countStatement(_ table: TableMapping, identity: IdentitySet, statements: SQLStatements) -> (
        sql: String, parameters: [any PostgresEncodable]
    ) {
        statements.statement(table, identity: identity) { match, _ in
            "SELECT count(*) AS n FROM \(Self.quote(table.name)) AS t0 WHERE \(match)"
        }
    }

    func exportStatement(_ table: TableMapping, identity: IdentitySet, statements: SQLStatements) -> (
        sql: String, parameters: [any PostgresEncodable]
    ) {
        statements.statement(table, identity: identity) { match, _ in
            "SELECT t0.* FROM \(Self.quote(table.name)) AS t0 WHERE \(match)\(statements.orderBy(table, alias: "t0"))"
        }
    }

    /// Which of `candidates`' emails and phones a table of this store holds in a column of its
    /// own (a newsletter keyed by email, SMS opt-ins by phone): for a person no authoritative
    /// table knows, these are the contacts on file that a verification code may go to.
    public func contactsHeld(_ candidates: IdentitySet) async throws -> IdentitySet {
        let statements = try await statements()
        var held = IdentitySet()
        for kind in [IdentityKind.email, .phone] {
            for value in candidates[kind].sorted() {
                var one = IdentitySet()
                one[kind] = [value]
                for table in mapping.tables where table.identity[kind] != nil {
                    let (sql, parameters) = countStatement(table, identity: one, statements: statements)
                    let count = try await run { connection in try await connection.query(sql, parameters)[0].decode("n", as: Int.self) }
                    if count > 0 {
                        held[kind].insert(value)
                        break
                    }
                }
            }
        }
        return held
    }

    public func discover(_ identity: IdentitySet) async throws -> [String: Int] {
        let statements = try await statements()
        var counts: [String: Int] = [:]
        for table in mapping.tables {
            let (sql, parameters) = countStatement(table, identity: identity, statements: statements)
            counts[table.name] = try await run { connection in
                try await connection.query(sql, parameters)[0].decode("n", as: Int.self)
            }
        }
        return counts
    }

    /// Writes the person's rows of every table, in one REPEATABLE READ snapshot so related
    /// tables agree. Each table is one prepared `SELECT`, its rows handed over one by one as
    /// they arrive (libpq's single-row mode, so memory does not grow with them): the
    /// connection plans each table's statement once (``planSettings``), not once per person.
    /// A `COPY` is parsed, analysed and planned on every run, which cost more than reading a
    /// person's few rows (9% of the machine's CPU on access requests, in `perf`).
    ///
    /// A person with many rows (the first table holds at least ``spreadExportFromRows`` of
    /// theirs, counted up to that bound by the transaction's first statement) has all the
    /// tables copied side by side, from the start, on the first connection and up to
    /// ``spareConnectionsPerExport`` more that are free at once, each importing the first
    /// one's snapshot (`pg_export_snapshot`): the store's CPUs then read tables in parallel,
    /// which a single connection's COPYs, one after another, cannot. Those tables are each one
    /// `COPY (SELECT ...) TO STDOUT`, rows encoded from its bytes as they arrive: a `COPY`
    /// takes no bound parameters, so the person's identifiers are bound once to `set_config`
    /// and read by the statements with `current_setting`.
    public func export(_ identity: IdentitySet, into directory: URL, formats: ExportFormats) async throws -> [ExportedFile] {
        let generator = try await statements()
        var names: [String] = []
        var values: [any PostgresEncodable] = []
        var tables: [SQLTableExport.Table] = []
        for (index, table) in mapping.tables.enumerated() {
            guard let columns = generator.table(table.name)?.columns, !columns.isEmpty else {
                throw ConnectorError.invalidResponse(store: mapping.name, reason: "table \(table.name) does not exist (run dsrd check)")
            }
            var binder = SQLStatements.Binder(settingsPrefix: "t\(index)")
            let match = generator.condition(table, alias: "t0", identity: identity, binder: &binder)
            names += binder.settingNames
            values += binder.parameters
            var selectBinder = SQLStatements.Binder()
            let selectMatch = generator.condition(table, alias: "t0", identity: identity, binder: &selectBinder)
            // The columns by name, as the catalog read last has them: one renamed or dropped
            // since fails (42703) and makes the next attempt read it anew, instead of its
            // values going out under the old name.
            let select =
                "SELECT \(columns.map { "t0.\(Self.quote($0.name))" }.joined(separator: ", ")) FROM \(Self.quote(table.name)) AS t0 WHERE "
            let order = generator.orderBy(table, alias: "t0")
            tables.append(
                SQLTableExport.Table(
                    name: table.name, sql: "COPY (\(select)\(match)\(order)) TO STDOUT", select: select + selectMatch + order,
                    parameters: selectBinder.parameters,
                    columns: columns.map(\.name), kinds: columns.map { TableFileWriter.FieldKind(postgresType: $0.typeOID) }))
        }
        // For the COPYs of a large person: set_config(name, value, true) for each, the values
        // staying bound parameters.
        let settings =
            names.isEmpty
            ? nil : "SELECT " + names.indices.map { "set_config($\(2 * $0 + 1), $\(2 * $0 + 2), true)" }.joined(separator: ", ")
        var settingParameters: [any PostgresEncodable] = []
        for (name, value) in zip(names, values) { settingParameters += [name, value.postgresText ?? ""] }
        let parameters = settingParameters
        let export = SQLTableExport(tables: tables, directory: directory, store: mapping.name, formats: formats)
        let quotedNames = mapping.tables.map { Self.quote($0.name) }
        let columnCount = tables.reduce(0) { $0 + $1.columns.count }
        // How many of the person's rows the first table holds, up to the bound that makes the
        // export spread: its placeholders follow the table names'.
        var probeBinder = SQLStatements.Binder()
        probeBinder.parameters = [quotedNames]
        let canSpread = tables.count >= 2
        let probe =
            canSpread
            ? "(SELECT count(*) FROM (SELECT 1 FROM \(Self.quote(mapping.tables[0].name)) AS t0 WHERE \(generator.condition(mapping.tables[0], alias: "t0", identity: identity, binder: &probeBinder)) LIMIT \(Self.spreadExportFromRows)) AS dsr_first)"
            : "0"
        // The mapped tables' column count (a column added since the catalog was read would be
        // left out of the export, so then the catalog is read anew and the task tried again)
        // and the probe: the transaction's first statement. The settings follow only when
        // the tables are copied. The tables' oids go in as an array, not a subquery: planned
        // generically, `= ANY(SELECT …)` became a hash join over the whole of pg_attribute
        // (1 ms), while `= ANY(ARRAY(…))` probes the catalog's index (0.06 ms).
        let shape =
            "SELECT (SELECT count(*) FROM pg_attribute WHERE attrelid = ANY(ARRAY(SELECT to_regclass(name)::oid FROM unnest($1::text[]) AS name)) AND attnum > 0 AND NOT attisdropped) AS dsr_columns, \(probe) AS dsr_first_rows"
        let shapeParameters = probeBinder.parameters
        let store = mapping.name
        let pool = self.pool
        let afterSnapshotExported = self.afterSnapshotExported
        _ = try await run { first in
            try await first.transaction(
                .repeatableReadOnly,
                { snapshot in
                    guard let snapshot else { return }
                    try await afterSnapshotExported?()
                    try await pool.withSpareConnections(upTo: min(Self.spareConnectionsPerExport, export.untaken - 1)) { spares in
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask { try await first.perform { try export.copyRemaining(on: $0) } }
                            for spare in spares {
                                group.addTask {
                                    try await spare.transaction(readingSnapshotOf: snapshot) { connection in
                                        if let settings { try connection.query(settings, parameters) }
                                        try export.copyRemaining(on: connection)
                                    }
                                }
                            }
                            try await group.waitForAll()
                        }
                    }
                }
            ) { connection -> SnapshotID? in
                let row = try connection.query(shape, shapeParameters)[0]
                guard try row.decode("dsr_columns", as: Int.self) == columnCount else {
                    throw PostgresError(kind: .server, sqlState: "42P10", message: "a table of store \(store) has changed shape")
                }
                // Spread only a large person, from the first table on.
                if canSpread, try row.decode("dsr_first_rows", as: Int.self) >= Self.spreadExportFromRows,
                    let snapshot = try connection.exportSnapshot()
                {
                    if let settings { try connection.query(settings, parameters) }
                    return snapshot
                }
                // A person's few rows: the tables' reads end the transaction, with its COMMIT.
                try export.selectRemaining(on: connection, committing: true)
                return nil
            }
        }
        return export.files
    }

    /// The person's rows in the first table from which an export's tables are copied side by
    /// side. Below it, a spare connection's transaction and snapshot cost more than they save.
    static let spreadExportFromRows = 1_000
    /// More connections one export may use at once, when the pool has them free: with the
    /// demo's five order tables, one each.
    static let spareConnectionsPerExport = 4

    /// Runs `body` on a pooled connection; connection failures become `unreachable`. A
    /// statement that fails on the schema (SQLSTATE class 42: a column renamed, a type
    /// changed) or on a foreign key dsrd did not know of (23503: a table added since the
    /// catalog was read points at the rows) makes the next attempt read the catalog again, so
    /// a retry plans with it instead of failing the same way for days.
    func run<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await pool.withConnection(body)
        } catch let error as PostgresError where error.kind == .connection {
            throw ConnectorError.unreachable(store: mapping.name, reason: error.message)
        } catch let error as PostgresError where error.sqlState?.hasPrefix("42") == true || error.sqlState == "23503" {
            await schemaCache.invalidate()
            throw error
        }
    }

    static func quote(_ identifier: String) -> String { SQLStatements.quote(identifier) }
}

/// The catalog a connector read last, read once however many tasks ask for it at once: a
/// daemon's workers all start on a store together, and each used to read the catalog itself.
/// The read runs in the task of the caller that started it (a job's time-out cancels it as
/// before); a caller waiting for it can be cancelled on its own.
actor SchemaCache {
    private var schema: StoreSchema?
    /// Whether a caller is reading the catalog now.
    private(set) var isReading = false
    private var waiters: [Int: CheckedContinuation<StoreSchema?, any Error>] = [:]
    private var nextWaiter = 0
    /// Counts invalidations, so that a read begun before one is not kept after it.
    private var generation = 0
    /// Callers that waited for a read another caller began (tests).
    private(set) var joined = 0

    /// The cached catalog, else the one a read under way returns, else `read`'s.
    func schema(_ read: @Sendable () async throws -> StoreSchema) async throws -> StoreSchema {
        while true {
            if let schema { return schema }
            guard isReading else { break }
            joined += 1
            // nil: that read failed; try again, perhaps as the reader.
            if let schema = try await nextRead() { return schema }
        }
        isReading = true
        let started = generation
        do {
            let schema = try await read()
            if generation == started { self.schema = schema }
            finishRead(schema)
            return schema
        } catch {
            finishRead(nil)
            throw error
        }
    }

    /// Forgets the catalog (a statement failed on the schema): the next caller reads it again.
    func invalidate() {
        schema = nil
        generation += 1
    }

    private func nextRead() async throws -> StoreSchema? {
        let id = nextWaiter
        nextWaiter += 1
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    waiters[id] = continuation
                }
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    private func cancelWaiter(_ id: Int) { waiters.removeValue(forKey: id)?.resume(throwing: CancellationError()) }

    private func finishRead(_ schema: StoreSchema?) {
        isReading = false
        let woken = waiters
        waiters = [:]
        for waiter in woken.values { waiter.resume(returning: schema) }
    }
}
