import Foundation
import Postgres
import TestSupport

/// What every phase shares: a throwaway PostgreSQL cluster in a folder of its own (started
/// with `Deploy/scripts/pg-cluster`, stopped and removed at the end), the `bench` database
/// migrated, a proof key, the demo stores, and an SMTP sink on loopback.
final class BenchEnvironment: @unchecked Sendable {
    /// `dsr.submit` options for requests an operator took after checking the person's ID:
    /// the benchmark measures the pipeline, not the one-time code round trip.
    static let verifiedAtSubmission =
        #"{"verification": {"method": "in_person", "evidence": "ID card checked (benchmark)", "operator": "dsrd-bench"}}"#

    let repository: URL
    let work: URL
    let exports: URL
    private(set) var smtpPort = 0
    private var sink: Process?
    private var clusterStarted = false

    init(repository: URL) throws {
        self.repository = repository
        let template = FileManager.default.temporaryDirectory.appendingPathComponent("dsrd-bench.XXXXXX").path
        var buffer = Array(template.utf8CString)
        guard mkdtemp(&buffer) != nil else { throw BenchError("cannot create a work folder under \(template)") }
        work = URL(fileURLWithPath: String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        exports = work.appendingPathComponent("exports")
        // The server runs as `postgres` when we are root; it must reach its folder.
        chmod(work.path, 0o755)
    }

    /// Starts the cluster and the SMTP sink and prepares the `bench` database.
    func start(demoCustomers: Int) async throws {
        try shell("\(quoted(script("Deploy/scripts/pg-cluster"))) start \(quoted(work.appendingPathComponent("pg").path)) 2>/dev/null")
        clusterStarted = true
        let env = try String(contentsOf: work.appendingPathComponent("pg/env"), encoding: .utf8)
        for line in env.split(separator: "\n") where line.hasPrefix("export ") {
            let pair = line.dropFirst("export ".count).split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { setenv(pair[0], pair[1], 1) }
        }
        try shell("createdb bench")
        setenv("PGDATABASE", "bench", 1)
        for (key, value) in daemonEnvironment { setenv(key, value, 1) }
        try await dsrd(["keygen", work.appendingPathComponent("proof").path])
        try await dsrd(["migrate"] + configArguments)
        try await dsrd(["demo", "--customers", "\(demoCustomers)"] + configArguments)
        // The bulk load leaves work for autovacuum and the checkpointer; done now, it does not
        // land inside whichever phase runs first.
        for database in ["bench", "dsr_customer", "dsr_order", "dsr_marketing"] {
            try shell("psql -q -d \(database) -c 'VACUUM ANALYZE' >/dev/null")
        }
        try shell("psql -q -d bench -c CHECKPOINT >/dev/null")
        try startSMTPSink()
    }

    /// Settings every daemon in the benchmark shares (as dsrd's own environment variables).
    var daemonEnvironment: [String: String] {
        [
            "DSRD_EXPORTS_DIRECTORY": exports.path,
            "DSRD_PROOFS_SIGNING_KEY_FILE": work.appendingPathComponent("proof.key").path,
            "DSRD_MINORS_ENABLED": "false",
            "DSRD_LOG_LEVEL": "error",
            "DSRD_DAEMON_MIGRATE_ON_START": "false",
        ]
    }

    /// `--config Config/dsrd.toml` plus the loopback SMTP sink once it runs.
    var configArguments: [String] {
        // The retention sweep is not what is measured: it would take the generated old rows at start.
        var arguments =
            ["--config", repository.appendingPathComponent("Config/dsrd.toml").path, "--set", "retention.enabled=false"]
            + SeedCompany.arguments
        if smtpPort > 0 {
            arguments += [
                "--set", "email.smtp_url=smtp://127.0.0.1:\(smtpPort)", "--set", "email.require_tls=false",
                "--set", "email.from_address=privacy@smarttec.example",
                // As in production: without it every DPO notice fails and is retried, work
                // a configured daemon does not do.
                "--set", "notices.dpo_email=dpo@smarttec.example",
            ]
        }
        return arguments
    }

    func connect(_ database: String = "bench") async throws -> PostgresConnection {
        try await PostgresConnection.connect("dbname=\(database)", applicationName: "dsrd-bench")
    }

    /// Runs a `dsrd` command to completion; its output is shown only when it fails.
    @discardableResult
    func dsrd(_ arguments: [String]) async throws -> String {
        let (status, output) = try await DaemonProcess.run(arguments)
        guard status == 0 else { throw BenchError("dsrd \(arguments.first ?? "") failed (\(status)):\n\(output)") }
        return output
    }

    /// Starts `count` daemons with `arguments` after `run`, waits for `done`, and returns the
    /// highest peak RSS (VmHWM) among them, read just before they are stopped.
    func withDaemons(
        _ count: Int = 1, _ arguments: [String], until done: @escaping () async throws -> Bool, timeout: Duration
    ) async throws -> Double {
        try await whileDaemonsRun(count, arguments) { daemons in
            let finished = try await eventually(timeout: timeout, every: .milliseconds(50)) {
                try Self.checkRunning(daemons)
                return try await done()
            }
            guard finished else {
                throw BenchError("the daemons did not finish within \(timeout):\n" + daemons.map(\.output).joined(separator: "\n"))
            }
        }.peak
    }

    /// Starts `count` daemons, runs `body` while they run (warm: connections open, statements
    /// prepared), then stops them; returns `body`'s result and the highest peak RSS (VmHWM).
    func whileDaemonsRun<Result>(
        _ count: Int = 1, _ arguments: [String], _ body: ([DaemonProcess]) async throws -> Result
    ) async throws -> (result: Result, peak: Double) {
        let daemons = try (0..<count).map { _ in try DaemonProcess(["run"] + arguments) }
        defer { for daemon in daemons { daemon.signal(SIGKILL) } }
        let result = try await body(daemons)
        let peak = daemons.map(\.peakResidentMebibytes).max() ?? 0
        for daemon in daemons { daemon.signal(SIGTERM) }
        for daemon in daemons { _ = try await daemon.waitForExit(timeout: .seconds(60)) }
        return (result, peak)
    }

    static func checkRunning(_ daemons: [DaemonProcess]) throws {
        if let exited = daemons.first(where: { !$0.isRunning }) {
            throw BenchError("dsrd run exited early (\(exited.process.terminationStatus)):\n\(exited.output)")
        }
    }

    private func startSMTPSink() throws {
        let portFile = work.appendingPathComponent("smtp.port")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [
            script("Tests/Servers/smtp_sink.py"), "--dir", work.appendingPathComponent("mail").path, "--port-file", portFile.path,
        ]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        sink = process
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: portFile.path) { usleep(50_000) }
        guard let text = try? String(contentsOf: portFile, encoding: .utf8),
            let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            throw BenchError("the SMTP sink did not start (python3-aiosmtpd installed? Deploy/scripts/install-deps)")
        }
        smtpPort = port
    }

    /// Messages the SMTP sink has received so far.
    var mailCount: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: work.appendingPathComponent("mail").path).count) ?? 0
    }

    private let stopping = NSLock()
    private var stopped = false

    /// Stops the sink and the cluster and removes the work folder; safe to call twice and
    /// from a signal handler while the run is still going.
    func stop() {
        stopping.lock()
        defer { stopping.unlock() }
        guard !stopped else { return }
        stopped = true
        if let sink { kill(sink.processIdentifier, SIGTERM) }
        if clusterStarted {
            try? shell("\(quoted(script("Deploy/scripts/pg-cluster"))) stop \(quoted(work.appendingPathComponent("pg").path))")
        }
        try? FileManager.default.removeItem(at: work)
    }

    func script(_ path: String) -> String { repository.appendingPathComponent(path).path }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs `command` with /bin/sh (system(3): a server it starts may keep our pipes open, which
/// Foundation's Process would wait on forever).
func shell(_ command: String) throws {
    let status = system(command)
    guard status == 0 else { throw BenchError("`\(command)` failed with status \(status)") }
}

/// Runs `command` with /bin/sh and returns its standard output.
func capture(_ command: String) throws -> String {
    guard let pipe = popen(command, "r") else { throw BenchError("cannot run `\(command)`") }
    var output = Data()
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&buffer, 1, buffer.count, pipe)
        if count == 0 { break }
        output.append(contentsOf: buffer[0..<count])
    }
    let status = pclose(pipe)
    guard status == 0 else { throw BenchError("`\(command)` failed with status \(status)") }
    return String(decoding: output, as: UTF8.self)
}

func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }
