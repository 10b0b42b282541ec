import TestSupport
import Testing

@testable import DSR

/// The attempts' timeouts: a wait ends when its deadline comes on the keeper's clock, and a
/// cancelled wait (the attempt finished first) lets go of everything at once, not when its
/// deadline comes (as a cancelled `Task.sleep` did, minutes later, for every job run meanwhile).
@Suite("Attempt timeouts")
struct DeadlineKeeperTests {
    @Test func aCancelledWaitIsReleasedAtOnceAndADueOneEnds() async throws {
        let clock = ManualClock()
        let keeper = DeadlineKeeper(clock: clock, shortestTimeout: .seconds(300))
        #expect(keeper.tick == .seconds(1))
        let runner = Task { await keeper.run() }
        let waits = (0..<1000).map { _ in Task { await keeper.wait(until: clock.now.advanced(by: .seconds(300))) } }
        while keeper.count < 1000 { await Task.yield() }
        for wait in waits { wait.cancel() }
        for wait in waits { #expect(await wait.value == false) }
        #expect(keeper.count == 0)

        let due = Task { await keeper.wait(until: clock.now.advanced(by: .seconds(300))) }
        while keeper.count < 1 { await Task.yield() }
        clock.advance(by: .seconds(299))
        #expect(keeper.count == 1)
        clock.advance(by: .seconds(1))
        #expect(await due.value == true)
        #expect(keeper.count == 0)

        // A deadline already past ends at once; a wait cancelled before it starts never waits.
        #expect(await keeper.wait(until: clock.now) == true)
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await keeper.wait(until: clock.now.advanced(by: .seconds(300)))
        }
        #expect(await early.value == false)
        #expect(keeper.count == 0)
        runner.cancel()
        await runner.value
    }

    @Test func theTickFollowsTheShortestTimeout() {
        #expect(DeadlineKeeper(clock: ManualClock(), shortestTimeout: .milliseconds(100)).tick == .milliseconds(10))
        #expect(DeadlineKeeper(clock: ManualClock(), shortestTimeout: .seconds(2)).tick == .milliseconds(200))
        #expect(DeadlineKeeper(clock: ManualClock(), shortestTimeout: .milliseconds(10)).tick == .milliseconds(10))
    }
}
