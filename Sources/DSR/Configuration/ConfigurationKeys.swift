import Foundation

/// A value from a TOML file, the environment or the command line, before type checking.
public enum ConfigurationValue: Sendable {
    case string(String)
    case integer(Int)
    case double(Double)
    case bool(Bool)
}

/// One settable key: its dotted name and how to apply a value to a configuration.
struct ConfigurationKey: Sendable {
    let name: String
    let apply: @Sendable (inout DSRConfiguration, ConfigurationValue) throws -> Void
    /// The value in force, as TOML.
    let render: @Sendable (DSRConfiguration) -> String

    var environmentName: String {
        "DSRD_" + name.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    static func string(
        _ name: String, _ path: WritableKeyPath<DSRConfiguration, String> & Sendable,
        allowed: [String]? = nil
    ) -> ConfigurationKey {
        ConfigurationKey(
            name: name,
            apply: { configuration, value in
                guard case .string(let text) = value else { throw ConfigurationError("\(name) must be a string") }
                if let allowed, !allowed.contains(text) {
                    throw ConfigurationError("\(name) must be one of \(allowed.joined(separator: ", "))")
                }
                configuration[keyPath: path] = text
            },
            render: { configuration in
                let text = configuration[keyPath: path]
                return "\""
                    + (name.hasPrefix("database.url") ? Redaction.conninfo(text) : text)
                    .replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
            })
    }

    static func integer(
        _ name: String, _ path: WritableKeyPath<DSRConfiguration, Int> & Sendable,
        range: ClosedRange<Int>
    ) -> ConfigurationKey {
        ConfigurationKey(
            name: name,
            apply: { configuration, value in
                let number: Int?
                switch value {
                case .integer(let integer): number = integer
                case .string(let text): number = Int(text.trimmingCharacters(in: .whitespaces))
                default: number = nil
                }
                guard let number, range.contains(number) else {
                    throw ConfigurationError("\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)")
                }
                configuration[keyPath: path] = number
            }, render: { String($0[keyPath: path]) })
    }

    static func bool(_ name: String, _ path: WritableKeyPath<DSRConfiguration, Bool> & Sendable) -> ConfigurationKey {
        ConfigurationKey(
            name: name,
            apply: { configuration, value in
                switch value {
                case .bool(let flag): configuration[keyPath: path] = flag
                case .string(let text) where ["true", "1", "yes", "on"].contains(text.lowercased()):
                    configuration[keyPath: path] = true
                case .string(let text) where ["false", "0", "no", "off"].contains(text.lowercased()):
                    configuration[keyPath: path] = false
                default: throw ConfigurationError("\(name) must be true or false")
                }
            }, render: { String($0[keyPath: path]) })
    }

    static func duration(
        _ name: String, _ path: WritableKeyPath<DSRConfiguration, Duration> & Sendable,
        minimum: Duration
    ) -> ConfigurationKey {
        ConfigurationKey(
            name: name,
            apply: { configuration, value in
                let parsed: Duration?
                switch value {
                case .integer(let seconds): parsed = .seconds(seconds)
                case .double(let seconds): parsed = seconds.isFinite ? .milliseconds(Int64((seconds * 1000).rounded())) : nil
                case .string(let text): parsed = DurationText.parse(text)
                case .bool: parsed = nil
                }
                guard let parsed, parsed >= minimum else {
                    throw ConfigurationError(
                        "\(name) must be a duration of at least \(DurationText.format(minimum)), like \"500ms\", \"30s\", \"5m\", \"6h\" or \"30d\""
                    )
                }
                configuration[keyPath: path] = parsed
            }, render: { "\"" + DurationText.format($0[keyPath: path]) + "\"" })
    }

    /// Every key dsrd reads. `Config/dsrd.toml` documents each; a test checks it lists them all.
    static let all: [ConfigurationKey] = [
        .string("database.url", \.database.url),
        .string("database.url_file", \.database.urlFile),
        .duration("database.statement_timeout", \.database.statementTimeout, minimum: .zero),
        .duration("database.lock_timeout", \.database.lockTimeout, minimum: .zero),
        .integer("queue.workers", \.queue.workers, range: 1...1024),
        .integer("queue.batch_size", \.queue.batchSize, range: 1...1000),
        .duration("queue.poll_interval", \.queue.pollInterval, minimum: .milliseconds(10)),
        .duration("queue.lease_duration", \.queue.leaseDuration, minimum: .seconds(1)),
        .duration("queue.heartbeat_interval", \.queue.heartbeatInterval, minimum: .milliseconds(100)),
        .duration("queue.rescue_interval", \.queue.rescueInterval, minimum: .milliseconds(100)),
        .integer("queue.max_attempts", \.queue.maxAttempts, range: 1...1000),
        .duration("queue.retry_base_delay", \.queue.retryBaseDelay, minimum: .zero),
        .duration("queue.retry_max_delay", \.queue.retryMaxDelay, minimum: .zero),
        .duration("queue.store_outage_budget", \.queue.storeOutageBudget, minimum: .zero),
        .duration("queue.store_retry_max_delay", \.queue.storeRetryMaxDelay, minimum: .zero),
        .duration("queue.request_timeout", \.queue.requestTimeout, minimum: .milliseconds(100)),
        .duration("queue.store_task_timeout", \.queue.storeTaskTimeout, minimum: .milliseconds(100)),
        .duration("queue.finalize_timeout", \.queue.finalizeTimeout, minimum: .milliseconds(100)),
        .duration("queue.notice_timeout", \.queue.noticeTimeout, minimum: .milliseconds(100)),
        .duration("daemon.shutdown_grace", \.daemon.shutdownGrace, minimum: .zero),
        .bool("daemon.migrate_on_start", \.daemon.migrateOnStart),
        .string("daemon.instance_name", \.daemon.instanceName),
        .string(
            "log.level", \.log.level,
            allowed: ["trace", "debug", "info", "notice", "warning", "error", "critical"]),
        .bool("metrics.enabled", \.metrics.enabled),
        .string("metrics.listen_host", \.metrics.listenHost),
        .integer("metrics.listen_port", \.metrics.listenPort, range: 0...65535),
        .string("company.name_th", \.company.nameTH),
        .string("company.name_en", \.company.nameEN),
        .string("company.short_name", \.company.shortName),
        .string("company.contact_email", \.company.contactEmail),
        .string("company.contact_phone", \.company.contactPhone),
        .string("company.regulator_th", \.company.regulatorTH),
        .string("company.regulator_en", \.company.regulatorEN),
        .string("company.regulator_url", \.company.regulatorURL),
        .string("identifiers.national_id_format", \.identifiers.nationalIDFormat, allowed: ["thai", "document"]),
        .string("identifiers.extra_kinds", \.identifiers.extraKinds),
        .string("proofs.signing_key_file", \.proofs.signingKeyFile),
        .bool("minors.enabled", \.minors.enabled),
        .duration("minors.scan_interval", \.minors.scanInterval, minimum: .seconds(1)),
        .bool("approvals.minors", \.approvals.minors),
        .integer("approvals.erasure", \.approvals.erasure, range: 0...5),
        .integer("approvals.rectification", \.approvals.rectification, range: 0...5),
        .integer("approvals.objection", \.approvals.objection, range: 0...5),
        .bool("retention.enabled", \.retention.enabled),
        .duration("retention.interval", \.retention.interval, minimum: .seconds(1)),
        .duration("retention.own_data_after", \.retention.ownDataAfter, minimum: .seconds(1)),
        .string("connectors.directory", \.connectors.directory),
        .duration("connectors.statement_timeout", \.connectors.statementTimeout, minimum: .zero),
        .duration("connectors.lock_timeout", \.connectors.lockTimeout, minimum: .zero),
        .duration("connectors.poll_delay", \.connectors.pollDelay, minimum: .milliseconds(10)),
        .duration("connectors.poll_max_delay", \.connectors.pollMaxDelay, minimum: .milliseconds(10)),
        .string("exports.directory", \.exports.directory),
        .duration("exports.cleanup_interval", \.exports.cleanupInterval, minimum: .seconds(1)),
        .duration("exports.keep_for", \.exports.keepFor, minimum: .seconds(1)),
        .string("portal.listen_host", \.portal.listenHost),
        .integer("portal.listen_port", \.portal.listenPort, range: 0...65535),
        .string("portal.public_url", \.portal.publicURL),
        .string("portal.link_key_file", \.portal.linkKeyFile),
        .bool("portal.secure_cookies", \.portal.secureCookies),
        .bool("portal.trust_forwarded_for", \.portal.trustForwardedFor),
        .integer("portal.database_connections", \.portal.databaseConnections, range: 1...256),
        .integer("portal.max_body_bytes", \.portal.maxBodyBytes, range: 1024...1_048_576),
        .integer("portal.submissions_per_address", \.portal.submissionsPerAddress, range: 1...100_000),
        .integer("portal.submissions_per_identifier", \.portal.submissionsPerIdentifier, range: 1...100_000),
        .integer("portal.code_tries_per_address", \.portal.codeTriesPerAddress, range: 1...100_000),
        .duration("portal.download_link_valid_for", \.portal.downloadLinkValidFor, minimum: .seconds(10)),
        .string("email.smtp_url", \.email.smtpURL),
        .string("email.username", \.email.username),
        .string("email.password_file", \.email.passwordFile),
        .bool("email.require_tls", \.email.requireTLS),
        .bool("email.verify_tls", \.email.verifyTLS),
        .string("email.from_address", \.email.fromAddress),
        .string("email.from_name", \.email.fromName),
        .string("sms.url", \.sms.url),
        .string("sms.format", \.sms.format, allowed: ["form", "json"]),
        .string("sms.username", \.sms.username),
        .string("sms.password_file", \.sms.passwordFile),
        .string("sms.sender", \.sms.sender),
        .string("sms.to_field", \.sms.toField),
        .string("sms.from_field", \.sms.fromField),
        .string("sms.text_field", \.sms.textField),
        .string("sms.idempotency_header", \.sms.idempotencyHeader),
        .bool("sms.verify_tls", \.sms.verifyTLS),
        .string("notices.templates_dir", \.notices.templatesDirectory),
        .string("notices.dpo_email", \.notices.dpoEmail),
        .string("notices.dpo_locale", \.notices.dpoLocale, allowed: ["th", "en"]),
        .string("notices.time_zone", \.notices.timeZone),
        .bool("notices.resend_in_doubt", \.notices.resendInDoubt),
        .string("notices.deadline_warnings", \.notices.deadlineWarnings),
        .duration("notices.deadline_scan_interval", \.notices.deadlineScanInterval, minimum: .seconds(1)),
    ]
}

/// Durations written as `250ms`, `30s`, `5m`, `6h`, `30d` (or a bare number of seconds).
public enum DurationText {
    static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            let number = trimmed.dropLast(suffix.count)
            // "5ms" also ends in "s": only accept when what is left is a number.
            guard let value = Double(number), value.isFinite, value >= 0 else { continue }
            return .milliseconds(Int64((value * scale * 1000).rounded()))
        }
        guard let seconds = Double(trimmed), seconds.isFinite, seconds >= 0 else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    public static func format(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if milliseconds % 86_400_000 == 0 && milliseconds > 0 { return "\(milliseconds / 86_400_000)d" }
        if milliseconds % 3_600_000 == 0 && milliseconds > 0 { return "\(milliseconds / 3_600_000)h" }
        if milliseconds % 60_000 == 0 && milliseconds > 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return "\(milliseconds)ms"
    }
}

/// Hides passwords in connection strings before they are printed.
enum Redaction {
    static func conninfo(_ text: String) -> String {
        var result = text
        // URI form: postgresql://user:secret@host/db
        if let scheme = result.range(of: "://"), let at = result[scheme.upperBound...].firstIndex(of: "@"),
            let colon = result[scheme.upperBound..<at].firstIndex(of: ":")
        {
            result.replaceSubrange(result.index(after: colon)..<at, with: "***")
        }
        // Key/value form: password=secret or password='se cret'
        if let range = result.range(of: #"password\s*=\s*('([^'\\]|\\.)*'|\S+)"#, options: .regularExpression) {
            result.replaceSubrange(range, with: "password=***")
        }
        return result
    }
}
