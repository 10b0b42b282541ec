import Foundation

/// Everything dsrd can be told, with its defaults. `Config/dsrd.toml` documents every key;
/// the names there are `section.key` in snake case (`queue.workers`), environment
/// variables are `DSRD_SECTION_KEY` (`DSRD_QUEUE_WORKERS`), and `--set section.key=value`
/// overrides both on the command line.
public struct DSRConfiguration: Sendable, Equatable {
    public struct Database: Sendable, Equatable {
        /// libpq connection string or URI for the dsr schema's database. Default: empty,
        /// meaning the standard `PG*` environment, `~/.pgpass` and `PGSERVICE`.
        public var url: String = ""
        /// A file whose contents are the connection string (systemd `LoadCredential=`).
        /// Used when set; takes precedence over `url`. Default: unset.
        public var urlFile: String = ""
    }

    public struct Queue: Sendable, Equatable {
        /// Jobs this process runs at once. Default 4.
        public var workers: Int = 4
        /// Most jobs claimed in one statement. Default 32.
        public var batchSize: Int = 32
        /// Fallback poll when no notification arrives. Default 2 s.
        public var pollInterval: Duration = .seconds(2)
        /// How long a claim is valid without renewal. Default 60 s.
        public var leaseDuration: Duration = .seconds(60)
        /// How often leases and this process's liveness are renewed. Default 10 s.
        public var heartbeatInterval: Duration = .seconds(10)
        /// How often expired leases of other processes are rescued. Default 5 s.
        public var rescueInterval: Duration = .seconds(5)
        /// Attempts before a failing job is dead. Default 10.
        public var maxAttempts: Int = 10
        /// First retry delay; doubles per attempt, with jitter. Default 10 s.
        public var retryBaseDelay: Duration = .seconds(10)
        /// Longest retry delay. Default 6 h.
        public var retryMaxDelay: Duration = .seconds(6 * 3600)
    }

    public struct Daemon: Sendable, Equatable {
        /// On SIGTERM, how long in-flight jobs may run before they are released. Default 20 s
        /// (keep below systemd's `TimeoutStopSec`).
        public var shutdownGrace: Duration = .seconds(20)
        /// Apply pending migrations when `dsrd run` starts. Default true.
        public var migrateOnStart: Bool = true
        /// Name in `dsr.jobs.locked_by`; empty means the host name. Default empty.
        public var instanceName: String = ""
    }

    public struct Log: Sendable, Equatable {
        /// trace, debug, info, notice, warning, error or critical. Default info.
        public var level: String = "info"
    }

    public var database = Database()
    public var queue = Queue()
    public var daemon = Daemon()
    public var log = Log()

    public init() {}

    /// Every key and its value in force, as TOML grouped by section.
    public func rendered() -> String {
        var lines: [String] = []
        var section = ""
        for key in ConfigurationKey.all {
            let parts = key.name.split(separator: ".", maxSplits: 1).map(String.init)
            if parts[0] != section {
                if !section.isEmpty { lines.append("") }
                section = parts[0]
                lines.append("[\(section)]")
            }
            lines.append("\(parts[1]) = \(key.render(self))")
        }
        return lines.joined(separator: "\n")
    }

    /// The connection string to use, reading `database.url_file` if set.
    public func databaseConninfo() throws -> String {
        guard !database.urlFile.isEmpty else { return database.url }
        do {
            return try String(contentsOfFile: database.urlFile, encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw ConfigurationError("database.url_file: cannot read \(database.urlFile)")
        }
    }
}

public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
