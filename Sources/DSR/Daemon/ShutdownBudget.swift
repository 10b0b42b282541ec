/// How long a stopping `dsrd run` may take, step by step. After SIGTERM the worker pool
/// stops claiming and lets running jobs finish within `daemon.shutdown_grace`, releasing the
/// rest; then the completer has `completionDrain` to commit what finished. The sum, plus
/// `margin`, must end before systemd's `TimeoutStopSec`, or systemd kills the process in the
/// middle of a commit; a test reads Deploy/dsrd.service and Config/dsrd.toml and checks.
public enum ShutdownBudget {
    public static let completionDrain: Duration = .seconds(5)
    /// Releasing jobs, closing connections, process exit.
    public static let margin: Duration = .seconds(10)

    /// The longest a stop can take with this grace.
    public static func worstCase(grace: Duration) -> Duration { grace + completionDrain + margin }
}
