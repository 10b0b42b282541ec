import ArgumentParser
import Foundation

/// `dsrd-bench`: dsrd's throughput and memory against the physical limits of the same
/// PostgreSQL cluster, in one run. See README "Benchmarks" and docs/SCALING.md.
@main
struct DSRDBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dsrd-bench",
        abstract: "Benchmark dsrd against pgbench and psql \\copy on a throwaway PostgreSQL cluster.",
        discussion: """
            Starts its own cluster (Deploy/scripts/pg-cluster, loopback, synchronous_commit=on, \
            no unlogged tables), the demo stores and an SMTP sink, runs the phases, prints a \
            table and a JSON report, and removes everything again. Uses the dsrd binary built \
            next to it: run it through Deploy/bench, or `swift build -c release` first.
            """)

    enum Phase: String, CaseIterable, ExpressibleByArgument {
        case queue, access, export, erasure, latency, notices, portal
    }

    @Option(help: "Phases to run, comma-separated.", transform: Self.phases) var phases: [Phase] = Phase.allCases
    @Option(help: "No-op jobs queued per queue run.") var jobs = 100_000
    @Option(help: "Workers per process, comma-separated.", transform: Self.integers) var workers = [1, 2, 4, 8, 64]
    @Option(help: "Daemon processes, comma-separated.", transform: Self.integers) var processes = [1, 4]
    @Option(help: "queue.batch_size for the queue runs.") var batchSize = 64
    @Option(help: "Seconds pgbench -N runs.") var pgbenchSeconds = 15
    @Option(help: "pgbench's scale factor (100,000 accounts each).") var pgbenchScale = 10
    @Option(help: "Customers in the demo stores (dsrd demo's default size).") var demoCustomers = 10_000
    @Option(help: "Access requests for distinct demo customers.") var accessRequests = 200
    @Option(help: "Erasure requests for distinct demo customers.") var erasureRequests = 100
    @Option(help: "Orders of the person whose export is timed against \\copy.") var orders = 10_000
    @Option(help: "Times that export is repeated (the median is reported).") var repetitions = 3
    @Option(help: "Orders of each person whose access and erasure are timed end to end.") var latencyOrders = 1_000
    @Option(help: "People timed end to end (the median and the worst are reported).") var latencyPeople = 5
    @Option(help: "Email notices sent to the SMTP sink.") var notices = 1_000
    @Option(help: "Workers for the notice run.") var noticeWorkers = 16
    @Flag(help: "A small run (about a minute) that checks every phase works; figures are not meaningful.") var quick = false
    @Option(help: "Instead of the phases: a chaos soak of this many minutes (Deploy/soak; README \"Chaos soak\").")
    var soakMinutes: Double?
    @Option(help: "The soak's fault schedule seed (printed by every run; default random).") var seed: UInt64?
    @Option(help: "Also write the JSON report to this file.") var json: String?
    @Option(help: "An earlier JSON report (--json) to compare this run's request figures with.") var baseline: String?

    mutating func run() async throws {
        if quick {
            jobs = 2_000
            workers = [1, 8]
            processes = [1, 2]
            pgbenchSeconds = 3
            pgbenchScale = 1
            demoCustomers = 300
            accessRequests = 10
            erasureRequests = 5
            orders = 500
            repetitions = 1
            latencyOrders = 100
            latencyPeople = 1
            notices = 20
            noticeWorkers = 4
        }
        // Read the baseline first: a wrong path should fail now, not after a long run.
        let earlier = try baseline.map { path in
            guard let data = FileManager.default.contents(atPath: path),
                let report = try? JSONSerialization.jsonObject(with: data) as? [String: Any], report["targets"] != nil
            else { throw ValidationError("\(path) is not a dsrd-bench JSON report (write one with --json)") }
            return report
        }
        let environment = try BenchEnvironment(repository: Self.repository())
        StopOnSignal.install { environment.stop() }
        defer { environment.stop() }
        if let soakMinutes {
            try await soak(minutes: soakMinutes, environment: environment)
            return
        }
        var report = BenchReport(
            startedAt: ISO8601DateFormatter().string(from: Date()),
            machine: .init(
                cpus: ProcessInfo.processInfo.activeProcessorCount,
                memoryMiB: Int(ProcessInfo.processInfo.physicalMemory / 1_048_576), postgres: "", swiftBuild: Self.build))
        progress("starting PostgreSQL, the demo stores (\(demoCustomers) customers) and the SMTP sink in \(environment.work.path)")
        try await environment.start(demoCustomers: demoCustomers)
        let admin = try await environment.connect()
        report.machine.postgres =
            "PostgreSQL " + (try await admin.query("SHOW server_version")[0].decode("server_version", as: String.self))
        await admin.close()

        if phases.contains(.queue) {
            let queue = QueueBenchmark(environment: environment, jobs: jobs, batchSize: batchSize)
            progress("pgbench -N, 8 clients, scale \(pgbenchScale), \(pgbenchSeconds) s")
            let tps = try queue.pgbench(clients: 8, seconds: pgbenchSeconds, scale: pgbenchScale)
            report.ceiling = .init(pgbenchClients: 8, pgbenchScale: pgbenchScale, pgbenchSeconds: pgbenchSeconds, pgbenchTPS: tps.rounded())
            for count in processes {
                for perProcess in workers {
                    progress("queue: \(jobs) no-op jobs, \(count) process(es) x \(perProcess) worker(s)")
                    report.queue.append(try await queue.run(processes: count, workers: perProcess, ceiling: tps))
                }
            }
        }
        let requests = RequestBenchmark(environment: environment)
        var used = Set<String>()
        if phases.contains(.access) {
            progress("access: \(accessRequests) requests for demo customers")
            report.fanOut.append(
                try await requests.run(kind: "access", customers: try await requests.customers(accessRequests, excluding: &used)))
        }
        let person = ExportBenchmark(environment: environment, orders: orders)
        if phases.contains(.export) || phases.contains(.erasure) {
            progress("adding a person with \(orders) orders")
            try await person.addPerson()
            // Never one of the demo customers picked at random below: erased there first, the
            // person's own erasure would find nothing left.
            used.insert(person.customerID)
        }
        if phases.contains(.export) {
            progress("export: that person's access request, \(repetitions) time(s), and psql \\copy of the same rows")
            let export = try await person.runExport(repetitions: repetitions)
            report.export = export
            report.ceiling?.copyRowsPerSecond = export.copyRowsPerSecond
        }
        if phases.contains(.erasure) {
            progress("erasure: \(erasureRequests) demo customers, then the person with \(orders) orders")
            report.erasure.append(
                try await requests.run(kind: "erasure", customers: try await requests.customers(erasureRequests, excluding: &used)))
            report.erasure.append(try await person.runErasure())
        }
        if phases.contains(.latency) {
            progress("latency: \(latencyPeople) people with \(latencyOrders) orders each, access then erasure")
            report.latency = try await LatencyBenchmark(environment: environment, orders: latencyOrders, people: latencyPeople).run()
        }
        if phases.contains(.notices) {
            progress("notices: \(notices) emails, \(noticeWorkers) workers")
            report.notices = try await NoticeBenchmark(environment: environment).run(count: notices, workers: noticeWorkers)
        }
        if phases.contains(.portal) {
            progress("portal: status page and submissions at 50 and 200 clients")
            report.portal = try await PortalBenchmark(environment: environment, seconds: quick ? 1 : 5).run()
        }
        report.evaluateTargets()
        print(report.table())
        print("")
        if let earlier {
            let comparison = report.comparison(with: earlier)
            if !comparison.isEmpty { print(comparison + "\n") }
        }
        let text = try report.json()
        print(text)
        if let json { try (text + "\n").write(toFile: json, atomically: true, encoding: .utf8) }
    }

    func soak(minutes: Double, environment: BenchEnvironment) async throws {
        let seed = self.seed ?? UInt64.random(in: 1...UInt64.max)
        progress("chaos soak: \(minutes) min, seed \(seed) (--seed to replay); starting PostgreSQL, the demo stores and the SMTP sink")
        try await environment.start(demoCustomers: max(400, Int(minutes * 120) * 2))
        let summary = try await ChaosSoak(environment: environment, minutes: minutes, seed: seed).run()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let text = String(decoding: try encoder.encode(summary), as: UTF8.self)
        print(text)
        if let json { try (text + "\n").write(toFile: json, atomically: true, encoding: .utf8) }
        if !summary.problems.isEmpty {
            progress("chaos soak FAILED (seed \(seed)): \(summary.problems.count) problem(s)")
            throw ExitCode(1)
        }
        progress("chaos soak passed (seed \(seed))")
    }

    func progress(_ message: String) {
        FileHandle.standardError.write(Data("dsrd-bench: \(message)\n".utf8))
    }

    static var build: String {
        #if DEBUG
            "debug"
        #else
            "release"
        #endif
    }

    /// The checkout: the current folder when it holds the scripts, else where this file was built.
    static func repository() throws -> URL {
        let current = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let built = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for candidate in [current, built]
        where FileManager.default.fileExists(atPath: candidate.appendingPathComponent("Deploy/scripts/pg-cluster").path) {
            return candidate
        }
        throw ValidationError("run dsrd-bench from the dsrd checkout (Deploy/scripts/pg-cluster not found)")
    }

    static func integers(_ text: String) throws -> [Int] {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("expected positive integers separated by commas: \(text)")
        }
        return values.compactMap { $0 }
    }

    static func phases(_ text: String) throws -> [Phase] {
        try text.split(separator: ",").map {
            guard let phase = Phase(rawValue: $0.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("unknown phase \($0); phases: \(Phase.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return phase
        }
    }
}

/// Stops the cluster and the sink when the run is interrupted (Ctrl-C, SIGTERM).
enum StopOnSignal {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    static func install(_ cleanUp: @escaping @Sendable () -> Void) {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                cleanUp()
                exit(130)
            }
            source.resume()
            sources.append(source)
        }
    }
}
