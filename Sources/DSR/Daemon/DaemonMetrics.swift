import Metrics

/// What the daemon measures as it works, through swift-metrics: no-ops until a backend is
/// bootstrapped (`dsrd run` with `metrics.enabled` bootstraps swift-prometheus). Names and
/// labels are listed in the README ("Metrics"); no label ever holds personal data.
public enum DaemonMetrics {
    /// Buckets for job and store-task durations: 5 ms to 30 min.
    public static let durationBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
        .seconds(300), .seconds(1800),
    ]

    /// One attempt of a job, from its claim to its outcome.
    static func attemptFinished(kind: String, outcome: JobOutcome, after duration: Duration) {
        let result: String
        switch outcome {
        case .completed: result = "completed"
        case .failed(_, let retryAfter, let budget): result = retryAfter == nil && budget == nil ? "dead" : "failed"
        case .released: result = "released"
        case .postponed: result = "postponed"
        }
        Counter(label: "dsrd_job_attempts_total", dimensions: [("kind", kind), ("outcome", result)]).increment()
        Timer(label: "dsrd_job_duration_seconds", dimensions: [("kind", kind), ("outcome", result)]).record(duration: duration)
    }

    /// One attempt that ran past its kind's timeout.
    static func attemptTimedOut(kind: String) {
        Counter(label: "dsrd_job_timeouts_total", dimensions: [("kind", kind)]).increment()
    }

    /// One store task's work (export, erasure or change) in one store, whether it succeeded.
    static func storeTask(store: String, operation: String, succeeded: Bool, after duration: Duration) {
        Timer(
            label: "dsrd_store_task_duration_seconds",
            dimensions: [("store", store), ("operation", operation), ("outcome", succeeded ? "done" : "failed")]
        ).record(duration: duration)
    }

    /// One notice delivery attempt on a channel (`email`, `sms`).
    static func notice(channel: String, sent: Bool) {
        Counter(label: "dsrd_notices_total", dimensions: [("channel", channel), ("result", sent ? "sent" : "failed")]).increment()
    }
}
