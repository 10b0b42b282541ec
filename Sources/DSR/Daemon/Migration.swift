/// One numbered SQL file from `Deploy/migrations`, embedded at build time.
public struct Migration: Sendable, Equatable {
    /// The number the file name starts with; migrations apply in this order.
    public let version: Int
    /// The rest of the file name, e.g. `requests` for `0001_requests.sql`.
    public let name: String
    public let sql: String

    /// Every migration this build carries, in order.
    public static let all: [Migration] = embeddedMigrations.map { file, sql in
        let stem = file.hasSuffix(".sql") ? String(file.dropLast(4)) : file
        let parts = stem.split(separator: "_", maxSplits: 1)
        guard parts.count == 2, let version = Int(parts[0]) else {
            preconditionFailure("migration file \(file) must be named NNNN_name.sql")
        }
        return Migration(version: version, name: String(parts[1]), sql: sql)
    }.sorted { $0.version < $1.version }
}
