import Testing

@testable import DSR

/// The schedules the worker pool and the scanners keep: fixed phase, missed ticks skipped.
@Suite("Schedules")
struct ScheduleTests {
    @Test func theNextTickKeepsThePhaseAndSkipsWhatARoundOverran() {
        let start = ContinuousClock.Instant.now
        // On time: the next tick is one interval on.
        #expect(start.nextTick(every: .seconds(1), after: start) == start.advanced(by: .seconds(1)))
        // A round that took 3.5 intervals: ticks 1, 2 and 3 are skipped, tick 4 keeps the phase.
        #expect(start.nextTick(every: .seconds(1), after: start.advanced(by: .milliseconds(3_500))) == start.advanced(by: .seconds(4)))
        // Exactly on a tick counts as that tick having passed.
        #expect(start.nextTick(every: .seconds(1), after: start.advanced(by: .seconds(2))) == start.advanced(by: .seconds(3)))
    }
}
