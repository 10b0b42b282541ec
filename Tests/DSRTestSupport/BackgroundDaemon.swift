import DSR
import Logging
import ServiceLifecycle

/// The daemon in-process on the real clock, started and stopped like a `dsrd run` process,
/// for tests that watch the database while it works and only then stop it.
public final class BackgroundDaemon: Sendable {
    private let log = LogCapture()
    private let group: ServiceGroup
    private let task: Task<Int32, Never>

    /// What it logged (level, metadata, message per line).
    public var output: String { log.text }

    public init(_ arguments: [String], environment: [String: String] = [:]) throws {
        let configuration = try InProcessDaemon.configuration(arguments: arguments, environment: environment)
        let log = self.log
        let daemon = try DSRDaemon(
            configuration: configuration, clock: ContinuousClock(), logger: Logger(label: "dsrd") { _ in log.handler(level: .notice) })
        let group = ServiceGroup(services: [daemon], gracefulShutdownSignals: [], logger: Logger(label: "dsrd.test"))
        self.group = group
        task = Task {
            do {
                try await group.run()
                return 0
            } catch {
                log.append("error \(error)")
                return 1
            }
        }
    }

    /// Shuts it down gracefully (as SIGTERM does) and returns 0 when it stopped cleanly.
    public func stop() async -> Int32 {
        await group.triggerGracefulShutdown()
        return await task.value
    }
}
