import Postgres

/// A small pool of connections for handlers, created on demand up to `maximum`.
///
/// - A connection that broke, or came back inside a transaction, is dropped instead of
///   being reused.
/// - One that sat idle for `healthCheckAfter` or longer answers a `SELECT 1` before it is
///   handed out; if it cannot (the server restarted, a firewall forgot it), it is replaced.
/// - Waiters are served first come, first served, and a waiting task that is cancelled
///   stops waiting (`CancellationError`).
/// - A task cancelled while it holds a connection cancels the statement running on it
///   (`PQcancel`): a statement blocked on a lock or a hung store ends instead of holding its
///   worker forever. Its later statements fail at once, and the cancel is sent again (1 s,
///   2 s, 4 s... apart, at most 30 s) until the connection comes back: PostgreSQL drops a
///   cancel that reaches it just before the statement does.
public actor ConnectionPool {
    private let conninfo: String
    private let maximum: Int
    private let healthCheckAfter: Duration
    private var idle: [(connection: PostgresConnection, since: ContinuousClock.Instant)] = []
    private var open = 0
    /// Callers waiting for a connection. A released connection goes straight to the longest
    /// waiter (nil: a connection closed, open a new one), so a caller arriving later cannot
    /// take it first and starve the queue.
    private var waiters: [(id: Int, continuation: CheckedContinuation<PostgresConnection?, any Error>)] = []
    private var nextWaiterID = 0

    /// Session settings every connection gets when it opens (`statement_timeout`,
    /// `lock_timeout`), set with `set_config`, so they hold for the connection's life.
    private let settings: [(name: String, value: String)]

    public init(
        conninfo: String, maximum: Int, settings: [(name: String, value: String)] = [], healthCheckAfter: Duration = .seconds(30)
    ) {
        self.conninfo = conninfo
        self.maximum = max(1, maximum)
        self.settings = settings
        self.healthCheckAfter = healthCheckAfter
    }

    public func withConnection<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await acquire()
        do {
            let value = try await withTaskCancellationHandler {
                try await body(connection)
            } onCancel: {
                connection.cancelRunningStatement()
                Task { await Self.repeatCancel(on: connection) }
            }
            await release(connection)
            return value
        } catch {
            await release(connection)
            throw error
        }
    }

    /// Runs `body` with up to `count` more connections that are free now: idle ones, or new
    /// ones while the pool is below its maximum and nobody is waiting. It never waits for
    /// another caller's connection, so a caller that already holds one cannot deadlock with
    /// others doing the same; `body` may get none. For work that goes faster spread over
    /// several connections when they are free (a large export's tables).
    public func withSpareConnections<T: Sendable>(
        upTo count: Int, _ body: @Sendable ([PostgresConnection]) async throws -> T
    ) async throws -> T {
        // Opened concurrently: each open suspends this actor while it connects.
        let spares = await withTaskGroup(of: PostgresConnection?.self) { group in
            for _ in 0..<max(0, count) { group.addTask { await self.acquireIfFree() } }
            var spares: [PostgresConnection] = []
            for await spare in group { if let spare { spares.append(spare) } }
            return spares
        }
        do {
            let value = try await withTaskCancellationHandler {
                try await body(spares)
            } onCancel: {
                for spare in spares {
                    spare.cancelRunningStatement()
                    Task { await Self.repeatCancel(on: spare) }
                }
            }
            for spare in spares { await release(spare) }
            return value
        } catch {
            for spare in spares { await release(spare) }
            throw error
        }
    }

    /// A connection at once, or nil: see ``withSpareConnections(upTo:_:)``.
    private func acquireIfFree() async -> PostgresConnection? {
        guard waiters.isEmpty, !Task.isCancelled else { return nil }
        if let connection = await takeHealthyIdle() { return connection }
        guard open < maximum else { return nil }
        return try? await openConnection()
    }

    /// Sends a cancel again, with growing pauses, while it is still in force on `connection`
    /// (until ``release(_:)`` clears it).
    private static func repeatCancel(on connection: PostgresConnection) async {
        var pause = Duration.seconds(1)
        while true {
            try? await Task.sleep(for: pause)
            guard connection.repeatCancel() else { return }
            pause = min(pause * 2, .seconds(30))
        }
    }

    /// Connections open now, in use or idle (for tests and metrics).
    public var openConnections: Int { open }
    /// Callers waiting for a connection now (for tests and metrics).
    public var waiting: Int { waiters.count }

    /// Closes the idle connections (those in use close when they come back broken, or stay
    /// until the process ends).
    public func close() async {
        let closing = idle
        idle = []
        open -= closing.count
        for entry in closing { await entry.connection.close() }
    }

    private func acquire() async throws -> PostgresConnection {
        try Task.checkCancellation()
        if waiters.isEmpty, let connection = await takeHealthyIdle() { return connection }
        if waiters.isEmpty, open < maximum { return try await openConnection() }
        while true {
            if let handed = try await waitForConnection() { return handed }
            // Woken without a connection: one was closed, so there is room to open another.
            if let connection = await takeHealthyIdle() { return connection }
            if open < maximum { return try await openConnection() }
        }
    }

    private func waitForConnection() async throws -> PostgresConnection? {
        let id = nextWaiterID
        nextWaiterID += 1
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    waiters.append((id, continuation))
                }
            }
        } onCancel: {
            Task { await self.stopWaiting(id) }
        }
    }

    private func stopWaiting(_ id: Int) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }  // already served
        waiters.remove(at: index).continuation.resume(throwing: CancellationError())
    }

    /// The most recently used idle connection that still works, or nil when none does.
    private func takeHealthyIdle() async -> PostgresConnection? {
        while let entry = idle.popLast() {
            if ContinuousClock.now - entry.since < healthCheckAfter { return entry.connection }
            if (try? await entry.connection.query("SELECT 1")) != nil { return entry.connection }
            open -= 1
            await entry.connection.close()
        }
        return nil
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
        connection.clearCancellation()
        let open = await connection.isOpen
        let busy = await connection.inTransaction
        if open && !busy {
            if !waiters.isEmpty {
                waiters.removeFirst().continuation.resume(returning: connection)
            } else {
                idle.append((connection, ContinuousClock.now))
            }
        } else {
            self.open -= 1
            await connection.close()
            wakeOne()
        }
    }

    private func wakeOne() {
        if !waiters.isEmpty { waiters.removeFirst().continuation.resume(returning: nil) }
    }
}
