import Foundation

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
