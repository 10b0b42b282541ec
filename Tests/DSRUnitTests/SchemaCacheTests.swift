import Synchronization
import Testing

@testable import DSR

@Suite("Store catalog cache")
struct SchemaCacheTests {
    /// A read the test lets finish when it says so, counting how often it was started.
    final class GatedRead: Sendable {
        let reads = Mutex(0)
        private let gate = Gate()

        func open() async { await gate.open() }

        func read(_ tables: [String]) -> @Sendable () async throws -> StoreSchema {
            { [self] in
                reads.withLock { $0 += 1 }
                await gate.wait()
                return StoreSchema(
                    tables: Dictionary(
                        uniqueKeysWithValues: tables.map {
                            ($0, .init(name: $0, columns: [], primaryKey: [], indexes: [], foreignKeys: [], estimatedRows: 0))
                        }))
            }
        }
    }

    /// Suspends every waiter until opened; open for good after.
    actor Gate {
        private var isOpen = false
        private var waiters: [CheckedContinuation<Void, Never>] = []

        func wait() async {
            if isOpen { return }
            await withCheckedContinuation { waiters.append($0) }
        }

        func open() {
            isOpen = true
            for waiter in waiters { waiter.resume() }
            waiters = []
        }
    }

    /// A daemon's workers start on a store together: the catalog is read once, and every
    /// caller that asked meanwhile gets that read's result.
    @Test func callersWhileTheCatalogIsReadShareOneRead() async throws {
        let cache = SchemaCache()
        let read = GatedRead()
        let callers = 8
        let names = try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<callers {
                group.addTask { Array(try await cache.schema(read.read(["customers"])).tables.keys) }
            }
            // Until the other callers wait for the first one's read (bounded, in case they never do).
            for _ in 0..<100_000 where await cache.joined < callers - 1 { await Task.yield() }
            await read.open()
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(read.reads.withLock { $0 } == 1)
        #expect(names == Array(repeating: "customers", count: callers))
        #expect(await cache.joined == callers - 1)
        // Cached: no read at all.
        _ = try await cache.schema {
            Issue.record("read again")
            return StoreSchema(tables: [:])
        }
    }

    /// A statement failed on the schema while the catalog was being read: that read may be
    /// older than the change, so it is not kept, and the next caller reads again.
    @Test func aReadBegunBeforeAnInvalidationIsNotKept() async throws {
        let cache = SchemaCache()
        let read = GatedRead()
        async let first = cache.schema(read.read(["before"]))
        while read.reads.withLock({ $0 }) == 0 { await Task.yield() }
        await cache.invalidate()
        await read.open()
        #expect(try await first.tables.keys.sorted() == ["before"])
        let again = GatedRead()
        await again.open()
        #expect(try await cache.schema(again.read(["after"])).tables.keys.sorted() == ["after"])
        #expect(again.reads.withLock { $0 } == 1)
    }

    /// A job's time-out cancels a caller waiting for another's read: it stops waiting at
    /// once, and the read goes on for its reader.
    @Test func aWaitingCallerCanBeCancelledAlone() async throws {
        let cache = SchemaCache()
        let read = GatedRead()
        async let reader = cache.schema(read.read(["customers"]))
        while read.reads.withLock({ $0 }) == 0 { await Task.yield() }
        let waiter = Task { try await cache.schema(read.read(["never"])) }
        while await cache.joined == 0 { await Task.yield() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        await read.open()
        #expect(try await reader.tables.keys.sorted() == ["customers"])
        #expect(read.reads.withLock { $0 } == 1)
    }

    /// When the read fails, its reader gets the error and a caller that waited reads again.
    @Test func aFailedReadIsMadeAgainByAWaitingCaller() async throws {
        struct Unreachable: Error {}
        let cache = SchemaCache()
        let gate = Gate()
        let failing = Task {
            try await cache.schema {
                await gate.wait()
                throw Unreachable()
            }
        }
        while await cache.isReading == false { await Task.yield() }
        let again = GatedRead()
        await again.open()
        let waiter = Task { try await cache.schema(again.read(["customers"])) }
        while await cache.joined == 0 { await Task.yield() }
        await gate.open()
        await #expect(throws: Unreachable.self) { try await failing.value }
        #expect(try await waiter.value.tables.keys.sorted() == ["customers"])
        #expect(again.reads.withLock { $0 } == 1)
    }
}
