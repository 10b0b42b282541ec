import DSR
import DSRTestSupport
import Foundation
import Synchronization
import TestSupport
import Testing

/// The test harness itself: a broken wait must fail its test, not hang the suite.
@Suite("In-process daemon harness")
struct InProcessDaemonTests {
    /// A condition that never holds, while commits keep being reported (as by a daemon
    /// retrying forever; here each check reports one itself, so the test does not depend on how
    /// fast the daemon is): the wait fails after its bound and the daemon still shuts down, so
    /// the test ends. It once spun for hours, its event log growing.
    @Test func waitThatNeverHoldsFailsWhileTheDaemonStaysBusy() async throws {
        try await TestDatabase.migrated { database, _ in
            let checks = Atomic<Int>(0)
            try await withKnownIssue {
                try await InProcessDaemon.run(arguments: database.runArguments([]), log: LogCapture(), realTime: true) { daemon in
                    try await daemon.until("a condition that never holds", limit: .seconds(2)) {
                        checks.add(1, ordering: .relaxed)
                        daemon.events.append(.recorded([]))
                        return false
                    }
                }
            } matching: { issue in
                // The wait's own report, then the error it throws to end the test's body.
                issue.comments.contains { $0.rawValue.contains("a condition that never holds") }
                    || issue.error is CancellationError
            }
            // Each check follows a reported commit: the wait was woken again and again, and
            // still ended at its bound.
            #expect(checks.load(ordering: .relaxed) > 1, "the wait checked again after each reported commit")
        }
    }
}
