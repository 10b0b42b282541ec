import Postgres

/// A small pool of connections for handlers, created on demand up to `maximum`.
/// A connection that broke is dropped instead of being returned.
public actor ConnectionPool {
    private let conninfo: String
    private let maximum: Int
    private var idle: [PostgresConnection] = []
    private var open = 0
    /// Callers waiting for a connection, first come first served: a released connection goes
    /// straight to the longest waiter (nil: a connection closed, open a new one), so a caller
    /// arriving later cannot take it first and starve the queue.
    private var waiters: [CheckedContinuation<PostgresConnection?, Never>] = []

    /// Session settings every connection gets when it opens (`statement_timeout`,
    /// `lock_timeout`), set with `set_config`, so they hold for the connection's life.
    private let settings: [(name: String, value: String)]

    public init(conninfo: String, maximum: Int, settings: [(name: String, value: String)] = []) {
        self.conninfo = conninfo
        self.maximum = max(1, maximum)
        self.settings = settings
    }

    public func withConnection<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await acquire()
        do {
            let value = try await body(connection)
            await release(connection)
            return value
        } catch {
            await release(connection)
            throw error
        }
    }

    /// Closes the idle connections (those in use close when they come back broken, or stay
    /// until the process ends).
    public func close() async {
        let closing = idle
        idle = []
        open -= closing.count
        for connection in closing { await connection.close() }
    }

    private func acquire() async throws -> PostgresConnection {
        if waiters.isEmpty, let connection = idle.popLast() { return connection }
        if waiters.isEmpty, open < maximum { return try await openConnection() }
        while true {
            if let handed = await withCheckedContinuation({ waiters.append($0) }) { return handed }
            // Woken without a connection: one was closed, so there is room to open another.
            if let connection = idle.popLast() { return connection }
            if open < maximum { return try await openConnection() }
        }
    }

    private func openConnection() async throws -> PostgresConnection {
        open += 1
        do {
            return try await PostgresConnection.connect(conninfo, settings: settings)
        } catch {
            open -= 1
            wakeOne()
            throw error
        }
    }

    private func release(_ connection: PostgresConnection) async {
        let open = await connection.isOpen
        let busy = await connection.inTransaction
        if open && !busy {
            if !waiters.isEmpty {
                waiters.removeFirst().resume(returning: connection)
            } else {
                idle.append(connection)
            }
        } else {
            self.open -= 1
            wakeOne()
        }
    }

    private func wakeOne() {
        if !waiters.isEmpty { waiters.removeFirst().resume(returning: nil) }
    }
}
