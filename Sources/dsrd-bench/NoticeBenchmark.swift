import Foundation
import Postgres

/// Email notices per second to the loopback SMTP sink: N completed requests, each with its
/// Thai "completed" email queued (acknowledgements and DPO reports removed first, so one kind
/// is timed); rate = notices / (first delivery attempt - last sent_at).
struct NoticeBenchmark {
    let environment: BenchEnvironment

    func run(count: Int, workers: Int) async throws -> BenchReport.NoticeRun {
        let connection = try await environment.connect()
        // Only this phase's notices may be in the queue.
        try await connection.execute("DELETE FROM dsr.jobs WHERE state <> 'completed'")
        let ids = try await connection.query(
            "SELECT dsr.submit('access', jsonb_build_object('email', 'notice.bench.' || g || '@example.co.th')) AS id FROM generate_series(1, $1) g",
            [count]
        ).map { try $0.decode("id", as: UUID.self) }
        try await connection.execute("DELETE FROM dsr.jobs WHERE request_id = ANY($1::uuid[]) OR state <> 'completed'", [ids])
        try await connection.execute("DELETE FROM dsr.outbox WHERE request_id = ANY($1::uuid[])", [ids])
        try await connection.execute(
            "SELECT dsr.complete_request(id, '{\"rows_exported\": 1}') FROM dsr.requests WHERE id = ANY($1::uuid[])", [ids])
        try await connection.execute(
            """
            DELETE FROM dsr.jobs WHERE state <> 'completed' AND (kind <> 'notice'
                OR payload->>'outbox_id' IN (SELECT id::text FROM dsr.outbox WHERE audience = 'dpo' AND state <> 'sent'))
            """)
        try await connection.execute("DELETE FROM dsr.outbox WHERE audience = 'dpo' AND state <> 'sent'")
        let before = environment.mailCount
        let peak = try await environment.withDaemons(
            1, ["--workers", "\(workers)"] + environment.configArguments,
            until: {
                try await connection.query(
                    "SELECT count(*) AS n FROM dsr.outbox WHERE request_id = ANY($1::uuid[]) AND state <> 'sent'", [ids]
                )[0].decode("n", as: Int.self) == 0
            },
            timeout: .seconds(600))
        let row = try await connection.query(
            """
            SELECT count(*) AS n, extract(epoch FROM max(o.sent_at) - min(j.attempted_at))::float8 AS seconds
              FROM dsr.outbox o JOIN dsr.jobs j ON (j.payload->>'outbox_id')::bigint = o.id
             WHERE o.request_id = ANY($1::uuid[])
            """, [ids])[0]
        await connection.close()
        let sent = try row.decode("n", as: Int.self)
        let seconds = try row.decode("seconds", as: Double.self)
        return BenchReport.NoticeRun(
            notices: sent, workers: workers, seconds: seconds.rounded(to: 3), noticesPerSecond: (Double(sent) / seconds).rounded(to: 1),
            received: environment.mailCount - before, peakRSSMebibytes: peak.rounded(to: 1))
    }
}
