import Foundation
import Logging
import Postgres
import ServiceLifecycle

/// dsrd's daemon, built from a configuration: the worker pool with every job handler, the
/// periodic scanners (deadlines, export clean-up, minors) and systemd's notifications, run
/// as one service until graceful shutdown. `dsrd run` wraps it in a `ServiceGroup` that
/// turns SIGTERM and SIGINT into graceful shutdown; tests run it in-process with a test
/// clock and wait for its ``DaemonEvent``s.
public struct DSRDaemon<C: Clock>: Service where C.Duration == Duration {
    /// Why the daemon cannot start; `dsrd run` prints it and exits with a configuration status.
    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    let configuration: DSRConfiguration
    let clock: C
    let events: DaemonEvents
    let logger: Logger
    let fanOut: FanOut
    let notices: NoticeHandler
    let readiness = Readiness()

    /// Checks what can be checked without the database: the company's identity (every notice
    /// names who answers), templates, channels, mappings, the proof key.
    public init(configuration: DSRConfiguration, clock: C, events: DaemonEvents = .none, logger: Logger) throws {
        let missing = configuration.company.missingKeys
        guard missing.isEmpty else {
            throw StartError(
                description:
                    "\(missing.joined(separator: ", ")) not set: every notice tells the person who answers and how to reach them (see [company] in Config/dsrd.toml)"
            )
        }
        self.configuration = configuration
        self.clock = clock
        self.events = events
        self.logger = logger
        let pool = ConnectionPool(
            conninfo: try configuration.databaseConninfo(), maximum: configuration.queue.workers,
            settings: configuration.database.sessionSettings)
        notices = try NoticeHandler.make(configuration: configuration, pool: pool)
        fanOut = try FanOut.make(configuration: configuration, pool: pool)
        try fanOut.prepareDirectories()
    }

    /// Migrates (or checks that the schema is current), publishes the submission rules and the
    /// register of processing activities, then runs every service until graceful shutdown,
    /// and meanwhile logs store mappings that do not fit their stores and store lookups that no
    /// index serves (``StoreIndexCheck``).
    public func run() async throws {
        let conninfo = try configuration.databaseConninfo()
        let connection = try await PostgresConnection.connect(conninfo)
        let migrator = Migrator(logger: logger)
        if configuration.daemon.migrateOnStart {
            try await migrator.migrate(connection)
        } else {
            let status = try await migrator.status(connection)
            guard status.pending.isEmpty else {
                await connection.close()
                throw StartError(
                    description: "the database schema is behind this dsrd (\(status.pending.count) pending); run `dsrd migrate`")
            }
        }
        try await fanOut.publishSubmissionRules(on: connection)
        try await ProcessingRegister(stores: fanOut.connectors.map(\.mapping)).publish(on: connection)
        await connection.close()
        if configuration.sms.url.isEmpty {
            logger.notice(
                "sms.url is not set: notices by SMS are not sent; they wait in dsr.notices, and the DPO is told when their attempts run out"
            )
        }
        let group = ServiceGroup(services: try services(conninfo: conninfo), gracefulShutdownSignals: [], logger: logger)
        let indexCheck = StoreIndexCheck(
            connectors: fanOut.connectors.compactMap { $0 as? SQLConnector },
            extraKinds: (try? configuration.identifiers.addedKinds()) ?? [],
            events: events, logger: logger)
        // Not a child task: shutdown must not wait for a store that hangs (it is cancelled).
        let checking = Task { await indexCheck.run() }
        defer { checking.cancel() }
        try await group.run()
    }

    func services(conninfo: String) throws -> [any Service] {
        let pool = WorkerPool(
            options: WorkerPool.Options(
                queue: configuration.queue,
                shutdownGrace: configuration.daemon.shutdownGrace,
                workerID: Self.workerID(instanceName: configuration.daemon.instanceName),
                version: DSRVersion.current, sessionSettings: configuration.database.sessionSettings,
                claimContext: .daemon),
            conninfo: conninfo,
            handlers: [
                .request: RequestHandler(fanOut: fanOut), .storeTask: StoreTaskHandler(fanOut: fanOut),
                .finalize: FinalizeHandler(fanOut: fanOut), .notice: notices, .probe: ProbeHandler(),
            ],
            readiness: readiness, clock: clock, events: events, logger: logger)
        func periodic(_ work: any PeriodicWork, every interval: Duration) -> any Service {
            PeriodicService(
                work, every: interval, conninfo: conninfo, settings: configuration.database.sessionSettings, clock: clock, events: events,
                logger: logger)
        }
        var services: [any Service] = [
            pool,
            periodic(
                DeadlineScanner(warnings: try configuration.deadlineWarningPeriods()), every: configuration.notices.deadlineScanInterval),
            periodic(
                ExportJanitor(exportDirectory: fanOut.exportDirectory, keepFor: configuration.exports.keepFor),
                every: configuration.exports.cleanupInterval),
        ]
        let minors = MinorScanner(fanOut: fanOut)
        if configuration.minors.enabled && minors.hasWork && fanOut.proofKeys != nil {
            services.append(periodic(minors, every: configuration.minors.scanInterval))
        }
        let sweeper = RetentionSweeper(fanOut: fanOut, ownDataAfter: configuration.retention.ownDataAfter)
        if configuration.retention.enabled && sweeper.hasWork && fanOut.proofKeys != nil {
            services.append(periodic(sweeper, every: configuration.retention.interval))
        }
        services.append(SystemdService(readiness: readiness, logger: logger))
        return services
    }

    /// `name:pid:random`, unique per process even when a pid is reused after a restart.
    static func workerID(instanceName: String) -> String {
        let name = instanceName.isEmpty ? ProcessInfo.processInfo.hostName : instanceName
        let suffix = UUID().uuidString.prefix(6).lowercased()
        return "\(name):\(ProcessInfo.processInfo.processIdentifier):\(suffix)"
    }
}

extension ClaimContext {
    /// What the daemon's jobs read with their claim: the pipeline's steps their request, a
    /// notice its outbox row.
    public static let daemon = ClaimContext([FanOut.claimPart, NoticeHandler.claimPart])
}
