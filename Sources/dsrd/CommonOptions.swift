import ArgumentParser
import DSR
import Foundation
import Logging
import Postgres

/// Options every subcommand takes.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Configuration file (TOML).", valueName: "path"))
    var config: String?

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp("Override one configuration key, e.g. --set queue.workers=8 (repeatable).", valueName: "key=value"))
    var overrides: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "libpq connection string or URI; default: database.url, else the PG* environment.", valueName: "conninfo"))
    var databaseURL: String?

    func loadConfiguration() throws -> DSRConfiguration {
        let loader = ConfigurationLoader()
        var overrides = self.overrides
        if let databaseURL { overrides.append("database.url=\(databaseURL)") }
        do {
            return try loader.load(file: config ?? loader.defaultFile(), overrides: overrides)
        } catch let error as ConfigurationError {
            throw Failure(message: "configuration: \(error)", exitCode: .configuration)
        }
    }

    /// The store mappings (only `store` when given) and the identifier kinds they may name.
    func storeMappings(_ configuration: DSRConfiguration, only store: String? = nil) throws -> ([StoreMapping], [IdentityKind]) {
        let stores: [StoreMapping]
        let kinds: [IdentityKind]
        do {
            stores = try configuration.storeMappings()
            kinds = try configuration.identifiers.addedKinds()
        } catch let error as ConfigurationError {
            throw Failure(message: "configuration: \(error)", exitCode: .configuration)
        }
        let chosen = stores.filter { store == nil || $0.name == store }
        guard !chosen.isEmpty else {
            throw Failure(message: "no store named \(store ?? "") in \(configuration.connectors.directory)", exitCode: .configuration)
        }
        return (chosen, kinds)
    }

    func connect(_ configuration: DSRConfiguration) async throws -> PostgresConnection {
        do {
            return try await PostgresConnection.connect(try configuration.databaseConninfo())
        } catch let error as PostgresError {
            throw Failure(message: "cannot connect to the database: \(error)", exitCode: .unavailable)
        }
    }
}

/// A clear one-line error and a sysexits(3) status, so scripts and systemd can tell a bad
/// configuration (78, not worth restarting) from a database that is down (69).
struct Failure: Error, CustomStringConvertible {
    enum Code: Int32 {
        case usage = 64
        case dataError = 65
        case unavailable = 69
        case software = 70
        case cannotCreate = 73
        case configuration = 78
    }

    let message: String
    let exitCode: Code
    var description: String { message }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning known errors into a message on stderr and an exit status.
    func reportingFailures(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as Failure {
            FileHandle.standardError.write(Data("dsrd: \(failure.message)\n".utf8))
            throw ExitCode(failure.exitCode.rawValue)
        } catch let error as PostgresError {
            FileHandle.standardError.write(Data("dsrd: database error \(error)\n".utf8))
            throw ExitCode(error.kind == .connection ? Failure.Code.unavailable.rawValue : Failure.Code.software.rawValue)
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("dsrd: \(error)\n".utf8))
            throw ExitCode(Failure.Code.configuration.rawValue)
        } catch let error as MigrationError {
            FileHandle.standardError.write(Data("dsrd: \(error)\n".utf8))
            throw ExitCode(Failure.Code.software.rawValue)
        }
    }
}

enum LoggingSetup {
    /// Logs go to stderr (journald under systemd). Only the executable bootstraps logging.
    static func bootstrap(level: String) {
        let logLevel = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
    }
}
