import CLibPQ

extension PostgresConnection {
    /// Runs `body` inside a transaction: committed when it returns, rolled back when it
    /// throws. The body runs on the connection's thread with no suspension point, so no
    /// other caller's statement can interleave with it. Called inside another
    /// transaction, it uses a savepoint instead.
    public func transaction<T: Sendable>(_ body: @Sendable (isolated PostgresConnection) throws -> T) throws -> T {
        let nested = inTransaction
        try execute(nested ? "SAVEPOINT dsrd_nested" : "BEGIN")
        let value: T
        do {
            value = try body(self)
        } catch {
            if isOpen {
                _ = try? execute(nested ? "ROLLBACK TO SAVEPOINT dsrd_nested" : "ROLLBACK")
            }
            throw error
        }
        try execute(nested ? "RELEASE SAVEPOINT dsrd_nested" : "COMMIT")
        return value
    }
}
