import Foundation

/// A real `dsrd` process started by a test, its output collected in a file.
public final class DaemonProcess: @unchecked Sendable {
    public let process = Process()
    public let logFile: URL

    /// The `dsrd` binary built next to the test bundle, or `$DSRD_BINARY`.
    public static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["DSRD_BINARY"] { return URL(fileURLWithPath: path) }
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = runner.deletingLastPathComponent()
        // On macOS the runner sits inside the .xctest bundle.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("dsrd").path),
            directory.path != "/"
        {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("dsrd")
    }

    /// Starts `dsrd` (or another binary built beside it, e.g. `dsrd-bench`) with `arguments`.
    public init(_ arguments: [String], environment: [String: String] = [:], executable: String = "dsrd") throws {
        logFile = FileManager.default.temporaryDirectory.appendingPathComponent("dsrd-test-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let output = try FileHandle(forWritingTo: logFile)
        process.executableURL =
            executable == "dsrd" ? Self.binary : Self.binary.deletingLastPathComponent().appendingPathComponent(executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    /// Runs `dsrd` to completion and returns its exit status and output.
    public static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        let daemon = try DaemonProcess(arguments, environment: environment)
        let status = try await daemon.waitForExit(timeout: .seconds(120))
        return (status ?? -1, daemon.output)
    }

    public var output: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }
    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Peak resident set size so far in MiB (`VmHWM` in /proc/PID/status); 0 if unreadable,
    /// e.g. once the process has exited.
    public var peakResidentMebibytes: Double {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes / 1024
    }

    /// Waits for the process to exit; nil if it is still running after `timeout`.
    public func waitForExit(timeout: Duration) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: logFile)
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
/// Timeouts here are generous upper bounds for progress, never performance assertions.
public func eventually(
    timeout: Duration = .seconds(60), every interval: Duration = .milliseconds(50),
    _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: interval)
    }
    return try await condition()
}
