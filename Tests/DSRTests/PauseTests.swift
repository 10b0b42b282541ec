import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

@testable import DSR

/// `dsr.pause_store`: a paused store's tasks wait (no attempt used, no failure, no outage
/// budget), the request shows why, new requests are still acknowledged, the DPO is told once,
/// `dsr.queue_health` lists the pause; `dsr.resume_store` lets the work finish at once.
@Suite("Pausing a store")
struct PauseTests {
    @Test func aPausedStoresTasksWaitAndResumeWithoutFailing() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                #expect(
                    try await connection.query("SELECT dsr.pause_store('marketing', 'CRM migration until Monday') AS m")[0]
                        .decode("m", as: String.self).hasPrefix("store marketing is paused"))
                let id = try await connection.query("SELECT dsr.submit('access', '{\"email\": \"somchai.test@example.co.th\"}') AS id")[0]
                    .decode(
                        "id", as: UUID.self)
                #expect(
                    try await connection.count("SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'received'", [id]) == 1
                )
                let task = "SELECT id FROM dsr.jobs WHERE request_id = $1 AND kind = 'store_task' AND payload ->> 'store' = 'marketing'"
                try await InProcessDaemon.run(
                    database: database, overrides: ["exports.directory=\(exports.path)"], environment: stores.environment
                ) { daemon in
                    try await daemon.until("the other stores done, marketing postponed") {
                        let done = try await connection.count(
                            "SELECT count(*) FROM dsr.request_tasks WHERE request_id = $1 AND state = 'done'", [id])
                        let postponed = try await connection.count(
                            "SELECT count(*) FROM dsr.jobs WHERE request_id = $1 AND kind = 'store_task' AND payload ->> 'store' = 'marketing' AND state = 'available' AND run_at > now()",
                            [id])
                        return done == 2 && postponed == 1
                    }
                    let job = try await connection.query(task, [id])[0].decode("id", as: Int64.self)
                    let waiting = try await connection.query("SELECT attempt, retry_until, last_error FROM dsr.jobs WHERE id = $1", [job])[
                        0]
                    #expect(try waiting.decode("attempt", as: Int.self) == 0)  // no attempt used
                    #expect(try waiting.decode("retry_until", as: Date?.self) == nil)  // nor the outage budget
                    #expect(try waiting.decode("last_error", as: String.self) == "store marketing is paused: CRM migration until Monday")
                    // The request's most relevant job is the waiting one, and says why.
                    let status = try await connection.query(
                        "SELECT job_id, job_state, last_error FROM dsr.request_status WHERE id = $1", [id])[0]
                    #expect(try status.decode("job_id", as: Int64.self) == job)
                    #expect(try status.decode("job_state", as: String.self) == "available")
                    #expect(try status.decode("last_error", as: String.self) == "store marketing is paused: CRM migration until Monday")
                    #expect(
                        try await connection.count("SELECT count(*) FROM dsr.request_tasks WHERE request_id = $1 AND failures > 0", [id])
                            == 0)
                    #expect(
                        try await connection.query("SELECT paused FROM dsr.queue_health")[0].decode("paused", as: String.self)
                            == "marketing (CRM migration until Monday)")
                    #expect(try await connection.count("SELECT count(*) FROM dsr.outbox WHERE template = 'dpo_store_paused'") == 1)

                    #expect(
                        try await connection.query("SELECT dsr.resume_store('marketing') AS m")[0].decode("m", as: String.self)
                            == "resumed; 1 waiting job(s) run now")
                    try await daemon.until("the request completed") {
                        try await connection.isCompleted(id)
                    }
                    #expect(try await connection.count("SELECT attempt FROM dsr.jobs WHERE id = $1", [job]) == 1)
                }
                await #expect(throws: PostgresError.self) { try await connection.execute("SELECT dsr.resume_store('marketing')") }
                await #expect(throws: PostgresError.self) { try await connection.execute("SELECT dsr.pause_store('marketing', ' ')") }
            }
        }
    }

    /// `*` pauses everything, the planning of new requests included; they are still received
    /// and acknowledged.
    @Test func pausingEveryStoreHoldsNewRequestsAfterTheirAcknowledgement() async throws {
        try await TestDatabase.migrated { database, connection in
            try await StoreFixture.with(customers: 20) { stores in
                let exports = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: exports) }
                try await connection.execute("SELECT dsr.pause_store('*', 'disaster recovery drill')")
                let id = try await connection.query("SELECT dsr.submit('access', '{\"email\": \"somchai.test@example.co.th\"}') AS id")[0]
                    .decode(
                        "id", as: UUID.self)
                try await InProcessDaemon.run(
                    database: database, overrides: ["exports.directory=\(exports.path)"], environment: stores.environment
                ) { daemon in
                    try await daemon.until("the request postponed") {
                        try await connection.count(
                            "SELECT count(*) FROM dsr.jobs WHERE request_id = $1 AND kind = 'request' AND state = 'available' AND run_at > now() AND attempt = 0",
                            [id]) == 1
                    }
                    #expect(
                        try await connection.count("SELECT count(*) FROM dsr.outbox WHERE request_id = $1 AND template = 'received'", [id])
                            == 1)
                    #expect(try await connection.count("SELECT count(*) FROM dsr.request_tasks WHERE request_id = $1", [id]) == 0)
                    try await connection.execute("SELECT dsr.resume_store('*')")
                    try await daemon.until("the request completed") {
                        try await connection.isCompleted(id)
                    }
                }
            }
        }
    }

    /// A task that saw its store paused but is handed back only after `dsr.resume_store` (the
    /// resume came while it ran) runs again at once, not after the pause recheck; a task
    /// handed back while the pause lasts still waits.
    @Test func aResumeWhileATaskRunsIsNotMissed() async throws {
        try await TestDatabase.migrated { _, connection in
            let id = try await connection.query("SELECT dsr.submit('access', '{\"email\": \"somchai.test@example.co.th\"}') AS id")[0]
                .decode("id", as: UUID.self)
            try await connection.execute("SELECT dsr.pause_store('marketing', 'CRM migration')")
            // Only the task below is claimed: the request's own jobs and notices are not.
            try await connection.execute("SELECT dsr.cancel_job(id, 'pause test') FROM dsr.jobs WHERE state = 'available'")
            let task = try await connection.query(
                "INSERT INTO dsr.jobs (kind, request_id, payload) VALUES ('store_task', $1, '{\"store\": \"marketing\"}') RETURNING id",
                [id]
            )[0].decode("id", as: Int64.self)
            let recheck = FanOut.pauseRecheck
            func handBack(_ job: Job) async throws {
                let recorded = try await QueueStore.record(
                    connection,
                    [FinishedJob(job: job, outcome: .postponed(after: recheck, reason: "store marketing is paused: CRM migration"))])
                #expect(recorded == [job.id])
            }
            func claim() async throws -> Job {
                // Due now: a postponement that waits is brought forward by hand here.
                try await connection.execute("UPDATE dsr.jobs SET run_at = now() WHERE id = $1", [task])
                let claimed = try await QueueStore.claim(connection, limit: 1, workerID: "test", lease: .seconds(60))
                #expect(claimed.map(\.id) == [task])
                return try #require(claimed.first)
            }
            let due = "SELECT count(*) FROM dsr.jobs WHERE id = $1 AND state = 'available' AND run_at <= now()"

            // Handed back while the store is paused: it waits.
            try await handBack(try await claim())
            #expect(try await connection.count(due, [task]) == 0)

            // Handed back after a resume that came while it ran: due at once.
            let running = try await claim()
            #expect(
                try await connection.query("SELECT dsr.resume_store('marketing') AS m")[0].decode("m", as: String.self)
                    == "resumed; 0 waiting job(s) run now")
            try await handBack(running)
            #expect(try await connection.count(due, [task]) == 1)
            #expect(try await connection.count("SELECT attempt FROM dsr.jobs WHERE id = $1", [task]) == 0)
        }
    }
}
