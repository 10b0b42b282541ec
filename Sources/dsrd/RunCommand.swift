import ArgumentParser
import DSR
import DSRMetrics
import Foundation
import Logging
import Postgres
import ServiceLifecycle

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon: claim jobs from the queue and work them off until SIGTERM or SIGINT.",
        discussion: """
            Applies pending migrations first unless daemon.migrate_on_start is false. Under \
            systemd (Type=notify) it sends READY=1 after its first database round-trip, \
            WATCHDOG=1 while the worker loop is alive, and STOPPING=1 on shutdown. On SIGTERM \
            it stops claiming, lets running jobs finish within daemon.shutdown_grace, releases \
            the rest to the queue and exits 0.
            """)

    @OptionGroup var options: CommonOptions

    @Option(name: .long, help: "Concurrent jobs (overrides queue.workers).")
    var workers: Int?

    mutating func run() async throws {
        let options = self.options
        let workers = self.workers
        try await reportingFailures {
            var configuration = try options.loadConfiguration()
            if let workers {
                guard (1...1024).contains(workers) else {
                    throw Failure(message: "--workers must be from 1 to 1024", exitCode: .configuration)
                }
                configuration.queue.workers = workers
            }
            LoggingSetup.bootstrap(level: configuration.log.level)
            MemoryAllocator.tuneForDaemon()
            let logger = Logger(label: "dsrd")
            do {
                var services: [any Service] = []
                if configuration.metrics.enabled {
                    services.append(try MetricsEndpoint.bootstrap(configuration: configuration, logger: logger).application())
                }
                services.insert(try DSRDaemon(configuration: configuration, clock: ContinuousClock(), logger: logger), at: 0)
                try await ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger).run()
            } catch let error as ConfigurationError {
                throw Failure(message: "configuration: \(error)", exitCode: .configuration)
            } catch let error as DSRDaemon<ContinuousClock>.StartError {
                throw Failure(message: "configuration: \(error)", exitCode: .configuration)
            } catch let error as ExportsUnwritable {
                throw Failure(message: "\(error)", exitCode: .cannotCreate)
            } catch let error as PostgresError where error.kind == .connection {
                throw Failure(message: "cannot connect to the database: \(error)", exitCode: .unavailable)
            }
        }
    }
}
