import Logging
import Postgres

/// A connection that is re-established, with backoff, after it breaks.
///
/// Owned by one loop. The loop calls ``connection()`` before each operation and
/// ``failed(_:)`` when one throws; a connection error drops the connection and waits
/// (100 ms doubling to 5 s) before the next attempt. Whether the failed operation may be
/// repeated is the caller's decision.
struct DatabaseLink {
    let conninfo: String
    /// Session limits applied when the connection opens (`SessionLimits`).
    let settings: [(name: String, value: String)]
    let logger: Logger
    private var current: PostgresConnection?
    private var consecutiveFailures = 0

    init(conninfo: String, settings: [(name: String, value: String)] = [], logger: Logger) {
        self.conninfo = conninfo
        self.settings = settings
        self.logger = logger
    }

    mutating func connection() async throws -> PostgresConnection {
        if let current { return current }
        let connection = try await PostgresConnection.connect(conninfo, settings: settings)
        current = connection
        return connection
    }

    mutating func succeeded() { consecutiveFailures = 0 }

    /// Records a failure; drops the connection if it broke, then backs off.
    mutating func failed(_ error: Error) async {
        consecutiveFailures += 1
        var broken = (error as? PostgresError)?.kind == .connection
        if !broken, let current { broken = !(await current.isOpen) }
        if broken { current = nil }
        let delay = Duration.milliseconds(min(5000, 100 << min(consecutiveFailures - 1, 6)))
        logger.warning(
            "database operation failed",
            metadata: ["dsr.error": "\(error)", "dsr.retry_in_ms": "\(delay.milliseconds)"])
        try? await Task.sleep(for: delay)
    }

    mutating func close() async {
        await current?.close()
        current = nil
    }
}
