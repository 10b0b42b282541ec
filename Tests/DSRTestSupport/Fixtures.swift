import DSR
import Foundation
import Logging
import Postgres
import TestSupport

/// The repository's Config/dsrd.toml: defaults, and the notice templates and store
/// mappings beside it.
public let exampleConfigFile = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Config/dsrd.toml").path

/// A fresh folder under the temporary directory.
public func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("dsrd-exports-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A fresh proof key pair in a folder of its own.
public func makeKeys() throws -> (directory: URL, privateKey: String, publicKey: String) {
    let directory = try temporaryDirectory()
    let written = try ProofKeys.generate(prefix: directory.appendingPathComponent("proof").path)
    return (directory, written.privatePath, written.publicPath)
}

/// A completed request's `dsr.requests.result`.
public func completedResult(_ connection: PostgresConnection, _ id: UUID) async throws -> [String: Any] {
    let text = try await connection.query("SELECT result::text AS r FROM dsr.requests WHERE id = $1", [id])[0].decode("r", as: String.self)
    return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
}

/// Settings that make the daemon react in test time: short polls, leases and backoff.
public let fastQueue =
    [
        "--set", "queue.poll_interval=200ms",
        "--set", "queue.lease_duration=3s",
        "--set", "queue.heartbeat_interval=500ms",
        "--set", "queue.rescue_interval=300ms",
        "--set", "queue.retry_base_delay=100ms",
        "--set", "queue.retry_max_delay=1s",
        "--set", "log.level=notice",
        // Tests that want the minor scan turn it on; elsewhere it would erase generated minors.
        "--set", "minors.enabled=false",
        // Likewise the retention sweep (RetentionTests drive it themselves).
        "--set", "retention.enabled=false",
    ] + SeedCompany.arguments

extension TestDatabase {
    /// Arguments for `dsrd run` writing exports to `directory`.
    public func exportArguments(_ directory: URL, extra: [String] = []) -> [String] {
        runArguments(["--set", "exports.directory=\(directory.path)"] + extra)
    }

    /// Arguments for `dsrd run` that can erase: exports to `exports`, proofs signed with `key`.
    public func erasureArguments(_ exports: URL, key: String, extra: [String] = []) -> [String] {
        exportArguments(exports, extra: ["--set", "proofs.signing_key_file=\(key)"] + extra)
    }

    /// A fresh database with the dsr schema applied. The pipeline's tests are about what
    /// happens once a request may be worked on, so by default no kind waits for identity
    /// verification there; `verification: true` keeps the shipped `dsr.verification_policy`
    /// (what `VerificationTests` and the portal's tests use).
    public static func migrated<T: Sendable>(
        verification: Bool = false, _ body: (TestDatabase, PostgresConnection) async throws -> T
    ) async throws -> T {
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            try await Migrator(logger: Logger(label: "test")).migrate(connection)
            if !verification { try await connection.execute("UPDATE dsr.verification_policy SET required = false") }
            return try await body(database, connection)
        }
    }

    /// Arguments for `dsrd run` against this database, with the repository's
    /// Config/dsrd.toml (defaults, and the notice templates next to it).
    public func runArguments(_ extra: [String] = []) -> [String] {
        ["run", "--config", exampleConfigFile, "--database-url", conninfo] + fastQueue + extra
    }
}

/// A `dsrd run` that answered one request and was stopped.
public struct FinishedRun {
    /// Whether the request reached `completed` in time.
    public let completed: Bool
    /// Exit status after SIGTERM; nil if it did not exit within 30 s.
    public let status: Int32?
    public let output: String

    public init(completed: Bool, status: Int32?, output: String) {
        self.completed = completed
        self.status = status
        self.output = output
    }
}

/// Runs `dsrd` with `arguments` until request `id` is completed in `connection`'s database
/// (or `timeout` passes), then stops it with SIGTERM and waits for it to exit.
public func runUntilCompleted(
    _ id: UUID, _ arguments: [String], environment: [String: String] = [:], on connection: PostgresConnection,
    timeout: Duration = .seconds(60)
) async throws -> FinishedRun {
    let daemon = try DaemonProcess(arguments, environment: environment)
    let completed = try await eventually(timeout: timeout) {
        try await connection.isCompleted(id)
    }
    daemon.signal(SIGTERM)
    let status = try await daemon.waitForExit(timeout: .seconds(30))
    return FinishedRun(completed: completed, status: status, output: daemon.output)
}

extension PostgresConnection {
    public func count(_ sql: String, _ parameters: [any PostgresEncodable] = []) throws -> Int {
        try query(sql, parameters)[0].decode(at: 0, as: Int.self)
    }

    /// Whether request `id` is completed: what most tests wait for.
    public func isCompleted(_ id: UUID) throws -> Bool {
        try count("SELECT count(*) FROM dsr.requests WHERE id = $1 AND status = 'completed'", [id]) == 1
    }
}
