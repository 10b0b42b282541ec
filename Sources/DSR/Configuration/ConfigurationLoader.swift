import Foundation
import TOMLKit

/// Builds a configuration from defaults, then a TOML file, then `DSRD_*` environment
/// variables, then command-line overrides, each layer winning over the one before.
/// Unknown keys are errors, so a typo never silently leaves a default in force.
public struct ConfigurationLoader: Sendable {
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// The file used when none is named: `$DSRD_CONFIG`, else `/etc/dsrd/dsrd.toml` if it
    /// exists, else none (defaults only).
    public func defaultFile() -> String? {
        if let path = environment["DSRD_CONFIG"], !path.isEmpty { return path }
        let system = "/etc/dsrd/dsrd.toml"
        return FileManager.default.fileExists(atPath: system) ? system : nil
    }

    public func load(file: String?, overrides: [String] = []) throws -> DSRConfiguration {
        var configuration = DSRConfiguration()
        if let file {
            configuration.baseDirectory = URL(fileURLWithPath: file).deletingLastPathComponent().path
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw ConfigurationError("\(file): cannot read the configuration file")
            }
            try apply(toml: text, source: file, to: &configuration)
        }
        for (name, url) in environment where name.hasPrefix("DSRD_STORE_") && name.hasSuffix("_URL") {
            configuration.connectors.urlOverrides[name] = url
        }
        for key in ConfigurationKey.all {
            if let value = environment[key.environmentName] {
                try apply(key, .string(value), source: key.environmentName, to: &configuration)
            }
        }
        for override in overrides {
            guard let equals = override.firstIndex(of: "=") else {
                throw ConfigurationError("--set \(override): expected section.key=value")
            }
            let name = String(override[..<equals])
            guard let key = ConfigurationKey.all.first(where: { $0.name == name }) else {
                throw ConfigurationError("--set: unknown key \(name)")
            }
            try apply(key, .string(String(override[override.index(after: equals)...])), source: "--set", to: &configuration)
        }
        try validate(configuration)
        return configuration
    }

    public func apply(toml text: String, source: String, to configuration: inout DSRConfiguration) throws {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigurationError("\(source):\(error.source.begin.line):\(error.source.begin.column): \(error.description)")
        }
        for section in table.keys {
            guard let sectionTable = table[section]?.table else {
                throw ConfigurationError("\(source): top-level key \(section) must be a [section]")
            }
            for name in sectionTable.keys {
                let dotted = "\(section).\(name)"
                guard let key = ConfigurationKey.all.first(where: { $0.name == dotted }) else {
                    throw ConfigurationError("\(source): unknown key \(dotted)")
                }
                guard let raw = sectionTable[name], let value = Self.value(of: raw) else {
                    throw ConfigurationError("\(source): \(dotted) must be a string, number or boolean")
                }
                try apply(key, value, source: source, to: &configuration)
            }
        }
    }

    private func apply(
        _ key: ConfigurationKey, _ value: ConfigurationValue, source: String,
        to configuration: inout DSRConfiguration
    ) throws {
        do {
            try key.apply(&configuration, value)
        } catch let error as ConfigurationError {
            throw ConfigurationError("\(source): \(error.description)")
        }
    }

    private static func value(of raw: TOMLValueConvertible) -> ConfigurationValue? {
        switch raw.type {
        case .string: raw.string.map(ConfigurationValue.string)
        case .int: raw.int.map(ConfigurationValue.integer)
        case .double: raw.double.map(ConfigurationValue.double)
        case .bool: raw.bool.map(ConfigurationValue.bool)
        default: nil
        }
    }

    private func validate(_ configuration: DSRConfiguration) throws {
        if configuration.queue.heartbeatInterval * 2 > configuration.queue.leaseDuration {
            throw ConfigurationError(
                "queue.heartbeat_interval must be at most half of queue.lease_duration, or leases expire between renewals")
        }
        if configuration.queue.retryMaxDelay < configuration.queue.retryBaseDelay {
            throw ConfigurationError("queue.retry_max_delay must not be below queue.retry_base_delay")
        }
        _ = try configuration.deadlineWarningPeriods()
        _ = try configuration.identifiers.kinds()
        if TimeZone(identifier: configuration.notices.timeZone) == nil {
            throw ConfigurationError("notices.time_zone: unknown time zone \(configuration.notices.timeZone)")
        }
    }
}
