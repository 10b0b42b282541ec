import Foundation
import Logging
import Postgres
import ServiceLifecycle
import Synchronization

/// Claims jobs from `dsr.jobs` and runs them on up to `queue.workers` concurrent tasks.
///
/// - Claims take a batch with `FOR UPDATE SKIP LOCKED`, so any number of processes share
///   the queue and no job is held by two workers at once.
/// - A heartbeat renews this process's leases; a crashed process's leases expire and any
///   live process rescues the jobs.
/// - `LISTEN dsr_jobs` wakes the pool when work is queued; it also polls every
///   `queue.poll_interval` in case a notification is lost.
/// - On graceful shutdown it stops claiming, lets running jobs finish within
///   `daemon.shutdown_grace`, then cancels the rest and releases them to the queue.
///
/// Time comes from `clock`: the poll interval, the heartbeat and rescue rounds and the
/// shutdown grace. Tests pass a test clock and advance it; `dsrd run` a `ContinuousClock`.
/// (The watchdog's half-second ticks stay on real time: systemd counts real time.)
public final class WorkerPool<C: Clock>: Service, Sendable where C.Duration == Duration {
    public struct Options: Sendable {
        public var queue: DSRConfiguration.Queue
        public var shutdownGrace: Duration
        public var workerID: String
        public var version: String
        /// Session limits for the pool's own connections (claims, heartbeats, completions).
        public var sessionSettings: [(name: String, value: String)]
        /// What jobs of some kinds read first, loaded with their claim (``Job/context``).
        public var claimContext: ClaimContext?

        public init(
            queue: DSRConfiguration.Queue, shutdownGrace: Duration, workerID: String, version: String,
            sessionSettings: [(name: String, value: String)] = [], claimContext: ClaimContext? = nil
        ) {
            self.queue = queue
            self.shutdownGrace = shutdownGrace
            self.workerID = workerID
            self.version = version
            self.sessionSettings = sessionSettings
            self.claimContext = claimContext
        }
    }

    private let options: Options
    private let conninfo: String
    private let handlers: [JobKind: any JobHandler]
    private let logger: Logger
    private let retryPolicy: RetryPolicy
    private let leases = LeaseBook()
    private let workAvailable = Doorbell()
    private let slotFreed = Doorbell()
    private let running = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let readiness: Readiness
    private let clock: C
    private let events: DaemonEvents
    private let deadlines: DeadlineKeeper<C>

    public init(
        options: Options, conninfo: String, handlers: [JobKind: any JobHandler], readiness: Readiness = Readiness(),
        clock: C, events: DaemonEvents = .none, logger: Logger
    ) {
        self.clock = clock
        self.events = events
        self.options = options
        self.conninfo = conninfo
        self.handlers = handlers
        self.readiness = readiness
        self.logger = logger
        self.retryPolicy = RetryPolicy(baseDelay: options.queue.retryBaseDelay, maxDelay: options.queue.retryMaxDelay)
        self.deadlines = DeadlineKeeper(
            clock: clock, shortestTimeout: JobKind.allCases.map(options.queue.timeout(for:)).min() ?? .seconds(1))
    }

    public func run() async throws {
        // Claims run many times a second with one right plan (the `jobs_ready` index, whatever
        // the limit; see `QueueStore.claimStatement(selectList:)`): planned once, not on every claim
        // (PostgreSQL's own choice re-planned each, 0.17 ms of server CPU per claim).
        var claimLink = DatabaseLink(
            conninfo: conninfo, settings: options.sessionSettings + [PostgresConnection.genericPlansAlways], logger: logger)
        let first = try await claimLink.connection()
        try await QueueStore.registerWorker(
            first, id: options.workerID, host: ProcessInfo.processInfo.hostName,
            pid: ProcessInfo.processInfo.processIdentifier, version: options.version, workers: options.queue.workers)
        // Every schedule (poll ticks, heartbeats, rescues) counts from here, fixed before
        // `.ready` is reported: a test clock advanced after it always crosses their deadlines.
        let origin = clock.now
        readiness.markReady()
        events.emit(.ready)
        logger.info(
            "worker pool started",
            metadata: ["dsr.worker": "\(options.workerID)", "dsr.workers": "\(options.queue.workers)"])

        let completer = Completer(
            conninfo: conninfo, settings: options.sessionSettings, leases: leases, events: events, logger: logger)
        await withTaskGroup(of: Void.self) { background in
            background.addTask { await completer.run() }
            background.addTask { await self.deadlines.run() }
            background.addTask { await self.listen() }
            background.addTask { await self.heartbeat(from: origin) }
            background.addTask { await self.pollTicks(from: origin) }

            await withGracefulShutdownHandler {
                await self.fetchAndRun(link: &claimLink, completer: completer)
            } onGracefulShutdown: {
                self.stopping.store(true, ordering: .sequentiallyConsistent)
                self.workAvailable.ring()
                self.slotFreed.ring()
            }

            completer.finish()
            let drained = await self.waitUntil(timeout: ShutdownBudget.completionDrain) { self.leases.count == 0 }
            if !drained { completer.abandon() }
            background.cancelAll()
        }
        if let connection = try? await claimLink.connection() {
            try? await QueueStore.markWorkerStopped(connection, id: options.workerID)
        }
        await claimLink.close()
        logger.info("worker pool stopped", metadata: ["dsr.worker": "\(options.workerID)"])
    }

    // MARK: Claiming and running

    private func fetchAndRun(link: inout DatabaseLink, completer: Completer) async {
        await withDiscardingTaskGroup { handlersGroup in
            // Waits are sliced so the loop ticks the watchdog at least twice a second.
            let slice = Duration.milliseconds(500)
            var queueDrained = false
            while !stopping.load(ordering: .sequentiallyConsistent) {
                readiness.tick()
                let free = options.queue.workers - running.load(ordering: .sequentiallyConsistent)
                if free <= 0 {
                    await slotFreed.wait(timeout: slice)
                    continue
                }
                if queueDrained {
                    // Rung by NOTIFY, a rescue, or the poll interval passing (``pollTicks()``).
                    guard await workAvailable.wait(timeout: slice) else { continue }
                    queueDrained = false
                }
                let wanted = min(free, options.queue.batchSize)
                let jobs: [Job]
                do {
                    let connection = try await link.connection()
                    jobs = try await QueueStore.claim(
                        connection, limit: wanted, workerID: options.workerID, lease: options.queue.leaseDuration,
                        context: options.claimContext)
                    link.succeeded()
                } catch {
                    await link.failed(error)
                    continue
                }
                queueDrained = jobs.count < wanted
                events.emit(.claimed(jobs.map(\.id)))
                leases.add(jobs)
                running.add(jobs.count, ordering: .sequentiallyConsistent)
                for job in jobs {
                    handlersGroup.addTask {
                        let started = ContinuousClock.now
                        let outcome = await self.execute(job)
                        DaemonMetrics.attemptFinished(kind: job.kind, outcome: outcome, after: ContinuousClock.now - started)
                        completer.submit(FinishedJob(job: job, outcome: outcome))
                        self.running.subtract(1, ordering: .sequentiallyConsistent)
                        self.slotFreed.ring()
                    }
                }
            }
            // Shutdown: let running jobs finish within the grace period, then cancel them;
            // cancelled handlers end as `.released` and go back to the queue.
            let finished = await waitUntil(timeout: options.shutdownGrace) {
                self.running.load(ordering: .sequentiallyConsistent) == 0
            }
            if !finished {
                logger.notice(
                    "grace period over: releasing running jobs",
                    metadata: ["dsr.count": "\(running.load(ordering: .sequentiallyConsistent))"])
                handlersGroup.cancelAll()
            }
        }
    }

    private func execute(_ job: Job) async -> JobOutcome {
        var logger = self.logger
        logger[metadataKey: "dsr.job_id"] = "\(job.id)"
        if let requestID = job.requestID { logger[metadataKey: "dsr.request_id"] = "\(requestID)" }
        guard let kind = JobKind(rawValue: job.kind), let handler = handlers[kind] else {
            logger.error("no handler for job kind", metadata: ["dsr.job_kind": "\(job.kind)"])
            return .failed(reason: "no handler for job kind \(job.kind)", retryAfter: nil)
        }
        let timeout = options.queue.timeout(for: kind)
        let context = JobContext(logger: logger, workerID: options.workerID)
        do {
            let result = try await runWithin(timeout, job: job) { try await handler.handle(job, context: context) }
            return .completed(result)
        } catch is JobTimedOut {
            let reason =
                "timed out after \(DurationText.format(timeout)) (queue.\(kind.rawValue)_timeout); the statement running was cancelled"
            logger.warning("job attempt timed out", metadata: ["dsr.attempt": "\(job.attempt)"])
            DaemonMetrics.attemptTimedOut(kind: kind.rawValue)
            return retry(job, kind: kind, reason: reason)
        } catch is CancellationError where stopping.load(ordering: .sequentiallyConsistent) {
            return .released
        } catch let failure as JobFailure {
            switch failure {
            case .permanent(let reason):
                logger.error("job failed permanently", metadata: ["dsr.error": "\(reason)"])
                return .failed(reason: reason, retryAfter: nil)
            case .retry(let delay, let reason):
                logger.warning("job asked to retry", metadata: ["dsr.error": "\(reason)"])
                return retry(job, kind: kind, reason: reason, after: delay)
            case .postpone(let delay, let reason):
                logger.notice("job postponed", metadata: ["dsr.reason": "\(reason)"])
                return .postponed(after: delay, reason: reason)
            }
        } catch {
            if Task.isCancelled && stopping.load(ordering: .sequentiallyConsistent) { return .released }
            logger.warning("job attempt failed", metadata: ["dsr.error": "\(error)", "dsr.attempt": "\(job.attempt)"])
            return retry(job, kind: kind, reason: "\(error)")
        }
    }

    /// A failed attempt that may be retried. Store tasks retry by time: for
    /// `queue.store_outage_budget` after their first failure (the database keeps the end in
    /// `retry_until`), with the backoff capped at `queue.store_retry_max_delay`. Other jobs
    /// retry until they run out of attempts.
    private func retry(_ job: Job, kind: JobKind, reason: String, after asked: Duration? = nil) -> JobOutcome {
        let jitter = Double.random(in: 0...1)
        if kind == .storeTask {
            let delay = min(asked ?? retryPolicy.delay(afterAttempt: job.attempt, jitter: jitter), options.queue.storeRetryMaxDelay)
            return .failed(reason: reason, retryAfter: delay, retryBudget: options.queue.storeOutageBudget)
        }
        if job.isLastAttempt { return .failed(reason: reason, retryAfter: nil) }
        return .failed(reason: reason, retryAfter: asked ?? retryPolicy.delay(afterAttempt: job.attempt, jitter: jitter))
    }

    private struct JobTimedOut: Error {}

    /// Runs `body`, cancelling it when `timeout` passes on the pool's clock first. Cancelling
    /// reaches a statement blocked in libpq through ``ConnectionPool`` (`PQcancel`); from that
    /// moment the job is overdue and its lease is not renewed, so a handler that cannot be
    /// interrupted loses the job to the rescuer one lease later instead of holding it forever.
    private func runWithin(_ timeout: Duration, job: Job, _ body: @escaping @Sendable () async throws -> JobResult) async throws
        -> JobResult
    {
        try await withThrowingTaskGroup(of: JobResult?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                // Cancelled when the body finished first: the result is not read.
                guard await self.deadlines.wait(until: self.clock.now.advanced(by: timeout)) else { throw CancellationError() }
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else {
                leases.markOverdue(job.id)
                events.emit(.timedOut(job.id))
                throw JobTimedOut()
            }
            return result
        }
    }

    // MARK: Background loops

    /// LISTEN on a connection of its own; every notification rings the fetch loop.
    private func listen() async {
        var link = DatabaseLink(conninfo: conninfo, settings: options.sessionSettings, logger: logger)
        var listening = false
        while !Task.isCancelled {
            do {
                let connection = try await link.connection()
                if !listening {
                    try await connection.listen("dsr_jobs")
                    listening = true
                    events.emit(.listening)
                    // Anything queued while we were not listening is found by this claim.
                    workAvailable.ring()
                }
                let received = try await connection.waitForNotifications(timeout: .milliseconds(250))
                if !received.isEmpty { workAvailable.ring() }
                link.succeeded()
            } catch {
                listening = false
                await link.failed(error)
            }
        }
        await link.close()
    }

    /// Rings the fetch loop every `queue.poll_interval`, in case a notification was lost. The
    /// ticks keep to a schedule fixed at `origin` (a late tick does not move the next one), so
    /// advancing a test clock by one interval always makes exactly one tick.
    private func pollTicks(from origin: C.Instant) async {
        var next = origin.advanced(by: options.queue.pollInterval)
        while !Task.isCancelled {
            do {
                try await clock.sleep(until: next, tolerance: nil)
            } catch {
                return
            }
            next = next.advanced(by: options.queue.pollInterval)
            workAvailable.ring()
        }
    }

    /// Renews leases and this process's liveness every `queue.heartbeat_interval`; rescues
    /// other processes' expired leases every `queue.rescue_interval`. Both keep to schedules
    /// fixed at start, like ``pollTicks()``.
    private func heartbeat(from origin: C.Instant) async {
        var link = DatabaseLink(conninfo: conninfo, settings: options.sessionSettings, logger: logger)
        var nextRenewal = origin.advanced(by: options.queue.heartbeatInterval)
        var nextRescue = origin.advanced(by: options.queue.rescueInterval)
        while !Task.isCancelled {
            try? await clock.sleep(until: min(nextRenewal, nextRescue), tolerance: nil)
            if Task.isCancelled { break }
            let now = clock.now
            do {
                let connection = try await link.connection()
                if now >= nextRenewal {
                    let renewed = try await QueueStore.extendLeases(
                        connection, ids: leases.renewable, workerID: options.workerID, lease: options.queue.leaseDuration)
                    try await QueueStore.touchWorker(connection, id: options.workerID)
                    events.emit(.leasesRenewed(renewed))
                    nextRenewal = nextRenewal.nextTick(every: options.queue.heartbeatInterval, after: now)
                }
                if now >= nextRescue {
                    let rescued = try await QueueStore.rescueExpired(connection)
                    nextRescue = nextRescue.nextTick(every: options.queue.rescueInterval, after: now)
                    if rescued > 0 {
                        logger.warning("rescued jobs with expired leases", metadata: ["dsr.count": "\(rescued)"])
                        workAvailable.ring()
                    }
                    events.emit(.rescued(rescued))
                }
                link.succeeded()
            } catch {
                await link.failed(error)
            }
        }
        await link.close()
    }

    /// Whether `condition` became true before `timeout` passed on the pool's clock (it is
    /// checked every 20 ms of real time).
    private func waitUntil(timeout: Duration, _ condition: @Sendable () -> Bool) async -> Bool {
        let deadline = clock.now.advanced(by: timeout)
        while !condition() {
            if clock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }
}
