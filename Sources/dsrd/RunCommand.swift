import ArgumentParser
import DSR
import Foundation
import Logging
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
            let missing = configuration.company.missingKeys
            guard missing.isEmpty else {
                throw Failure(
                    message:
                        "configuration: \(missing.joined(separator: ", ")) not set: every notice tells the person who answers and how to reach them (see [company] in Config/dsrd.toml)",
                    exitCode: .configuration)
            }
            LoggingSetup.bootstrap(level: configuration.log.level)
            let logger = Logger(label: "dsrd")

            let connection = try await options.connect(configuration)
            let migrator = Migrator(logger: logger)
            if configuration.daemon.migrateOnStart {
                try await migrator.migrate(connection)
            } else {
                let status = try await migrator.status(connection)
                guard status.pending.isEmpty else {
                    throw Failure(
                        message: "the database schema is behind this dsrd (\(status.pending.count) pending); run `dsrd migrate`",
                        exitCode: .configuration)
                }
            }

            let conninfo = try configuration.databaseConninfo()
            let handlerPool = ConnectionPool(conninfo: conninfo, maximum: configuration.queue.workers)
            let notices: NoticeHandler
            let fanOut: FanOut
            do {
                notices = try NoticeHandler.make(configuration: configuration, pool: handlerPool)
                fanOut = try FanOut.make(configuration: configuration, pool: handlerPool)
                try fanOut.prepareDirectories()
            } catch let error as ConfigurationError {
                throw Failure(message: "configuration: \(error)", exitCode: .configuration)
            }
            try await fanOut.publishSubmissionRules(on: connection)
            await connection.close()
            let readiness = Readiness()
            let pool = WorkerPool(
                options: WorkerPool.Options(
                    queue: configuration.queue,
                    shutdownGrace: configuration.daemon.shutdownGrace,
                    workerID: WorkerIdentity.make(instanceName: configuration.daemon.instanceName),
                    version: DSRVersion.current),
                conninfo: conninfo,
                handlers: [
                    .request: RequestHandler(fanOut: fanOut), .storeTask: StoreTaskHandler(fanOut: fanOut),
                    .finalize: FinalizeHandler(fanOut: fanOut), .notice: notices, .probe: ProbeHandler(),
                ],
                readiness: readiness,
                logger: logger)
            let minors = MinorScanner(fanOut: fanOut)
            var services: [any Service] = [
                pool,
                PeriodicService(
                    DeadlineScanner(warnings: try configuration.deadlineWarningPeriods()),
                    every: configuration.notices.deadlineScanInterval, conninfo: conninfo, logger: logger),
                PeriodicService(
                    ExportJanitor(exportDirectory: fanOut.exportDirectory), every: configuration.exports.cleanupInterval,
                    conninfo: conninfo, logger: logger),
            ]
            if configuration.minors.enabled && minors.hasWork && fanOut.proofKeys != nil {
                services.append(PeriodicService(minors, every: configuration.minors.scanInterval, conninfo: conninfo, logger: logger))
            }
            services.append(SystemdService(readiness: readiness, logger: logger))
            let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            try await group.run()
        }
    }
}

enum WorkerIdentity {
    /// `name:pid:random`, unique per process even when a pid is reused after a restart.
    static func make(instanceName: String) -> String {
        let name = instanceName.isEmpty ? ProcessInfo.processInfo.hostName : instanceName
        let suffix = UUID().uuidString.prefix(6).lowercased()
        return "\(name):\(ProcessInfo.processInfo.processIdentifier):\(suffix)"
    }
}
