import DSR
import Postgres
import Prometheus

/// The gauges read from dsrd's database at each scrape, in one statement: queue depth by
/// job kind and state, requests by status, and the age of the oldest open request. Every
/// combination is set at each scrape (0 when absent), so a series never sticks at an old value.
struct DatabaseGauges: Sendable {
    let registry: PrometheusCollectorRegistry

    static let queueStates = ["ready", "scheduled", "running", "dead"]

    static var jobsDescriptor: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "dsrd", metricName: "jobs", unitName: "",
            helpText: "Jobs in the queue by kind and state: ready (due now), scheduled (waiting for a retry or a time), running, dead.")
    }
    static var requestsDescriptor: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "dsrd", metricName: "requests", unitName: "", helpText: "Rights requests by status.")
    }

    /// One arm per job state, each served by its partial index (`jobs_ready`, `jobs_leased`,
    /// `jobs_dead`): a scrape never reads the queue's completed history.
    static let sql = """
        SELECT 'jobs' AS metric, kind AS a, CASE WHEN run_at <= now() THEN 'ready' ELSE 'scheduled' END AS b, count(*)::float8 AS value
          FROM dsr.jobs WHERE state = 'available' GROUP BY 2, 3
        UNION ALL
        SELECT 'jobs', kind, 'running', count(*)::float8 FROM dsr.jobs WHERE state = 'running' GROUP BY 2
        UNION ALL
        SELECT 'jobs', kind, 'dead', count(*)::float8 FROM dsr.jobs WHERE state = 'dead' GROUP BY 2
        UNION ALL
        SELECT 'requests', status, '', count(*)::float8 FROM dsr.requests GROUP BY 2
        UNION ALL
        SELECT 'oldest', '', '', coalesce(extract(epoch FROM now() - min(received_at)), 0)::float8
          FROM dsr.requests WHERE completed_at IS NULL
        """

    /// Reads and sets every gauge; returns false (and sets `dsrd_database_up` to 0) when the
    /// database could not be read, leaving the other gauges as they were.
    func refresh(_ pool: ConnectionPool) async -> Bool {
        let up = registry.makeGauge(
            descriptor: .init(
                namespace: "dsrd", metricName: "database", unitName: "up",
                helpText: "1 when the last scrape could read dsrd's database, else 0."))
        let rows: [(metric: String, a: String, b: String, value: Double)]
        do {
            rows = try await pool.withConnection { connection in
                try await connection.query(Self.sql).map {
                    (
                        try $0.decode("metric", as: String.self), try $0.decode("a", as: String.self), try $0.decode("b", as: String.self),
                        try $0.decode("value", as: Double.self)
                    )
                }
            }
        } catch {
            up.set(Double(0))
            return false
        }
        up.set(Double(1))
        var jobs: [String: Double] = [:]
        var requests: [String: Double] = [:]
        var oldest = 0.0
        for row in rows {
            switch row.metric {
            case "jobs": jobs[row.a + "/" + row.b] = row.value
            case "requests": requests[row.a] = row.value
            default: oldest = row.value
            }
        }
        for kind in JobKind.allCases.map(\.rawValue) {
            for state in Self.queueStates {
                registry.makeGauge(descriptor: Self.jobsDescriptor, labels: [("kind", kind), ("state", state)])
                    .set(jobs[kind + "/" + state] ?? 0)
            }
        }
        for status in RequestStatus.allCases.map(\.rawValue) {
            registry.makeGauge(descriptor: Self.requestsDescriptor, labels: [("status", status)]).set(requests[status] ?? 0)
        }
        registry.makeGauge(
            descriptor: .init(
                namespace: "dsrd", metricName: "oldest_open_request_age", unitName: "seconds",
                helpText: "Age of the oldest request not yet completed, refused or cancelled.")
        ).set(oldest)
        return true
    }
}
