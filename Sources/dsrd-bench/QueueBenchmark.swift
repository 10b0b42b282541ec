import Foundation
import Postgres

/// No-op probe jobs claimed and completed by P processes of W workers each; the rate is
/// measured inside the database (jobs / (last finished_at - first attempted_at)), so process
/// start-up is not counted. pgbench -N on the same cluster is the ceiling.
struct QueueBenchmark {
    let environment: BenchEnvironment
    let jobs: Int
    let batchSize: Int

    func pgbench(clients: Int, seconds: Int, scale: Int) throws -> Double {
        try shell("createdb pgbench && pgbench -q -i -s \(scale) pgbench >/dev/null 2>&1")
        let output = try capture("pgbench -N -c \(clients) -j \(min(clients, 2)) -T \(seconds) pgbench 2>/dev/null")
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
            let tps = Double(line.dropFirst("tps = ".count).prefix { $0.isNumber || $0 == "." })
        else { throw BenchError("no tps in pgbench's output:\n\(output)") }
        try shell("dropdb pgbench")
        return tps
    }

    func run(processes: Int, workers: Int, ceiling: Double) async throws -> BenchReport.QueueRun {
        let connection = try await environment.connect()
        try await connection.execute("TRUNCATE dsr.jobs, dsr.probe_results, dsr.workers")
        try await connection.execute("INSERT INTO dsr.jobs (kind) SELECT 'probe' FROM generate_series(1, $1)", [jobs])
        try await connection.execute("VACUUM ANALYZE dsr.jobs")
        let peak = try await environment.withDaemons(
            processes,
            ["--workers", "\(workers)", "--set", "queue.batch_size=\(batchSize)", "--set", "log.level=warning"]
                + environment.configArguments,
            until: {
                try await connection.query("SELECT count(*) AS n FROM dsr.jobs WHERE state <> 'completed'")[0].decode("n", as: Int.self)
                    == 0
            },
            timeout: .seconds(max(120, jobs / 200)))
        let row = try await connection.query(
            """
            SELECT count(*) AS jobs, extract(epoch FROM max(finished_at) - min(attempted_at))::float8 AS seconds
              FROM dsr.jobs WHERE state = 'completed'
            """)[0]
        let completed = try row.decode("jobs", as: Int.self)
        let seconds = try row.decode("seconds", as: Double.self)
        await connection.close()
        let rate = Double(completed) / seconds
        return BenchReport.QueueRun(
            processes: processes, workers: workers, batchSize: batchSize, jobs: completed, seconds: seconds.rounded(to: 3),
            jobsPerSecond: rate.rounded(), ratioToPgbench: (rate / ceiling).rounded(to: 2), peakRSSMebibytes: peak.rounded(to: 1))
    }
}
