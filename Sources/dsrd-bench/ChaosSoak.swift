import DSR
import Foundation
import Postgres
import TestSupport

/// `dsrd-bench --soak-minutes N` (Deploy/soak): a mixed load of access, erasure and
/// rectification requests while faults are injected at seeded random times, then the
/// invariants that say nothing was lost or done twice.
///
/// Faults, one at a time, each for a few seconds: a store table held under an ACCESS
/// EXCLUSIVE lock (a hung store; `connectors.lock_timeout` is off, so only the job timeout
/// and `PQcancel` end it); a TCP proxy in front of the order store that stalls or cuts every
/// connection; a PostgreSQL restart; SIGKILL of a daemon (a new one replaces it); SIGSTOP and
/// SIGCONT of a daemon; an SMTP proxy that accepts and never answers; the exports folder
/// replaced by a file (unwritable even for root).
struct ChaosSoak {
    let environment: BenchEnvironment
    let minutes: Double
    let seed: UInt64
    let daemons = 3

    enum Fault: String, CaseIterable, Codable {
        case storeHang = "store_hang"
        case proxyStall = "proxy_stall"
        case proxyCut = "proxy_cut"
        case postgresRestart = "postgres_restart"
        case sigkill
        case sigstop
        case smtpBlackhole = "smtp_blackhole"
        case exportsUnwritable = "exports_unwritable"
    }

    /// Attempt timeouts in the soak, per job kind (short, so hangs end within the run).
    static let timeouts: [String: Int] = ["request": 10, "store_task": 10, "finalize": 20, "notice": 90, "probe": 10]
    static let leaseSeconds = 5

    struct Summary: Codable {
        var seed: UInt64
        var minutes: Double
        var faults: [String: Int] = [:]
        var requestsSubmitted: [String: Int] = [:]
        var requestsCompleted = 0
        var requestsNotCompleted: [String] = []
        var jobsRetried = 0
        /// Jobs seen back in the queue after their lease expired (a killed or stopped daemon).
        var jobsRescued = 0
        /// Jobs seen failed by their attempt timeout (the statement cancelled).
        var jobsTimedOut = 0
        var deadJobs: [String: Int] = [:]
        /// The longest any attempt was seen running, sampled every second.
        var longestAttemptSeconds = 0.0
        /// The longest any job stayed `running` beyond its kind's timeout, sampled every second.
        var worstOverrunSeconds = 0.0
        var allowedOverrunSeconds = 0.0
        var proofsVerified = 0
        var exportsVerified = 0
        var mailsAccepted = 0
        var mailsSentTwice = 0
        var peakRssMib: [Double] = []
        /// Daemons that exited on their own (e.g. `dsrd run` started while PostgreSQL was
        /// restarting exits 69) and were started again, as systemd's `Restart=on-failure` does.
        var daemonsRestarted = 0
        var problems: [String] = []
    }

    func run() async throws -> Summary {
        var random = SplitMix64(state: seed)
        var summary = Summary(seed: seed, minutes: minutes)
        summary.allowedOverrunSeconds = Double(Self.leaseSeconds + 1 + 1 + 3)  // one lease, a heartbeat, a rescue round, slack
        let storeProxy = try ChaosProxy(
            environment: environment, name: "store", target: Int(ProcessInfo.processInfo.environment["PGPORT"] ?? "") ?? 5432)
        let smtpProxy = try ChaosProxy(environment: environment, name: "smtp", target: environment.smtpPort)
        defer {
            storeProxy.stop()
            smtpProxy.stop()
        }
        let arguments =
            ["run"] + environment.configArguments + [
                "--set", "email.smtp_url=smtp://127.0.0.1:\(smtpProxy.port)",
                "--set", "queue.workers=4", "--set", "queue.poll_interval=1s", "--set", "queue.lease_duration=\(Self.leaseSeconds)s",
                "--set", "queue.heartbeat_interval=1s", "--set", "queue.rescue_interval=1s", "--set", "queue.max_attempts=40",
                "--set", "queue.retry_base_delay=500ms", "--set", "queue.retry_max_delay=5s", "--set", "queue.store_retry_max_delay=5s",
                "--set", "queue.request_timeout=\(Self.timeouts["request"]!)s", "--set",
                "queue.store_task_timeout=\(Self.timeouts["store_task"]!)s",
                "--set", "queue.finalize_timeout=\(Self.timeouts["finalize"]!)s", "--set",
                "queue.notice_timeout=\(Self.timeouts["notice"]!)s",
                "--set", "connectors.lock_timeout=0", "--set", "daemon.shutdown_grace=5s", "--set", "notices.resend_in_doubt=true",
            ]
        // The stalled proxy is met with the daemon's own connect bound, whatever
        // PGCONNECT_TIMEOUT the soak was started with (the test script lengthens it).
        let daemonEnvironment = [
            "DSRD_STORE_ORDER_URL":
                "host=127.0.0.1 port=\(storeProxy.port) dbname=dsr_order connect_timeout=\(PostgresConnection.defaultConnectTimeout)",
            "DSRD_LOG_LEVEL": "warning",
        ]
        var running = try (0..<daemons).map { _ in try DaemonProcess(arguments, environment: daemonEnvironment) }
        var peaks = [Double](repeating: 0, count: daemons)
        defer {
            for daemon in running {
                daemon.signal(SIGCONT)
                daemon.signal(SIGKILL)
            }
        }

        // The load: one request every half second for distinct adult demo customers.
        let total = max(12, Int(minutes * 120))
        let customers = try await Self.unambiguousCustomers(total, environment: environment)
        let kinds = ["access", "erasure", "access", "rectification"]
        let load = Task { () -> [(UUID, String, String)] in
            var submitted: [(UUID, String, String)] = []
            for (index, customer) in customers.enumerated() {
                let kind = kinds[index % kinds.count]
                let options =
                    #"{"idempotency_key": "soak-\#(index)", "verification": {"method": "in_person", "evidence": "ID card checked (soak)", "operator": "soak"}"#
                    + (kind == "rectification" ? #", "changes": {"address": "soak address \#(index)"}}"# : "}")
                // Resubmitted with the same idempotency key while PostgreSQL restarts: one request.
                while !Task.isCancelled {
                    if let id = try? await Self.submit(kind, customer: customer, options: options, environment: environment) {
                        submitted.append((id, kind, customer))
                        break
                    }
                    try? await Task.sleep(for: .milliseconds(200))
                }
                try? await Task.sleep(for: .milliseconds(500))
            }
            return submitted
        }
        let monitor = OverrunMonitor(environment: environment)
        let watching = Task { await monitor.watch() }

        // The faults, one after another until the load is in.
        let end = ContinuousClock.now + .milliseconds(Int64(minutes * 60_000))
        var cuts = 0
        // What systemd does with dsrd.service: a daemon that exited with a failure is started
        // again. A configuration error (78) would stop there (RestartPreventExitStatus): it is
        // a problem of the run.
        func restartExited() throws {
            for slot in running.indices where !running[slot].isRunning {
                let status = running[slot].process.terminationStatus
                if status == 78 {
                    summary.problems.append("a daemon exited with a configuration error:\n\(running[slot].output.suffix(2000))")
                }
                peaks[slot] = max(peaks[slot], running[slot].peakResidentMebibytes)
                summary.daemonsRestarted += 1
                running[slot] = try DaemonProcess(arguments, environment: daemonEnvironment)
            }
        }
        while ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(Int64.random(in: 1_000...4_000, using: &random)))
            try restartExited()
            let fault = Fault.allCases.randomElement(using: &random)!
            let seconds = Int.random(in: 3...14, using: &random)
            summary.faults[fault.rawValue, default: 0] += 1
            switch fault {
            case .storeHang:
                let table = ["customer": "customers", "marketing": "subscriptions"].randomElement(using: &random)!
                try? await Self.holdLock(on: "dsr_" + table.key, table: table.value, for: .seconds(seconds))
            case .proxyStall:
                storeProxy.set("stall")
                try await Task.sleep(for: .seconds(seconds))
                storeProxy.set("pass")
            case .proxyCut:
                cuts += 1
                storeProxy.set("cut \(cuts)")
            case .postgresRestart:
                try shell(
                    "\(quoted(environment.script("Deploy/scripts/pg-cluster"))) restart \(quoted(environment.work.appendingPathComponent("pg").path))"
                )
            case .sigkill:
                let slot = try await Self.busiest(running, environment: environment) ?? Int.random(in: 0..<running.count, using: &random)
                peaks[slot] = max(peaks[slot], running[slot].peakResidentMebibytes)
                running[slot].signal(SIGKILL)
                running[slot] = try DaemonProcess(arguments, environment: daemonEnvironment)
            case .sigstop:
                let slot = try await Self.busiest(running, environment: environment) ?? Int.random(in: 0..<running.count, using: &random)
                running[slot].signal(SIGSTOP)
                try await Task.sleep(for: .seconds(seconds))
                running[slot].signal(SIGCONT)
            case .smtpBlackhole:
                smtpProxy.set("stall")
                try await Task.sleep(for: .seconds(seconds))
                smtpProxy.set("pass")
            case .exportsUnwritable:
                // The folder moves away and a file takes its place. A daemon may create the
                // folder again in between (its next export): then the fault is partial, and
                // whatever it wrote there is moved back with the rest, never dropped.
                // Before the first export no daemon has made the folder yet: make it, to move it.
                let away = environment.exports.appendingPathExtension("away")
                try FileManager.default.createDirectory(at: environment.exports, withIntermediateDirectories: true)
                try FileManager.default.moveItem(at: environment.exports, to: away)
                _ = FileManager.default.createFile(atPath: environment.exports.path, contents: Data("not a folder\n".utf8))
                try await Task.sleep(for: .seconds(seconds))
                try Self.restore(environment.exports, from: away)
            }
        }
        let submitted = await load.value
        for (_, kind, _) in submitted { summary.requestsSubmitted[kind, default: 0] += 1 }

        // Quiet again: every request must finish.
        let ids = submitted.map(\.0)
        let connection = try await environment.connect()
        let settled = try await eventually(timeout: .seconds(600), every: .seconds(1)) {
            try restartExited()
            for (slot, daemon) in running.enumerated() { peaks[slot] = max(peaks[slot], daemon.peakResidentMebibytes) }
            let open = try await connection.query(
                """
                SELECT (SELECT count(*) FROM dsr.requests WHERE id = ANY($1::uuid[]) AND completed_at IS NULL)
                     + (SELECT count(*) FROM dsr.outbox WHERE state IN ('pending', 'sending')) AS n
                """, [ids])
            return try open[0].decode("n", as: Int.self) == 0
        }
        watching.cancel()
        summary.worstOverrunSeconds = await monitor.worst
        summary.longestAttemptSeconds = await monitor.longest
        summary.jobsRescued = await monitor.rescued.count
        summary.jobsTimedOut = await monitor.timedOut.count
        summary.peakRssMib = peaks.map { ($0 * 10).rounded() / 10 }
        if !settled { summary.problems.append("requests or notices still open 10 minutes after the load ended") }
        try await check(submitted, on: connection, into: &summary)
        await connection.close()
        for daemon in running { daemon.signal(SIGTERM) }
        for daemon in running where try await daemon.waitForExit(timeout: .seconds(60)) != 0 {
            summary.problems.append("a daemon did not stop cleanly on SIGTERM:\n\(daemon.output.suffix(2000))")
        }
        return summary
    }

    /// The invariants: every request completed; one audit entry and one valid proof per
    /// erasure; every export matches its manifest; erased people gone, corrections applied;
    /// no Message-ID sent with two different bodies; no job held past its timeout plus a lease.
    func check(_ submitted: [(UUID, String, String)], on connection: PostgresConnection, into summary: inout Summary) async throws {
        let ids = submitted.map(\.0)
        for row in try await connection.query(
            "SELECT id, status, coalesce(current_step, '') AS step FROM dsr.requests WHERE id = ANY($1::uuid[])", [ids])
        {
            let status = try row.decode("status", as: String.self)
            if status == "completed" {
                summary.requestsCompleted += 1
            } else {
                summary.requestsNotCompleted.append(
                    "\(try row.decode("id", as: UUID.self)) \(status): \(try row.decode("step", as: String.self))")
            }
        }
        if summary.requestsCompleted != submitted.count {
            summary.problems.append("\(submitted.count - summary.requestsCompleted) request(s) not completed")
        }
        summary.jobsRetried = try await connection.query("SELECT count(*) AS n FROM dsr.jobs WHERE attempt > 1")[0].decode(
            "n", as: Int.self)
        for row in try await connection.query("SELECT kind, count(*) AS n FROM dsr.jobs WHERE state = 'dead' GROUP BY 1") {
            summary.deadJobs[try row.decode("kind", as: String.self)] = try row.decode("n", as: Int.self)
        }
        if !summary.deadJobs.isEmpty { summary.problems.append("dead jobs: \(summary.deadJobs)") }
        if summary.worstOverrunSeconds > summary.allowedOverrunSeconds {
            summary.problems.append(
                "a job stayed running \(summary.worstOverrunSeconds) s past its timeout (allowed \(summary.allowedOverrunSeconds) s)")
        }

        // Erasures: one audit entry, one proof that verifies, the person gone.
        let publicKey = try ProofKeys.loadPublicKey(environment.work.appendingPathComponent("proof.pub").path)
        let erasures = submitted.filter { $0.1 == "erasure" }
        let entries = try await connection.query(
            "SELECT request_id, count(*) AS n FROM dsr.audit_log WHERE request_id = ANY($1::uuid[]) GROUP BY 1", [erasures.map(\.0)])
        let counted = Dictionary(
            uniqueKeysWithValues: try entries.map { (try $0.decode("request_id", as: UUID.self), try $0.decode("n", as: Int.self)) })
        for (id, _, _) in erasures {
            if counted[id] != 1 { summary.problems.append("erasure \(id) has \(counted[id] ?? 0) audit entries") }
            let path = environment.exports.appendingPathComponent("proofs/\(id.uuidString.lowercased()).json").path
            guard let data = FileManager.default.contents(atPath: path) else {
                summary.problems.append("erasure \(id) has no proof file")
                continue
            }
            let verdict = ProofVerifier.verify(file: data, publicKey: publicKey)
            if verdict.valid { summary.proofsVerified += 1 } else { summary.problems.append("proof of \(id): \(verdict.reasons)") }
        }
        let store = try await environment.connect("dsr_customer")
        let left = try await store.query("SELECT count(*) AS n FROM customers WHERE id = ANY($1::text[])", [erasures.map(\.2)])[0]
            .decode("n", as: Int.self)
        if left > 0 { summary.problems.append("\(left) erased customer(s) still in the customer store") }
        let rectified = submitted.enumerated().filter { $0.element.1 == "rectification" }
        for (index, (_, _, customer)) in rectified {
            let address = try await store.query("SELECT address FROM customers WHERE id = $1", [customer]).first?.decode(
                "address", as: String?.self)
            if address != "soak address \(index)" { summary.problems.append("rectification of \(customer) not applied") }
        }
        await store.close()

        // Exports: each matches its manifest.
        for row in try await connection.query(
            "SELECT id, result ->> 'export_path' AS path FROM dsr.requests WHERE id = ANY($1::uuid[]) AND kind = 'access' AND status = 'completed'",
            [ids])
        {
            let id = try row.decode("id", as: UUID.self)
            guard let path = try row.decode("path", as: String?.self) else {
                summary.problems.append("access \(id) has no export")
                continue
            }
            let problems = ExportVerifier.problems(path: path, requestID: id)
            if problems.isEmpty { summary.exportsVerified += 1 } else { summary.problems.append("export of \(id): \(problems)") }
        }

        // Mail: a Message-ID may arrive twice (a send in doubt, resent), never with two bodies.
        var bodies: [String: Set<String>] = [:]
        let mail = environment.work.appendingPathComponent("mail")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: mail.path)) ?? [] where name.hasSuffix(".eml") {
            guard let text = try? String(contentsOf: mail.appendingPathComponent(name), encoding: .utf8) else { continue }
            let id = text.split(separator: "\r\n").first { $0.lowercased().hasPrefix("message-id:") }.map(String.init) ?? name
            var body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
            // A resent message is rendered again: only its random MIME boundary may differ.
            if let boundary = text.firstMatch(of: /boundary="?([^";\r\n]+)"?/)?.output.1 {
                body = body.replacingOccurrences(of: String(boundary), with: "BOUNDARY")
            }
            bodies[id, default: []].insert(Digests.sha256Hex(Data(body.utf8)))
            summary.mailsAccepted += 1
        }
        summary.mailsSentTwice = summary.mailsAccepted - bodies.count
        let conflicting = bodies.filter { $0.value.count > 1 }
        if !conflicting.isEmpty { summary.problems.append("\(conflicting.count) Message-ID(s) sent with different bodies") }
        for (slot, peak) in summary.peakRssMib.enumerated() where peak > 128 {
            summary.problems.append("daemon \(slot) peaked at \(peak) MiB")
        }
    }

    static func submit(_ kind: String, customer: String, options: String, environment: BenchEnvironment) async throws -> UUID {
        let connection = try await environment.connect()
        defer { Task { await connection.close() } }
        return try await connection.query(
            "SELECT dsr.submit($1, jsonb_build_object('customer_id', $2::text), $3::jsonb) AS id", [kind, customer, options]
        )[0].decode("id", as: UUID.self)
    }

    /// Adult demo customers whose email, phone and national id no other customer shares. The
    /// demo stores share some on purpose (a family's phone, duplicate accounts), and a change
    /// for one such customer rightly reaches the other record too; the soak's invariants
    /// ("this customer's address is what their rectification set") need one record per person.
    static func unambiguousCustomers(_ count: Int, environment: BenchEnvironment) async throws -> [String] {
        let store = try await environment.connect("dsr_customer")
        defer { Task { await store.close() } }
        return try await store.query(
            """
            SELECT id FROM (
                SELECT id, date_of_birth, national_id,
                       count(*) OVER (PARTITION BY lower(btrim(email))) AS emails,
                       count(*) OVER (PARTITION BY national_id) AS national_ids,
                       count(*) OVER (PARTITION BY right(regexp_replace(phone, '\\D', '', 'g'), 9)) AS phones
                  FROM customers) AS c
             WHERE NOT coalesce(date_of_birth > current_date - interval '20 years', false)
               AND emails = 1 AND phones = 1 AND (national_id IS NULL OR national_ids = 1)
             ORDER BY random() LIMIT $1
            """, [count]
        ).map { try $0.decode("id", as: String.self) }
    }

    /// The daemon holding the most running jobs (a kill or a freeze there leaves leases to
    /// rescue), or nil when none holds any. Worker ids are `host:pid:suffix`.
    static func busiest(_ daemons: [DaemonProcess], environment: BenchEnvironment) async throws -> Int? {
        guard let connection = try? await environment.connect() else { return nil }
        defer { Task { await connection.close() } }
        let holders = try await connection.query(
            "SELECT split_part(locked_by, ':', 2)::int AS pid, count(*) AS n FROM dsr.jobs WHERE state = 'running' GROUP BY 1 ORDER BY 2 DESC"
        )
        for row in holders {
            let pid = try row.decode("pid", as: Int32.self)
            if let slot = daemons.firstIndex(where: { $0.pid == pid }) { return slot }
        }
        return nil
    }

    /// Puts the exports folder back: anything a daemon wrote into a folder it re-created
    /// meanwhile joins what was moved away (newer files win). A daemon may create the folder
    /// again between the removal and the move: then it is merged again.
    static func restore(_ exports: URL, from away: URL) throws {
        let files = FileManager.default
        for attempt in 1...20 {
            var isFolder: ObjCBool = false
            if files.fileExists(atPath: exports.path, isDirectory: &isFolder), isFolder.boolValue {
                try merge(exports, into: away)
            }
            try? files.removeItem(at: exports)
            do {
                return try files.moveItem(at: away, to: exports)
            } catch  where attempt < 20 && files.fileExists(atPath: exports.path) {
                continue
            }
        }
    }

    static func merge(_ source: URL, into target: URL) throws {
        let files = FileManager.default
        for name in try files.contentsOfDirectory(atPath: source.path) {
            let from = source.appendingPathComponent(name)
            let to = target.appendingPathComponent(name)
            var isFolder: ObjCBool = false
            if files.fileExists(atPath: from.path, isDirectory: &isFolder), isFolder.boolValue, files.fileExists(atPath: to.path) {
                try merge(from, into: to)
            } else {
                try? files.removeItem(at: to)
                try files.moveItem(at: from, to: to)
            }
        }
    }

    /// A store's table locked from a session of its own, as a long migration would.
    static func holdLock(on database: String, table: String, for duration: Duration) async throws {
        let connection = try await PostgresConnection.connect("dbname=\(database)", applicationName: "dsrd-soak")
        try await connection.execute("BEGIN")
        try await connection.execute("LOCK TABLE \(table) IN ACCESS EXCLUSIVE MODE")
        try await Task.sleep(for: duration)
        _ = try? await connection.execute("ROLLBACK")
        await connection.close()
    }
}

/// Samples, every second, how far the longest-running job is past its kind's timeout.
actor OverrunMonitor {
    let environment: BenchEnvironment
    private(set) var worst = 0.0
    private(set) var longest = 0.0
    private(set) var rescued = Set<Int64>()
    private(set) var timedOut = Set<Int64>()

    init(environment: BenchEnvironment) { self.environment = environment }

    func watch() async {
        let timeouts = ChaosSoak.timeouts
        var connection: PostgresConnection?
        while !Task.isCancelled {
            do {
                if connection == nil { connection = try await environment.connect() }
                let row = try await connection!.query(
                    """
                    SELECT coalesce(max(extract(epoch FROM now() - j.attempted_at) - t.seconds), 0)::float8 AS over,
                           coalesce(max(extract(epoch FROM now() - j.attempted_at)), 0)::float8 AS longest,
                           (SELECT coalesce(string_agg(id::text, ',') FILTER (WHERE last_error LIKE 'lease expired%'), '')
                              FROM dsr.jobs WHERE state IN ('available', 'running')) AS rescued,
                           (SELECT coalesce(string_agg(id::text, ',') FILTER (WHERE last_error LIKE 'timed out after%'), '')
                              FROM dsr.jobs WHERE state IN ('available', 'running')) AS timed_out
                      FROM dsr.jobs AS j JOIN unnest($1::text[], $2::int[]) AS t(kind, seconds) ON t.kind = j.kind
                     WHERE j.state = 'running'
                    """, [Array(timeouts.keys), timeouts.keys.map { timeouts[$0]! }])[0]
                worst = max(worst, try row.decode("over", as: Double.self))
                longest = max(longest, try row.decode("longest", as: Double.self))
                rescued.formUnion(try row.decode("rescued", as: String.self).split(separator: ",").compactMap { Int64($0) })
                timedOut.formUnion(try row.decode("timed_out", as: String.self).split(separator: ",").compactMap { Int64($0) })
            } catch {
                connection = nil  // PostgreSQL restarting
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}

/// `Tests/Servers/chaos_proxy.py` in front of a loopback port, its behaviour set through a
/// control file (`pass`, `stall`, `cut N`).
final class ChaosProxy: @unchecked Sendable {
    let process = Process()
    let control: URL
    let port: Int

    init(environment: BenchEnvironment, name: String, target: Int) throws {
        control = environment.work.appendingPathComponent("\(name).control")
        let portFile = environment.work.appendingPathComponent("\(name).port")
        try "pass".write(to: control, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [
            environment.script("Tests/Servers/chaos_proxy.py"), "--target", "127.0.0.1:\(target)", "--control", control.path,
            "--port-file", portFile.path,
        ]
        try process.run()
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: portFile.path) { usleep(50_000) }
        guard let text = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(text) else {
            throw BenchError("the \(name) proxy did not start")
        }
        self.port = port
    }

    func set(_ mode: String) { try? mode.write(to: control, atomically: true, encoding: .utf8) }

    func stop() { kill(process.processIdentifier, SIGTERM) }
}
