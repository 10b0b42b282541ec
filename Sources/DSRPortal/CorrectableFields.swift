import DSR
import Foundation
import Postgres
import Synchronization

/// The fields the rectification form offers: what `dsrd run` published from the mappings
/// (`dsr.correctable_field_names()`), read at most once a minute. Until a daemon has published
/// any, the common ones, which `dsr.submit` then accepts and the daemon checks.
final class CorrectableFields: Sendable {
    static let common = ["first_name", "last_name", "email", "phone", "address"]
    private let state = Mutex<(fields: [String], readAt: ContinuousClock.Instant?)>((common, nil))
    private static let maximumAge: Duration = .seconds(60)

    var current: [String] { state.withLock { $0.fields } }

    /// Reads them again when the last read is older than a minute; keeps the last list when
    /// the database cannot be asked.
    func refresh(from pool: ConnectionPool) async {
        let now = ContinuousClock.now
        let due = state.withLock { state in state.readAt.map { now - $0 > Self.maximumAge } ?? true }
        guard due else { return }
        let fields = try? await pool.withConnection { connection in
            try await connection.query("SELECT dsr.correctable_field_names() AS field").map { try $0.decode("field", as: String.self) }
        }
        state.withLock { state in
            if let fields { state.fields = fields.isEmpty ? Self.common : fields }
            state.readAt = now
        }
    }
}
