import Logging
import Postgres
import Synchronization

/// Records finished attempts in batches: whatever has finished since the last commit goes
/// into one transaction, so a busy queue pays for one commit per batch, not per job. A batch
/// of completions, with their effects and the COMMIT, is one exchange with the server
/// (``QueueStore/record(_:_:)``).
///
/// If a batch fails on a statement (one job's effects are invalid), each job is recorded
/// alone so that only the faulty one is retried. On a broken connection the batch is kept
/// and recorded again after reconnecting: recording is fenced by `(id, attempt)`, so
/// repeating it after an unknown commit outcome cannot apply anything twice.
final class Completer: Sendable {
    private let pending = Mutex<[FinishedJob]>([])
    private let bell = Doorbell()
    private let finishing = Atomic<Bool>(false)
    private let abandoned = Atomic<Bool>(false)
    private let leases: LeaseBook
    private let conninfo: String
    private let settings: [(name: String, value: String)]
    private let logger: Logger
    private let events: DaemonEvents
    private let maxBatch = 1000

    init(
        conninfo: String, settings: [(name: String, value: String)] = [], leases: LeaseBook, events: DaemonEvents = .none,
        logger: Logger
    ) {
        self.conninfo = conninfo
        self.settings = settings
        self.leases = leases
        self.events = events
        self.logger = logger
    }

    func submit(_ finished: FinishedJob) {
        pending.withLock { $0.append(finished) }
        bell.ring()
    }

    /// Asks ``run()`` to return once everything submitted so far is recorded.
    func finish() {
        finishing.store(true, ordering: .sequentiallyConsistent)
        bell.ring()
    }

    /// Stops retrying a database that stays down during shutdown: leases then expire and
    /// other workers rescue the jobs.
    func abandon() {
        abandoned.store(true, ordering: .sequentiallyConsistent)
        pending.withLock { $0.removeAll() }
        finish()
    }

    func run() async {
        var link = DatabaseLink(conninfo: conninfo, settings: settings, logger: logger)
        while true {
            let batch = pending.withLock { pending -> [FinishedJob] in
                let batch = Array(pending.prefix(maxBatch))
                pending.removeFirst(batch.count)
                return batch
            }
            if batch.isEmpty {
                if finishing.load(ordering: .sequentiallyConsistent) {
                    await link.close()
                    return
                }
                await bell.wait(timeout: .seconds(1))
                continue
            }
            var remaining = batch
            while !remaining.isEmpty {
                do {
                    let connection = try await link.connection()
                    try await record(remaining, on: connection)
                    link.succeeded()
                    events.emit(.recorded(remaining.map(\.job.id)))
                    remaining = []
                } catch {
                    if abandoned.load(ordering: .sequentiallyConsistent) { return }
                    await link.failed(error)
                }
            }
        }
    }

    private func record(_ batch: [FinishedJob], on connection: PostgresConnection) async throws {
        do {
            let recorded = try await QueueStore.record(connection, batch)
            leases.remove(batch.map(\.job.id))
            if recorded.count < batch.count {
                logger.notice("results discarded: lease lost", metadata: ["dsr.count": "\(batch.count - recorded.count)"])
            }
        } catch let error as PostgresError where error.kind == .server && batch.count > 1 {
            for item in batch { try await recordAlone(item, on: connection) }
        } catch let error as PostgresError where error.kind == .server {
            try await recordAlone(batch[0], on: connection)
        }
    }

    private func recordAlone(_ item: FinishedJob, on connection: PostgresConnection) async throws {
        do {
            _ = try await QueueStore.record(connection, [item])
        } catch let error as PostgresError where error.kind == .server {
            // The job's own effects are at fault: fail this attempt instead.
            logger.error(
                "could not record a job result",
                metadata: ["dsr.job_id": "\(item.job.id)", "dsr.error": "\(error)"])
            let failed = FinishedJob(
                job: item.job,
                outcome: .failed(reason: "recording the result failed: \(error)", retryAfter: .seconds(30)))
            _ = try await QueueStore.record(connection, [failed])
        }
        leases.remove([item.job.id])
    }
}
