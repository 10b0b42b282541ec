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
    @discardableResult
    public func transaction<T: Sendable>(
        _ mode: TransactionMode = .readWrite, _ body: @Sendable (isolated PostgresConnection) throws -> T
    ) throws -> T {
        let nested = inTransaction
        try execute(nested ? "SAVEPOINT dsrd_nested" : mode.rawValue)
        let value: T
        do {
            value = try body(self)
        } catch {
            rollBack(nested ? "ROLLBACK TO SAVEPOINT dsrd_nested" : "ROLLBACK")
            throw error
        }
        try execute(nested ? "RELEASE SAVEPOINT dsrd_nested" : "COMMIT")
        return value
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
        try execute(mode.rawValue)
        do {
            let value = try body(self)
            try await beforeCommit(value)
            try execute("COMMIT")
            return value
        } catch {
            rollBack("ROLLBACK")
            throw error
        }
    }
}
