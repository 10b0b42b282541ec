import Logging
import Postgres

/// Applies the embedded migrations in order, each in its own transaction, recorded in
/// `dsr.schema_migrations`. A session-level advisory lock serialises concurrent runs, so
/// two daemons starting together apply each migration once and both succeed.
public struct Migrator: Sendable {
    /// Advisory lock key shared by every dsrd (`pg_advisory_lock(key)`); "dsrd" in ASCII.
    public static let lockKey: Int64 = 0x6473_7264_6D69_6772

    public let migrations: [Migration]
    public let logger: Logger

    public init(migrations: [Migration] = Migration.all, logger: Logger) {
        self.migrations = migrations
        self.logger = logger
    }

    public struct Status: Sendable {
        public var applied: [Int]
        public var pending: [Migration]
        /// Versions the database has that this build does not know (a newer dsrd ran).
        public var unknown: [Int]
    }

    /// Applies what is pending and returns the versions applied by this call.
    @discardableResult
    public func migrate(_ connection: PostgresConnection) async throws -> [Int] {
        try await connection.execute("SELECT pg_advisory_lock($1)", [Self.lockKey])
        do {
            let applied = try await applyPending(connection)
            try await connection.execute("SELECT pg_advisory_unlock($1)", [Self.lockKey])
            return applied
        } catch {
            // The lock is released with the session anyway; release it now if we can.
            _ = try? await connection.execute("SELECT pg_advisory_unlock($1)", [Self.lockKey])
            throw error
        }
    }

    public func status(_ connection: PostgresConnection) async throws -> Status {
        let rows = try await connection.query(
            "SELECT to_regclass('dsr.schema_migrations') IS NOT NULL AS present")
        guard try rows[0].decode("present", as: Bool.self) else {
            return Status(applied: [], pending: migrations, unknown: [])
        }
        let applied = try await connection.query("SELECT version FROM dsr.schema_migrations ORDER BY version")
            .map { try $0.decode("version", as: Int.self) }
        let known = Set(migrations.map(\.version))
        return Status(
            applied: applied,
            pending: migrations.filter { !applied.contains($0.version) },
            unknown: applied.filter { !known.contains($0) })
    }

    private func applyPending(_ connection: PostgresConnection) async throws -> [Int] {
        // Only a new database needs the bookkeeping table; a role without CREATE (dsr_daemon)
        // can then start with migrate_on_start and find nothing to do.
        let present = try await connection.query("SELECT to_regclass('dsr.schema_migrations') IS NOT NULL AS present")[0]
            .decode("present", as: Bool.self)
        if !present { try await createBookkeeping(connection) }
        var recorded: [Int: String] = [:]
        for row in try await connection.query("SELECT version, checksum FROM dsr.schema_migrations") {
            recorded[try row.decode("version", as: Int.self)] = try row.decode("checksum", as: String.self)
        }
        var applied: [Int] = []
        for migration in migrations {
            let checksum = try await connection.query(
                "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex') AS digest", [migration.sql]
            )[0].decode("digest", as: String.self)
            if let existing = recorded[migration.version] {
                if existing != checksum {
                    throw MigrationError(
                        "migration \(migration.version)_\(migration.name) was changed after it was applied; add a new migration instead")
                }
                continue
            }
            logger.info("applying migration", metadata: ["dsr.migration": "\(migration.version)_\(migration.name)"])
            try await connection.transaction { connection in
                try connection.runScript(migration.sql)
                try connection.execute(
                    "INSERT INTO dsr.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    [migration.version, migration.name, checksum])
            }
            applied.append(migration.version)
        }
        return applied
    }

    private func createBookkeeping(_ connection: PostgresConnection) async throws {
        try await connection.runScript(
            """
            CREATE SCHEMA IF NOT EXISTS dsr;
            CREATE TABLE IF NOT EXISTS dsr.schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            );
            COMMENT ON TABLE dsr.schema_migrations IS 'Migrations applied by dsrd migrate, with the SHA-256 of each file as applied.';
            COMMENT ON COLUMN dsr.schema_migrations.version IS 'Number from the file name.';
            COMMENT ON COLUMN dsr.schema_migrations.name IS 'Rest of the file name.';
            COMMENT ON COLUMN dsr.schema_migrations.checksum IS 'SHA-256 of the SQL text; a mismatch means a released migration was edited.';
            COMMENT ON COLUMN dsr.schema_migrations.applied_at IS 'When it was applied.';
            """)
    }
}

public struct MigrationError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
