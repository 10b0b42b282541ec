import CLibPQ
import Foundation
import Synchronization

/// One libpq connection, owned by an actor that runs on a dedicated thread.
///
/// Every method that talks to the server blocks that thread, never Swift's cooperative
/// pool. Callers outside the actor `await` each call; code that must run several
/// statements without interleaving (a transaction) runs inside the actor through
/// ``transaction(_:)``, whose body is synchronous and isolated to the connection.
///
/// Values are always bound as parameters (`$1`, `$2`, ...); there is no API that
/// splices values into SQL text.
public actor PostgresConnection {
    private let thread: ConnectionThread
    private var handle: OpaquePointer?
    /// Names the cursors `stream` declares, unique on this connection.
    private var cursorCount = 0
    /// SQL text -> name of its prepared statement on this connection.
    private var prepared: [StatementText: String] = [:]
    private var preparedOrder: [StatementText] = []
    private var preparedCount = 0
    /// The BEGIN of a transaction whose first statement has not been sent yet: it is sent
    /// with that statement, in one exchange with the server (``transaction(_:_:)``).
    var pendingBegin: String?
    /// Statements for the open transaction's COMMIT to carry (``executeAtCommit(_:_:)``).
    var atCommit: [(sql: String, values: [String?], prepared: Bool)] = []
    /// How deep in ``transaction(_:_:)`` bodies the connection is (savepoints nest).
    var transactionDepth = 0
    /// How many times this connection has waited for the server: statements, preparations,
    /// COPYs, transaction ends. A BEGIN sent with its transaction's first statement adds none.
    public internal(set) var roundTrips = 0
    /// libpq's cancel object for this connection (`PQgetCancel`), usable from any thread
    /// while the connection's own thread is blocked in a call, and whether a cancel is in
    /// force (``cancelRunningStatement()`` until ``clearCancellation()``).
    private nonisolated let canceller = Mutex<Cancellation>(Cancellation())

    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        thread.asUnownedSerialExecutor()
    }

    /// The session setting that plans a prepared statement once (for a connection whose
    /// statements have one right plan whatever their values, run many times a second).
    public static let genericPlansAlways: (name: String, value: String) = ("plan_cache_mode", "force_generic_plan")

    /// Seconds a connection attempt may take, unless the connection string sets
    /// `connect_timeout` or the environment sets `PGCONNECT_TIMEOUT`.
    public static let defaultConnectTimeout = "10"

    /// Connects with a libpq connection string (`host=... dbname=...`) or URI
    /// (`postgresql://...`). An empty or `nil` string uses the standard `PG*` environment
    /// variables, `~/.pgpass` and `PGSERVICE`, exactly as `psql` does. `settings` are session
    /// settings (`statement_timeout`, `lock_timeout`) set with `set_config` once connected,
    /// so they hold for the connection's life.

    public static func connect(
        _ conninfo: String? = nil, applicationName: String = "dsrd", settings: [(name: String, value: String)] = []
    ) async throws -> PostgresConnection {
        let connection = PostgresConnection()
        try await connection.open(conninfo ?? "", applicationName: applicationName)
        for setting in settings {
            _ = try await connection.query("SELECT set_config($1, $2, false)", [setting.name, setting.value])
        }
        return connection
    }

    private init() {
        thread = ConnectionThread(name: "dsrd-pq")
    }

    isolated deinit {
        dropCanceller()
        if let handle { PQfinish(handle) }
        thread.stop()
    }

    private func open(_ conninfo: String, applicationName: String) throws {
        // `dbname` with expand_dbname=1 accepts a full connection string or URI. Keywords
        // before it are defaults the connection string may override: a bounded connect, and
        // TCP keepalives so a half-open connection (a server gone, a NAT that forgot it) is
        // noticed within about a minute instead of hanging a call forever. Keywords after it
        // override what it sets, so the encoding is always UTF-8. A default given here would
        // also override libpq's environment, so the connect bound is left to
        // `PGCONNECT_TIMEOUT` when that is set.
        var keys: [String?] = [
            "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
            "dbname", "fallback_application_name", "client_encoding",
        ]
        var values: [String?] = ["1", "30", "10", "3", conninfo, applicationName, "UTF8"]
        if (ProcessInfo.processInfo.environment["PGCONNECT_TIMEOUT"] ?? "").isEmpty {
            keys.insert("connect_timeout", at: 0)
            values.insert(Self.defaultConnectTimeout, at: 0)
        }
        // Both arrays end with a NULL entry, as libpq requires.
        let connection = withCStringArray(keys + [nil]) { keyPointers in
            withCStringArray(values + [nil]) { valuePointers in
                PQconnectdbParams(keyPointers, valuePointers, 1)
            }
        }
        guard let connection else {
            throw PostgresError(kind: .connection, message: "libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let error = PostgresError.from(connection: connection, fallback: "could not connect")
            PQfinish(connection)
            throw error
        }
        handle = connection
        canceller.withLock { $0.handle = PQgetCancel(connection).map(CancelHandle.init) }
        // Server notices (e.g. "already exists, skipping") would go to stderr; drop them.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        // Fixed session settings that decoding relies on. Prepared statements keep
        // PostgreSQL's plan_cache_mode (auto: a generic plan after five runs when it looks no
        // dearer); a statement that needs a plan per run uses `queryPlannedForValues`, a
        // connection whose every statement should keep its first plan sets
        // force_generic_plan (`genericPlansAlways`).
        try runScript(
            """
            SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET bytea_output = 'hex'; SET IntervalStyle = 'postgres'
            """)
    }

    /// Closes the connection now instead of at deinit.
    public func close() {
        dropCanceller()
        if let handle { PQfinish(handle) }
        handle = nil
    }

    /// Asks the server to cancel the statement this connection is running, if any (libpq's
    /// `PQcancel`, which is safe from any thread). The blocked call then fails with SQLSTATE
    /// 57014 (`query_canceled`). Swift task cancellation cannot interrupt a libpq call by
    /// itself: ``ConnectionPool`` calls this when the task holding the connection is cancelled.
    ///
    /// PostgreSQL ignores a cancel that arrives while the session waits for its next
    /// statement, so the cancel stays in force: every later statement on this connection
    /// fails at once with the same error (a transaction's rollback still runs) until
    /// ``clearCancellation()``. A cancel that reached the server just before a statement
    /// did can be lost all the same: ``repeatCancel()`` sends it again.
    /// Returns false when the request could not be sent.
    @discardableResult
    public nonisolated func cancelRunningStatement() -> Bool {
        canceller.withLock { state in
            state.requested = true
            return state.send()
        }
    }

    /// Sends the cancel again if it is still in force (see ``cancelRunningStatement()``) and
    /// the connection open; returns whether it was sent. Never reaches a statement run after ``clearCancellation()``:
    /// both take the same lock, and `PQcancel` returns only once the server has signalled
    /// the session.
    @discardableResult
    public nonisolated func repeatCancel() -> Bool {
        canceller.withLock { state in
            guard state.requested, state.handle != nil else { return false }
            _ = state.send()
            return true
        }
    }

    /// Ends a cancel in force: statements run again (a pooled connection handed to its next
    /// user).
    public nonisolated func clearCancellation() {
        canceller.withLock { $0.requested = false }
    }

    /// Cancels the statement whose rows are arriving, once (a consumer that failed half-way
    /// through a stream), without putting a cancel in force.
    func stopSending() {
        canceller.withLock { _ = $0.send() }
    }

    private func dropCanceller() {
        canceller.withLock { state in
            if let cancel = state.handle { PQfreeCancel(cancel.pointer) }
            state.handle = nil
        }
    }

    /// Whether the connection is open and usable.
    public var isOpen: Bool {
        guard let handle else { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// The server process id serving this connection (`pg_backend_pid()`).
    public var backendPID: Int32 {
        guard let handle else { return 0 }
        return PQbackendPID(handle)
    }

    /// Whether a transaction block is open on this connection (or begun, its BEGIN waiting
    /// for its first statement).
    public var inTransaction: Bool {
        guard handle != nil else { return false }
        return pendingBegin != nil || hasOpenTransaction
    }

    /// Whether the server has a transaction open on this connection (a BEGIN not yet sent
    /// does not count); true too when the connection's state is unknown (it broke).
    var hasOpenTransaction: Bool {
        guard let handle else { return false }
        return PQtransactionStatus(handle) != PQTRANS_IDLE
    }

    /// The open connection's handle, for a statement about to be sent: refused while a
    /// cancel is in force (``cancelRunningStatement()``).
    func liveHandle() throws -> OpaquePointer {
        guard let handle else {
            throw PostgresError(kind: .connection, message: "connection is closed")
        }
        if canceller.withLock({ $0.requested }) { throw PostgresError.canceled }
        return handle
    }

    /// Ends the transaction `body` failed in (`ROLLBACK`, or back to a savepoint), even
    /// while a cancel is in force; errors are ignored (a broken connection is dropped by
    /// whoever owns it).
    func rollBack(_ sql: String) {
        guard let handle else { return }
        roundTrips += 1
        PQclear(PQexec(handle, sql))
    }

    /// Sends a pending BEGIN on its own, before a statement that cannot carry it (a COPY, a
    /// script).
    func sendPendingBegin() throws {
        guard let begin = pendingBegin else { return }
        pendingBegin = nil
        let handle = try liveHandle()
        roundTrips += 1
        _ = try checked(PQexec(handle, begin), handle: handle)
    }

    /// Queues a statement to go to the server with its transaction's COMMIT, in one exchange
    /// with it: for a transaction's last writes, whose results it does not read. In order,
    /// after every statement the body ran. If one fails, nothing is committed: the
    /// transaction is rolled back and ``transaction(_:_:)`` throws that statement's error.
    /// Inside a savepoint that rolls back, the statements it queued are dropped.
    /// `plannedForValues`: run unprepared, as ``queryPlannedForValues(_:_:)`` runs it.
    public func executeAtCommit(_ sql: String, _ parameters: [any PostgresEncodable] = [], plannedForValues: Bool = false) throws {
        guard transactionDepth > 0 else {
            throw PostgresError(kind: .usage, message: "executeAtCommit outside a transaction(_:_:) body")
        }
        atCommit.append((sql, try texts(of: parameters), !plannedForValues))
    }

    /// Commits: the queued statements (and a BEGIN still pending) go with the COMMIT in one
    /// pipeline. A failed statement leaves the COMMIT unrun; the transaction is rolled back.
    func commitCarryingQueued() throws {
        let queued = atCommit
        atCommit = []
        let begin = pendingBegin
        pendingBegin = nil
        let handle = try liveHandle()
        var sends: [(OpaquePointer) -> Int32] = []
        if let begin { sends.append(Self.sending(begin)) }
        for statement in queued {
            sends.append(try sending(statement.sql, statement.values, prepared: statement.prepared, on: handle))
        }
        sends.append(Self.sending("COMMIT"))
        roundTrips += 1
        var failure: Error?
        for result in Self.pipelined(sends, on: handle) where failure == nil {
            do { _ = try checked(result, handle: handle) } catch { failure = error }
        }
        guard let failure else { return }
        if PQtransactionStatus(handle) != PQTRANS_IDLE { rollBack("ROLLBACK") }
        throw failure
    }

    /// Runs one statement and returns its result: `exec` runs it alone (a `PQexec…` call);
    /// with a BEGIN pending, `send` queues it (the matching `PQsend…` call) behind the BEGIN
    /// in one pipeline, so opening the transaction costs no round trip of its own.
    private func run(
        _ handle: OpaquePointer, exec: (OpaquePointer) -> OpaquePointer?, send: (OpaquePointer) -> Int32
    ) -> OpaquePointer? {
        roundTrips += 1
        guard let begin = pendingBegin else { return exec(handle) }
        pendingBegin = nil
        let results = withoutActuallyEscaping(send) { send in
            Self.pipelined([Self.sending(begin), send], on: handle)
        }
        // The BEGIN's failure, if it failed (the statement was then not run).
        if let opened = results[0], PQresultStatus(opened) != PGRES_COMMAND_OK {
            if let result = results[1] { PQclear(result) }
            return opened
        }
        if let opened = results[0] { PQclear(opened) }
        return results[1]
    }

    /// Sends statements in one pipeline (libpq's pipeline mode) and returns their results,
    /// one per statement in order: nil where none came (a send failed, the connection broke).
    /// After a failed statement the server skips the rest (`PGRES_PIPELINE_ABORTED`).
    private static func pipelined(_ sends: [(OpaquePointer) -> Int32], on handle: OpaquePointer) -> [OpaquePointer?] {
        var results = [OpaquePointer?](repeating: nil, count: sends.count)
        guard PQenterPipelineMode(handle) == 1 else { return results }
        defer { PQexitPipelineMode(handle) }
        var queued = 0
        while queued < sends.count, sends[queued](handle) == 1 { queued += 1 }
        // Synchronised even when a send failed, so the connection leaves pipeline mode clean.
        guard PQpipelineSync(handle) == 1 else { return results }
        for index in 0..<queued { results[index] = nextResult(handle) }
        // Up to the pipeline's synchronisation point (or the end of a broken connection).
        while let extra = PQgetResult(handle) {
            let synchronised = PQresultStatus(extra) == PGRES_PIPELINE_SYNC
            PQclear(extra)
            if synchronised { break }
        }
        return results
    }

    /// Queues a statement with bound values in a pipeline: prepared first, once per
    /// connection, as ``query(_:_:)`` prepares it (`prepared`), or planned for its values.
    private func sending(
        _ sql: String, _ values: [String?], prepared: Bool, on handle: OpaquePointer
    ) throws -> (OpaquePointer) -> Int32 {
        let count = Int32(values.count)
        guard prepared && Self.isPreparable(sql) else {
            return { handle in withCStringArray(values) { PQsendQueryParams(handle, sql, count, nil, $0, nil, nil, 0) } }
        }
        let name = try preparedName(for: sql, parameterCount: values.count, handle: handle)
        return { handle in withCStringArray(values) { PQsendQueryPrepared(handle, name, count, $0, nil, nil, 0) } }
    }

    /// Queues a statement without parameters (BEGIN, COMMIT) in a pipeline.
    private static func sending(_ sql: String) -> (OpaquePointer) -> Int32 {
        { PQsendQueryParams($0, sql, 0, nil, nil, nil, nil, 0) }
    }

    /// One statement's result in a pipeline: its first result, read up to the NULL that ends it.
    private static func nextResult(_ handle: OpaquePointer) -> OpaquePointer? {
        var first: OpaquePointer?
        while let result = PQgetResult(handle) {
            if first == nil { first = result } else { PQclear(result) }
        }
        return first
    }

    // MARK: Statements

    /// Runs one statement with bound parameters and returns its rows.
    ///
    /// A query or data-changing statement is prepared on first use and its prepared form
    /// reused on this connection (up to ``preparedLimit`` of them), so the server parses and
    /// analyses it once: dsrd runs the same few hundred statements over and over. PostgreSQL
    /// plans each run for its values until a generic plan looks no dearer (`plan_cache_mode`).
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresEncodable] = []) throws -> PostgresRows {
        guard Self.isPreparable(sql) else { return try queryPlannedForValues(sql, parameters) }
        let handle = try liveHandle()
        let values = try texts(of: parameters)
        let name = try preparedName(for: sql, parameterCount: parameters.count, handle: handle)
        _ = try liveHandle()  // a cancel that came while the statement was being prepared
        let result = withCStringArray(values) { pointers in
            run(
                handle, exec: { PQexecPrepared($0, name, Int32(parameters.count), pointers, nil, nil, 0) },
                send: { PQsendQueryPrepared($0, name, Int32(parameters.count), pointers, nil, nil, 0) })
        }
        do {
            return try checked(result, handle: handle)
        } catch let error as PostgresError where error.meansStalePreparedStatement {
            // "cached plan must not change result type" after a table changed shape, or a
            // statement the server no longer knows: prepare it afresh, and outside a
            // transaction (which the error has aborted) try once more.
            forget(sql)
            guard PQtransactionStatus(handle) == PQTRANS_IDLE else { throw error }
            let again = try preparedName(for: sql, parameterCount: parameters.count, handle: handle)
            roundTrips += 1
            let retried = withCStringArray(values) { PQexecPrepared(handle, again, Int32(parameters.count), $0, nil, nil, 0) }
            return try checked(retried, handle: handle)
        }
    }

    /// Runs `statements` in one exchange with the server (a pipeline), in order, and returns
    /// each one's rows: for statements that do not depend on each other's results, such as
    /// the writes of one transaction. Each is prepared as ``query(_:_:)`` prepares it (a
    /// statement new to the connection is prepared first, in an exchange of its own).
    ///
    /// If one fails, the server skips those after it and its error is thrown. Inside a
    /// transaction, the transaction is then aborted, as after any failed statement; outside
    /// one, the statements run as one implicit transaction, so none of them took effect.
    public func queryEach(_ statements: [(sql: String, parameters: [any PostgresEncodable])]) throws -> [PostgresRows] {
        guard statements.count > 1 else { return try statements.map { try query($0.sql, $0.parameters) } }
        let handle = try liveHandle()
        var sends: [(OpaquePointer) -> Int32] = []
        if let begin = pendingBegin { sends.append(Self.sending(begin)) }
        for statement in statements {
            sends.append(try sending(statement.sql, try texts(of: statement.parameters), prepared: true, on: handle))
        }
        _ = try liveHandle()  // a cancel that came while a statement was being prepared
        let opening = pendingBegin != nil
        pendingBegin = nil
        roundTrips += 1
        var results = Self.pipelined(sends, on: handle)
        var failure: Error?
        if opening {
            // The BEGIN's failure, if it failed (the statements were then not run).
            do { _ = try checked(results.removeFirst(), handle: handle) } catch { failure = error }
        }
        var rows: [PostgresRows] = []
        for (index, result) in results.enumerated() {
            if failure != nil {
                if let result { PQclear(result) }
                continue
            }
            do {
                rows.append(try checked(result, handle: handle))
            } catch let error as PostgresError where error.meansStalePreparedStatement {
                forget(statements[index].sql)  // prepared afresh next time (see ``query(_:_:)``)
                failure = error
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return rows
    }

    /// Runs one statement with bound parameters without preparing it: the server parses and
    /// plans it for these values on every run. For statements whose best plan depends on the
    /// values, such as a batch passed as arrays (`… FROM unnest($1::bigint[])`), where a
    /// generic plan made after five runs can be far worse (a sequential scan of the whole
    /// table). Everything else on the connection keeps PostgreSQL's plan cache.
    @discardableResult
    public func queryPlannedForValues(_ sql: String, _ parameters: [any PostgresEncodable] = []) throws -> PostgresRows {
        let handle = try liveHandle()
        let values = try texts(of: parameters)
        let result = withCStringArray(values) { pointers in
            run(
                handle, exec: { PQexecParams($0, sql, Int32(parameters.count), nil, pointers, nil, nil, 0) },
                send: { PQsendQueryParams($0, sql, Int32(parameters.count), nil, pointers, nil, nil, 0) })
        }
        return try checked(result, handle: handle)
    }

    /// Most prepared statements kept per connection; the least recently prepared goes first.
    public static let preparedLimit = 256

    /// Queries and data-changing statements; utility statements (BEGIN, SET, COPY...) run as they are.
    static func isPreparable(_ sql: String) -> Bool {
        let start = sql.drop { $0 == " " || $0 == "\n" || $0 == "(" }.prefix(6).uppercased()
        return ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH "].contains { start.hasPrefix($0) }
    }

    private func preparedName(for sql: String, parameterCount: Int, handle: OpaquePointer) throws -> String {
        let key = StatementText(sql)
        if let name = prepared[key] { return name }
        if preparedOrder.count >= Self.preparedLimit, let oldest = preparedOrder.first {
            forget(oldest.sql)
        }
        preparedCount += 1
        let name = "dsrd_\(preparedCount)"
        roundTrips += 1
        let result = PQprepare(handle, name, sql, Int32(parameterCount), nil)
        _ = try checked(result, handle: handle)
        prepared[key] = name
        preparedOrder.append(key)
        return name
    }

    /// Drops a prepared statement (the server's copy too, when it can be reached).
    private func forget(_ sql: String) {
        let key = StatementText(sql)
        guard let name = prepared.removeValue(forKey: key) else { return }
        preparedOrder.removeAll { $0 == key }
        if let handle, PQtransactionStatus(handle) != PQTRANS_INERROR {
            roundTrips += 1
            PQclear(PQexec(handle, "DEALLOCATE \(name)"))
        }
    }

    /// Runs one statement with bound parameters and returns the number of rows it affected.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [any PostgresEncodable] = []) throws -> Int {
        let rows = try query(sql, parameters)
        guard let text = PQcmdTuples(rows.result) else { return 0 }
        return Int(String(cString: text)) ?? 0
    }

    /// Runs a query and hands each row to `body` as it arrives, so memory does not grow with
    /// the size of the result. Inside a transaction the rows come through a cursor,
    /// `fetchSize` (at least 1) at a time, one libpq result per batch instead of one per row;
    /// outside one, libpq's single-row mode is used. `sql` must be a query.
    /// The cursor sets `cursor_tuple_fraction` to 1 for the rest of the transaction.
    public func stream(
        _ sql: String, _ parameters: [any PostgresEncodable] = [], fetchSize: Int = 1_000,
        _ body: (PostgresRow) throws -> Void
    ) throws {
        if inTransaction {
            try streamThroughCursor(sql, parameters, fetchSize: fetchSize, body)
        } else {
            try streamSingleRows(sql, parameters, body)
        }
    }

    private func streamThroughCursor(
        _ sql: String, _ parameters: [any PostgresEncodable], fetchSize: Int,
        _ body: (PostgresRow) throws -> Void
    ) throws {
        cursorCount += 1
        let cursor = "dsrd_stream_\(cursorCount)"
        // The whole result is wanted: plan for it, not for the first 10% of rows (the
        // default would pick an ordered index scan of the whole table for `ORDER BY id`).
        try execute("SET LOCAL cursor_tuple_fraction = 1.0")
        try execute("DECLARE \(cursor) NO SCROLL CURSOR FOR \(sql)", parameters)
        let size = max(1, fetchSize)
        var shape: PostgresRows.Shape?
        while true {
            let handle = try liveHandle()
            roundTrips += 1
            let batch = try checked(PQexec(handle, "FETCH FORWARD \(size) FROM \(cursor)"), handle: handle, reusing: shape)
            shape = batch.shape
            for row in batch { try body(row) }
            if batch.count < size { break }
        }
        try execute("CLOSE \(cursor)")
    }

    private func streamSingleRows(
        _ sql: String, _ parameters: [any PostgresEncodable],
        _ body: (PostgresRow) throws -> Void
    ) throws {
        let handle = try liveHandle()
        roundTrips += 1
        let sent = withCStringArray(try texts(of: parameters)) { values in
            PQsendQueryParams(handle, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        guard sent == 1 else { throw PostgresError.from(connection: handle, fallback: "could not send query") }
        try receiveSingleRows(handle, body)
    }

    /// Runs a query prepared once per connection, like ``query(_:_:)``, and hands each row to
    /// `body` as it arrives, in libpq's single-row mode: memory does not grow with the result,
    /// and inside a transaction no cursor is declared (a `DECLARE` is parsed and planned on
    /// every run; a prepared statement under `plan_cache_mode = force_generic_plan` is planned
    /// once per connection). A statement the server no longer knows, or whose cached plan no
    /// longer fits the table's shape, is forgotten, so the next call prepares it afresh.
    public func streamPrepared(
        _ sql: String, _ parameters: [any PostgresEncodable] = [],
        _ body: (PostgresRow) throws -> Void
    ) throws {
        try sendPendingBegin()
        let handle = try liveHandle()
        let values = try texts(of: parameters)
        let name = try preparedName(for: sql, parameterCount: parameters.count, handle: handle)
        roundTrips += 1
        let sent = withCStringArray(values) { PQsendQueryPrepared(handle, name, Int32(parameters.count), $0, nil, nil, 0) }
        guard sent == 1 else { throw PostgresError.from(connection: handle, fallback: "could not send query") }
        do {
            try receiveSingleRows(handle, body)
        } catch let error as PostgresError where error.meansStalePreparedStatement {
            forget(sql)
            throw error
        }
    }

    /// Runs queries prepared once per connection, like ``streamPrepared(_:_:_:)``, in one
    /// exchange with the server (a pipeline), and hands each row to `body` as it arrives, with
    /// the index of its query: the queries' rows come in order, each query's in single-row
    /// mode, so memory does not grow with the results. For queries that do not depend on each
    /// other, such as the tables of one export. After a failure (the server's or `body`'s)
    /// the rest is read and dropped, and the first error thrown; inside a transaction, the
    /// transaction is then aborted.
    ///
    /// `committing`: the queries are the last statements of the transaction open on the
    /// connection (a ``transaction(_:_:)`` body's, with nothing queued for its COMMIT), and
    /// its COMMIT goes in the same exchange; the transaction then has nothing left to send.
    /// A failure leaves it uncommitted, and it is rolled back as after any failure.
    public func streamPreparedEach(
        _ queries: [(sql: String, parameters: [any PostgresEncodable])], committing: Bool = false,
        _ body: (Int, PostgresRow) throws -> Void
    ) throws {
        if committing {
            guard transactionDepth == 1, inTransaction, atCommit.isEmpty else {
                throw PostgresError(
                    kind: .usage,
                    message: "streamPreparedEach(committing:) outside a transaction body, or with statements queued for its COMMIT")
            }
        }
        guard queries.count > 1 || committing else {
            for (index, query) in queries.enumerated() { try streamPrepared(query.sql, query.parameters) { try body(index, $0) } }
            return
        }
        let handle = try liveHandle()
        let sends = try queries.map { try sending($0.sql, try texts(of: $0.parameters), prepared: true, on: handle) }
        _ = try liveHandle()  // a cancel that came while a query was being prepared
        roundTrips += 1
        guard PQenterPipelineMode(handle) == 1 else {
            throw PostgresError.from(connection: handle, fallback: "could not enter pipeline mode")
        }
        // A pending BEGIN goes first, in the same exchange.
        let begin = pendingBegin
        pendingBegin = nil
        let opening = begin.map { Self.sending($0)(handle) == 1 } ?? true
        var queued = 0
        for send in sends where opening {
            guard send(handle) == 1 else { break }
            queued += 1
        }
        let committed = committing && queued == sends.count && Self.sending("COMMIT")(handle) == 1
        // Synchronised even when a send failed, so the connection leaves pipeline mode clean.
        let synchronised = PQpipelineSync(handle) == 1
        var failure: Error? =
            queued < sends.count || committing != committed || !synchronised
            ? PostgresError.from(connection: handle, fallback: "could not send query") : nil
        if begin != nil && opening {
            // The BEGIN's failure, if it failed (the queries were then not run).
            do { _ = try checked(Self.nextResult(handle), handle: handle) } catch { failure = failure ?? error }
        }
        var stale: [String] = []
        for index in 0..<queued {
            // Row by row even after a failure: what is dropped is never held whole.
            let error = readSingleRows(handle, dropping: failure != nil) { try body(index, $0) }
            if let error = error as? PostgresError, error.meansStalePreparedStatement {
                stale.append(queries[index].sql)
            }
            failure = failure ?? error
        }
        if committed {
            // The COMMIT's result (skipped by the server after a failed query).
            let result = Self.nextResult(handle)
            if failure == nil {
                do { _ = try checked(result, handle: handle) } catch { failure = error }
            } else if let result {
                PQclear(result)
            }
        }
        // Up to the pipeline's synchronisation point (or the end of a broken connection).
        while synchronised, let extra = PQgetResult(handle) {
            let reached = PQresultStatus(extra) == PGRES_PIPELINE_SYNC
            PQclear(extra)
            if reached { break }
        }
        PQexitPipelineMode(handle)
        for sql in stale { forget(sql) }  // prepared afresh next time (see ``query(_:_:)``)
        if let failure { throw failure }
    }

    /// Reads a query's results in single-row mode, handing each row to `body`. After a
    /// failure (the server's or `body`'s) the rest is read and dropped, and the first error thrown.
    private func receiveSingleRows(_ handle: OpaquePointer, _ body: (PostgresRow) throws -> Void) throws {
        if let failure = readSingleRows(handle, dropping: false, body) { throw failure }
    }

    /// Reads one query's results in single-row mode (`dropping`: reads and drops them) and
    /// returns the first failure: the server's, or `body`'s, after which the server is asked
    /// to stop sending rows and the rest is dropped.
    private func readSingleRows(_ handle: OpaquePointer, dropping: Bool, _ body: (PostgresRow) throws -> Void) -> Error? {
        PQsetSingleRowMode(handle)
        var failure: Error?
        var shape: PostgresRows.Shape?
        while let result = PQgetResult(handle) {
            if dropping || failure != nil {
                PQclear(result)
                continue
            }
            do {
                let rows = try checked(result, handle: handle, reusing: shape)
                shape = rows.shape
                if rows.count > 0 { try body(rows[0]) }
            } catch {
                failure = error
                stopSending()
            }
        }
        return failure
    }

    /// Runs trusted, constant SQL that may hold several statements (migrations).
    /// Takes no parameters: never build its text from values.
    public func runScript(_ sql: String) throws {
        try sendPendingBegin()
        let handle = try liveHandle()
        roundTrips += 1
        guard PQsendQuery(handle, sql) == 1 else {
            throw PostgresError.from(connection: handle, fallback: "could not send script")
        }
        var failure: Error?
        while let result = PQgetResult(handle) {
            do {
                _ = try checked(result, handle: handle)
            } catch {
                if failure == nil { failure = error }
            }
        }
        if let failure { throw failure }
    }

    /// Text forms of the parameters. PostgreSQL text cannot hold a NUL character, and a C
    /// string would silently cut the value there, so such a value is refused instead.
    private func texts(of parameters: [any PostgresEncodable]) throws -> [String?] {
        try parameters.enumerated().map { index, parameter in
            let text = parameter.postgresText
            if let text, text.utf8.contains(0) {
                throw PostgresError(kind: .usage, message: "parameter $\(index + 1) contains a NUL character")
            }
            return text
        }
    }

    private func checked(_ result: OpaquePointer?, handle: OpaquePointer, reusing shape: PostgresRows.Shape? = nil) throws -> PostgresRows {
        guard let result else {
            throw PostgresError.from(connection: handle, fallback: "no result from server")
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE, PGRES_EMPTY_QUERY:
            return PostgresRows(result: result, reusing: shape)
        default:
            var error = PostgresError.from(result: result)
            if PQstatus(handle) != CONNECTION_OK { error.kind = .connection }
            PQclear(result)
            throw error
        }
    }
}

/// Calls `body` with an array of C strings (`nil` stays a NULL pointer),
/// valid only during the call.
func withCStringArray<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let pointers = strings.map { $0.flatMap { strdup($0) } }
    defer { for pointer in pointers { free(pointer) } }
    return body(pointers.map { $0.map { UnsafePointer($0) } })
}

/// A `PGcancel *`, only ever used under ``PostgresConnection``'s mutex.
struct CancelHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// What ``PostgresConnection``'s mutex guards: the cancel object and whether a cancel is in force.
struct Cancellation: Sendable {
    var handle: CancelHandle?
    var requested = false

    /// `PQcancel`; false when there is no connection or the request could not be sent.
    func send() -> Bool {
        guard let handle else { return false }
        var message = [CChar](repeating: 0, count: 256)
        return PQcancel(handle.pointer, &message, Int32(message.count)) == 1
    }
}
