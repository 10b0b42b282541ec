import DSR
import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

/// The test harness itself: a broken wait must fail its test, not hang the suite.
@Suite("In-process daemon harness")
struct InProcessDaemonTests {
    /// A condition that never holds, while the daemon keeps committing work (each check queues
    /// another job, as a daemon retrying forever would): the wait fails after its bound and the
    /// daemon still shuts down, so the test ends. It once spun for hours, its event log growing.
    @Test func waitThatNeverHoldsFailsWhileTheDaemonStaysBusy() async throws {
        try await TestDatabase.migrated { database, connection in
            try await withKnownIssue {
                try await InProcessDaemon.run(arguments: database.runArguments([]), log: LogCapture(), realTime: true) { daemon in
                    try await daemon.until("a condition that never holds", limit: .seconds(2)) {
                        try await connection.execute("INSERT INTO dsr.jobs (kind, payload) VALUES ('probe', '{}')")
                        return false
                    }
                }
            } matching: { issue in
                // The wait's own report, then the error it throws to end the test's body.
                issue.comments.contains { $0.rawValue.contains("a condition that never holds") }
                    || issue.error is CancellationError
            }
            // Each check follows an event the daemon reported: the wait was woken again and again.
            #expect(
                try await connection.count("SELECT count(*) FROM dsr.jobs WHERE kind = 'probe'") > 1,
                "the daemon kept reporting while the test waited")
        }
    }
}
