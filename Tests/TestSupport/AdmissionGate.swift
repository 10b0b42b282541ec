/// Lets at most `width` callers run a piece of work at once; the others wait in arrival order.
///
/// The suite runs its tests side by side, and most begin by creating databases. PostgreSQL
/// writes each new database's relation map under one lock with an fsync, and a connection
/// being opened must read that map: a few dozen `CREATE DATABASE`s at once made other tests'
/// connections wait past their connect timeout on a slow disk. ``databaseCreation`` admits a
/// few at a time instead.
public actor AdmissionGate {
    /// Shared by every helper that creates a database for a test.
    public static let databaseCreation = AdmissionGate(width: 3)

    private let width: Int
    private var inside = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    public init(width: Int) {
        precondition(width > 0)
        self.width = width
    }

    /// Runs `body` once admitted, and makes room for the next caller when it ends, thrown or not.
    @discardableResult
    public nonisolated func run<T>(_ body: () async throws -> T) async throws -> T {
        await enter()
        do {
            let value = try await body()
            await leave()
            return value
        } catch {
            await leave()
            throw error
        }
    }

    /// Callers waiting to be admitted.
    public var waitingCount: Int { waiting.count }

    private func enter() async {
        if inside < width {
            inside += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func leave() {
        if waiting.isEmpty {
            inside -= 1
        } else {
            // The place passes straight to the first waiter.
            waiting.removeFirst().resume()
        }
    }
}
