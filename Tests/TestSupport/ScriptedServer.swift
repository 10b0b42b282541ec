import Foundation

/// A loopback test server from `Tests/Servers` (SMTP sink, HTTP stub), run with python3 in
/// a scratch directory of its own. Stopped and cleaned up when released.
public final class ScriptedServer: @unchecked Sendable {
    public private(set) var process = Process()
    /// Scratch directory: `mail/` for the SMTP sink, `requests.jsonl` for the HTTP stub.
    public let directory: URL
    public private(set) var port = 0
    private let script: String
    private let arguments: [String]

    public static let serversDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Servers")

    /// Starts `script` with `arguments` plus `--port-file`; returns once it listens.
    public init(script: String, arguments: (_ directory: URL) -> [String]) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("dsrd-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.script = script
        self.arguments = arguments(directory)
        try await launch(port: 0)
    }

    private func launch(port requested: Int) async throws {
        let portFile = directory.appendingPathComponent("port")
        try? FileManager.default.removeItem(at: portFile)
        process = Process()
        // Debian's interpreter, which has python3-aiosmtpd (not a pyenv one on PATH).
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments =
            [Self.serversDirectory.appendingPathComponent(script).path]
            + arguments + ["--port-file", portFile.path, "--port", "\(requested)"]
        try process.run()
        port = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while port == 0 {
            if let text = try? String(contentsOf: portFile, encoding: .utf8), let value = Int(text) {
                port = value
            } else if !process.isRunning || ContinuousClock.now > deadline {
                throw CocoaError(.fileReadNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "\(script) did not start"])
            } else {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Kills the server: its port refuses connections until `restart()`.
    public func stop() async throws {
        kill(process.processIdentifier, SIGKILL)
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
    }

    /// Starts the server again on the same port, keeping what it recorded so far.
    public func restart() async throws {
        if process.isRunning { try await stop() }
        try await launch(port: port)
    }

    /// The SMTP sink (no STARTTLS offered; "reject*" recipients get 550, "tempfail*" 451).
    public static func smtpSink() async throws -> ScriptedServer {
        try await ScriptedServer(script: "smtp_sink.py") { ["--dir", $0.appendingPathComponent("mail").path] }
    }

    /// The HTTP stub answering with `statuses` in turn (the last repeats).
    public static func httpStub(statuses: [Int], body: String = #"{"status": "ok"}"#) async throws -> ScriptedServer {
        try await ScriptedServer(script: "http_stub.py") { directory in
            [
                "--log", directory.appendingPathComponent("requests.jsonl").path,
                "--statuses", statuses.map(String.init).joined(separator: ","), "--body", body,
            ]
        }
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    /// Messages the SMTP sink accepted, raw.
    public func messages() throws -> [String] {
        let mail = directory.appendingPathComponent("mail")
        guard FileManager.default.fileExists(atPath: mail.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(at: mail, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "eml" }
            .map { try String(contentsOf: $0, encoding: .utf8) }
    }

    public struct RecordedRequest: Decodable, Sendable {
        public let method: String
        public let path: String
        public let headers: [String: String]
        public let body: String
    }

    /// Requests the HTTP stub received, in order.
    public func requests() throws -> [RecordedRequest] {
        let log = directory.appendingPathComponent("requests.jsonl")
        guard let text = try? String(contentsOf: log, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try JSONDecoder().decode(RecordedRequest.self, from: Data($0.utf8)) }
    }

    deinit {
        // The servers keep no state worth a clean exit (the sink renames each message into
        // place), so SIGKILL. Not waitUntilExit(): on Linux it can spin when called in a deinit.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: directory)
    }
}
