import Foundation
import Postgres

/// Stops a store task's change at the last moment when its request was held, refused or
/// cancelled meanwhile. Just before the store commits, `admit()` takes the request's row in
/// dsrd's database `FOR SHARE` and checks its status; the lock is held until the store has
/// committed. So an operator's `dsr.ask_identity_verification`, `dsr.refuse_request` or a
/// cancellation either comes first (the store rolls back: nothing changed) or waits the
/// milliseconds of that commit (the change is then recorded as done). Nothing in between.
///
/// The gate has its own connection from the handlers' pool, and the task does all its
/// dsrd-side work through it while the gate is open: a second connection per task could
/// exhaust the pool (its size is the number of workers).
public struct WorkGate: Sendable {
    public let connection: PostgresConnection
    let requestID: UUID

    /// The request no longer allows work; the store transaction rolls back.
    public struct Stopped: Error, CustomStringConvertible {
        public let status: RequestStatus?
        public var description: String { "request is \(status?.rawValue ?? "gone"): the store change was rolled back" }
    }

    /// Opens the lock transaction and throws `Stopped` unless the request still allows work.
    public func admit() async throws {
        if await !connection.inTransaction { try await connection.begin() }
        let status = try await connection.query(
            "SELECT status FROM dsr.requests WHERE id = $1 FOR SHARE", [requestID]
        ).first?.decode("status", as: RequestStatus.self, of: "request \(requestID)")
        guard let status, status.allowsWork else { throw Stopped(status: status) }
    }

    /// Runs `body` with a gate for `requestID`, then releases the lock (after the store's commit).
    static func around<T: Sendable>(
        _ requestID: UUID, pool: ConnectionPool, _ body: @Sendable (WorkGate) async throws -> T
    ) async throws -> T {
        try await pool.withConnection { connection in
            let gate = WorkGate(connection: connection, requestID: requestID)
            do {
                let value = try await body(gate)
                if await connection.inTransaction { try await connection.execute("COMMIT") }
                return value
            } catch {
                if await connection.inTransaction { _ = try? await connection.execute("ROLLBACK") }
                throw error
            }
        }
    }
}
