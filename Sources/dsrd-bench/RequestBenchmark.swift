import Foundation
import Postgres

/// Rights requests end to end on the demo stores: N requests for distinct random demo
/// customers are submitted, then one daemon with the configured workers answers them all.
/// Requests per second = completed / (last completion - first claim).
struct RequestBenchmark {
    let environment: BenchEnvironment

    /// `count` random adult demo customers not used by an earlier phase (a minor's request waits
    /// for a guardian, PDPA s.20: that is policy, not throughput).
    func customers(_ count: Int, excluding used: inout Set<String>) async throws -> [String] {
        let store = try await environment.connect("dsr_customer")
        let ids = try await store.query(
            "SELECT id FROM customers WHERE NOT (id = ANY($1::text[])) AND NOT coalesce(date_of_birth > current_date - interval '20 years', false) ORDER BY random() LIMIT $2",
            [Array(used), count]
        ).map { try $0.decode("id", as: String.self) }
        await store.close()
        used.formUnion(ids)
        return ids
    }

    /// Runs with the shipped configuration's `queue.workers`.
    func run(kind: String, customers: [String]) async throws -> BenchReport.RequestRun {
        let connection = try await environment.connect()
        let ids = try await connection.query(
            "SELECT dsr.submit($1, jsonb_build_object('customer_id', c), $3::jsonb) AS id FROM unnest($2::text[]) AS c",
            [kind, customers, BenchEnvironment.verifiedAtSubmission]
        ).map { try $0.decode("id", as: UUID.self) }
        let peak = try await environment.withDaemons(
            1, environment.configArguments,
            until: {
                try await connection.query(
                    // A request held for identity verification would wait for ever: it counts as not completed.
                    "SELECT count(*) AS n FROM dsr.requests WHERE id = ANY($1::uuid[]) AND completed_at IS NULL AND status <> 'awaiting_verification'",
                    [ids]
                )[0].decode("n", as: Int.self) == 0
            },
            timeout: .seconds(600))
        let row = try await connection.query(
            """
            SELECT count(*) FILTER (WHERE r.status = 'completed') AS completed,
                   extract(epoch FROM max(r.completed_at) - (SELECT min(j.attempted_at) FROM dsr.jobs j WHERE j.request_id = ANY($1::uuid[])))::float8 AS seconds,
                   coalesce(sum(coalesce((r.result->>'rows_exported')::bigint, 0) + coalesce((r.result->>'rows_erased')::bigint, 0) + coalesce((r.result->>'rows_held')::bigint, 0)), 0)::int8 AS rows
              FROM dsr.requests r WHERE r.id = ANY($1::uuid[])
            """, [ids])[0]
        await connection.close()
        let seconds = try row.decode("seconds", as: Double.self)
        let rows = try row.decode("rows", as: Int.self)
        let completed = try row.decode("completed", as: Int.self)
        return BenchReport.RequestRun(
            kind: kind, requests: ids.count, completed: completed, seconds: seconds.rounded(to: 3),
            requestsPerSecond: (Double(completed) / seconds).rounded(to: 1), rows: rows, rowsPerSecond: (Double(rows) / seconds).rounded(),
            peakRSSMebibytes: peak.rounded(to: 1))
    }
}
