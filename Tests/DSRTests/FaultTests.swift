import DSR
import DSRTestSupport
import Foundation
import Logging
import Postgres
import TestSupport
import Testing

/// A PostgreSQL cluster of the test's own (restarting the shared one would disturb the
/// tests running beside it), started and stopped with Deploy/scripts/pg-cluster.
final class PrivateCluster: @unchecked Sendable {
    let directory: URL
    let port: Int
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Deploy/scripts/pg-cluster").path

    private init(directory: URL, port: Int) {
        self.directory = directory
        self.port = port
    }

    static func start() async throws -> PrivateCluster {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dsrd-cluster-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try await run(["start", directory.path])
        let env = try String(contentsOf: directory.appendingPathComponent("env"), encoding: .utf8)
        let port = Int(env.split(separator: "\n").first { $0.contains("PGPORT=") }?.split(separator: "=").last ?? "") ?? 0
        return PrivateCluster(directory: directory, port: port)
    }

    var conninfo: String { "host=127.0.0.1 port=\(port) user=postgres dbname=postgres" }

    func restart() async throws { try await Self.run(["restart", directory.path]) }

    /// Runs pg-cluster with system(3). Not Foundation's Process: on Linux it watches a pipe
    /// that the daemonized postgres inherits, so it would report the script running until
    /// the server stops.
    static func run(_ arguments: [String]) async throws {
        let command = ([script] + arguments).map { "'" + $0 + "'" }.joined(separator: " ") + " >/dev/null 2>&1 </dev/null"
        let status = system("/bin/bash " + command)
        guard status == 0 else { throw CocoaError(.executableLoad) }
    }

    deinit {
        _ = system("/bin/bash '\(Self.script)' stop '\(directory.path)' >/dev/null 2>&1 </dev/null")
        try? FileManager.default.removeItem(at: directory)
    }
}

@Suite("Faults and hostile input")
struct FaultTests {
    @Test func workersSurviveAPostgreSQLRestartWithoutLosingOrDoublingWork() async throws {
        let cluster = try await PrivateCluster.start()
        let connection = try await PostgresConnection.connect(cluster.conninfo)
        try await Migrator(logger: Logger(label: "test")).migrate(connection)
        try await connection.execute(
            "INSERT INTO dsr.jobs (kind, payload) SELECT 'probe', '{\"record\": true, \"sleep_ms\": 5}' FROM generate_series(1, 3000)")
        let daemon = try DaemonProcess(
            ["run", "--config", ConfigurationTests.exampleFile, "--database-url", cluster.conninfo]
                + fastQueue + ["--set", "queue.workers=8"])
        #expect(try await eventually { try await connection.count("SELECT count(*) FROM dsr.probe_results") >= 300 }, "\(daemon.output)")
        try await cluster.restart()
        let survivor = try await PostgresConnection.connect(cluster.conninfo)
        #expect(
            try await eventually(timeout: .seconds(120)) {
                try await survivor.count("SELECT count(*) FROM dsr.jobs WHERE state <> 'completed'") == 0
            }, "\(daemon.output)")
        #expect(daemon.isRunning)
        // The restart really cut the daemon's connections, and it reconnected.
        #expect(daemon.output.contains("database operation failed"))
        daemon.signal(SIGTERM)
        #expect(try await daemon.waitForExit(timeout: .seconds(30)) == 0)
        #expect(try await survivor.count("SELECT count(*) FROM dsr.probe_results") == 3000)
        #expect(try await survivor.count("SELECT count(DISTINCT job_id) FROM dsr.probe_results") == 3000)
        #expect(try await survivor.count("SELECT count(*) FROM dsr.jobs WHERE state = 'dead'") == 0)
    }

    static let hostile: [(String, String)] = [
        ("access'; DROP TABLE dsr.requests; --", #"{"email": "a@example.com"}"#),
        ("access", #"{"email": "a@example.com\r\nBcc: victim@example.com"}"#),
        ("access", #"{"email": "\u0007\u001b[31m@example.com"}"#),
        ("access", #"{"email": "admin\u202Egpj.exe@example.com"}"#),
        ("access", #"{"email": "pay\u200Bpal@example.com"}"#),
        ("access", #"{"customer_id": "C1' OR '1'='1"}"#),
        ("access", #"{"customer_id": "../../etc/passwd"}"#),
        ("access", #"{"phone": "+66 81 234 5678 ext. 12; rm -rf /"}"#),
        ("access", #"{"national_id": "<script>alert(1)</script>"}"#),
        ("access", #"{"email": {"nested": {"deeper": ["a@example.com"]}}}"#),
        ("access", #"{"email": ["a@example.com", "b@example.com"]}"#),
        ("access", #"{"email": null}"#),
        ("access", #""a@example.com""#),
        ("rectification", #"{"email": "a@example.com"}"#),
    ]

    @Test func hostileSubmissionsAreRefusedClearlyAndWriteNothing() async throws {
        try await TestDatabase.migrated { database, connection in
            for (kind, subject) in Self.hostile {
                do {
                    try await connection.query("SELECT dsr.submit($1, $2::jsonb)", [kind, subject])
                    Issue.record("accepted \(kind) \(subject)")
                } catch let error as PostgresError {
                    #expect(error.sqlState == "22023", "\(subject): \(error)")
                }
            }
            // 10 MB identifiers, invalid UTF-8 and NUL: refused by dsr.submit or by the server's own checks.
            let huge = String(repeating: "a", count: 10_000_000) + "@example.com"
            let attempts: [(String, [any PostgresEncodable], String)] = [
                ("SELECT dsr.submit('access', jsonb_build_object('email', $1::text))", [huge], "22023"),
                (
                    "SELECT dsr.submit('access', jsonb_build_object('email', convert_from($1::bytea, 'UTF8')))",
                    [Data([0x61, 0xff, 0x40, 0x62])], "22021"
                ),
                ("SELECT dsr.submit('access', $1::jsonb)", [#"{"email": "a\u0000@example.com"}"#], "22P05"),
                (
                    "SELECT dsr.submit('access', $1::jsonb, $2::jsonb)", [#"{"email": "a@example.com"}"#, #"{"locale": "th'; --"}"#],
                    "22023"
                ),
            ]
            for (sql, parameters, state) in attempts {
                do {
                    try await connection.query(sql, parameters)
                    Issue.record("accepted \(sql)")
                } catch let error as PostgresError {
                    #expect(error.sqlState == state, "\(sql): \(error)")
                    #expect(error.message.count < 300)
                }
            }
            for table in ["dsr.requests", "dsr.jobs", "dsr.outbox", "dsr.request_events"] {
                #expect(try await connection.count("SELECT count(*) FROM \(table)") == 0, "\(table)")
            }

            // The command line: clear refusal (65), no crash, nothing written.
            let long = String(repeating: "x", count: 100_000)
            for arguments in [
                ["--email", "a@b.c\r\nBcc: x@y.z"], ["--customer-id", long], ["--phone", "\u{1b}[2J"],
                ["--email", "admin\u{202E}moc.elpmaxe@example.com"],
            ] {
                let result = try await DaemonProcess.run(["submit", "access", "--database-url", database.conninfo] + arguments)
                #expect(
                    result.status == 65 || result.status == 70, "\(arguments.first ?? ""): \(result.status) \(result.output.prefix(200))")
                #expect(result.output.hasPrefix("dsrd: "), "\(result.output.prefix(200))")
            }
            #expect(try await connection.count("SELECT count(*) FROM dsr.requests") == 0)
        }
    }
}
