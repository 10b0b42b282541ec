extension PostgresConnection {
    /// How a transaction begins: `BEGIN` alone, or with an isolation level and access mode.
    public enum TransactionMode: String, Sendable {
        case readWrite = "BEGIN"
        /// One snapshot for every statement, no writes (a consistent export).
        case repeatableReadOnly = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
    }

    /// Runs `body` in a transaction: committed if it returns, rolled back if it throws.
    /// The body is synchronous and isolated to this connection, so nothing else can run
    /// statements on it in between. Inside a transaction already, it uses a savepoint.
    ///
    /// The BEGIN is sent with the body's first statement, in one exchange with the server
    /// (a transaction's own round trips are its statements' and its COMMIT); a body that
    /// runs no statement costs none.
    @discardableResult
    public func transaction<T: Sendable>(
        _ mode: TransactionMode = .readWrite, _ body: @Sendable (isolated PostgresConnection) throws -> T
    ) throws -> T {
        let nested = inTransaction
        if nested { try execute("SAVEPOINT dsrd_nested") } else { pendingBegin = mode.rawValue }
        let queuedBefore = atCommit.count
        transactionDepth += 1
        defer { transactionDepth -= 1 }
        let value: T
        do {
            value = try body(self)
        } catch {
            if nested {
                atCommit.removeSubrange(queuedBefore...)
                rollBack("ROLLBACK TO SAVEPOINT dsrd_nested")
            } else {
                try? end(committing: false)
            }
            throw error
        }
        if nested { try execute("RELEASE SAVEPOINT dsrd_nested") } else { try end(committing: true) }
        return value
    }

    /// Ends the transaction: COMMIT (carrying the statements queued for it), or ROLLBACK.
    /// When its BEGIN was never sent and nothing is queued, or the body's last exchange
    /// committed it (``streamPreparedEach(_:committing:_:)``), there is nothing to end.
    private func end(committing: Bool) throws {
        if !committing {
            atCommit = []
            if pendingBegin != nil { pendingBegin = nil } else if hasOpenTransaction { rollBack("ROLLBACK") }
        } else if !atCommit.isEmpty {
            try commitCarryingQueued()
        } else if pendingBegin != nil {
            pendingBegin = nil
        } else if hasOpenTransaction {
            try execute("COMMIT")
        }
    }
}

extension PostgresConnection {
    /// Opens a transaction whose end the caller sends itself (`COMMIT` or `ROLLBACK` through
    /// ``execute(_:_:)``), for one that spans awaits on other connections. Like
    /// ``transaction(_:_:)``, the BEGIN goes with the first statement.
    public func begin(_ mode: TransactionMode = .readWrite) throws {
        guard !inTransaction else { throw PostgresError(kind: .usage, message: "a transaction is already open") }
        pendingBegin = mode.rawValue
    }
}

extension PostgresConnection {
    /// Runs `body` in a transaction and, before committing, awaits `beforeCommit` with its
    /// result: work elsewhere (recording in another database what this transaction did) that
    /// must be done before this transaction's effects become durable. The connection must
    /// not be shared meanwhile (a pooled connection is the caller's alone). If `beforeCommit`
    /// throws, the transaction is rolled back.
    public func transaction<T: Sendable>(
        _ mode: TransactionMode, _ beforeCommit: @Sendable (T) async throws -> Void,
        _ body: @Sendable (isolated PostgresConnection) throws -> T
    ) async throws -> T {
        guard !inTransaction else { throw PostgresError(kind: .usage, message: "a transaction is already open") }
        pendingBegin = mode.rawValue
        do {
            transactionDepth += 1
            let value: T
            do {
                defer { transactionDepth -= 1 }
                value = try body(self)
            }
            try await beforeCommit(value)
            try end(committing: true)
            return value
        } catch {
            try? end(committing: false)
            throw error
        }
    }
}
