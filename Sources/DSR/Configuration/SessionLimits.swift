/// Limits on each database session, as PostgreSQL settings a connection pool applies when a
/// connection opens: `statement_timeout` (the server cancels a statement that runs longer)
/// and `lock_timeout` (it gives up waiting for a lock). Milliseconds; 0 switches one off.
public enum SessionLimits {
    public static func settings(statement: Duration, lock: Duration) -> [(name: String, value: String)] {
        [("statement_timeout", milliseconds(statement)), ("lock_timeout", milliseconds(lock))]
    }

    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
