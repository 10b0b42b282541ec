import Synchronization
import TestSupport
import Testing

/// The test suite's own gate for creating databases (``AdmissionGate``): at most `width`
/// callers inside, the next admitted when one leaves, also when its work throws.
@Suite("Admission gate")
struct AdmissionGateTests {
    struct Failed: Error {}

    /// Who got in, in order.
    final class Entries: Sendable {
        let list = Mutex<[Int]>([])
        var count: Int { list.withLock { $0.count } }
    }

    @Test func aCallerBeyondTheWidthWaitsUntilOneLeavesEvenByThrowing() async throws {
        let gate = AdmissionGate(width: 2)
        let inside = Entries()
        var releases: [AsyncStream<Bool>.Continuation] = []
        var streams: [AsyncStream<Bool>] = []
        for _ in 0..<3 {
            let (stream, continuation) = AsyncStream.makeStream(of: Bool.self)
            streams.append(stream)
            releases.append(continuation)
        }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for (index, release) in streams.enumerated() {
                group.addTask { [inside] in
                    do {
                        try await gate.run {
                            inside.list.withLock { $0.append(index) }
                            // Leaves when told, by returning or by throwing.
                            for await fails in release {
                                if fails { throw Failed() }
                                break
                            }
                        }
                        return true
                    } catch is Failed {
                        return false
                    }
                }
            }
            #expect(try await eventually { await gate.waitingCount == 1 && inside.count == 2 })
            let first = inside.list.withLock { $0[0] }
            releases[first].yield(true)
            #expect(try await eventually { inside.count == 3 })
            #expect(await gate.waitingCount == 0)
            for release in releases {
                release.yield(false)
                release.finish()
            }
            var outcomes: [Bool] = []
            for try await outcome in group { outcomes.append(outcome) }
            #expect(outcomes.filter { !$0 }.count == 1 && outcomes.count == 3)
        }
    }
}
