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
        /// Longest any statement of a handler or the portal may run on dsrd's database; the
        /// server cancels it and the job is retried. Default 60 s.
        public var statementTimeout: Duration = .seconds(60)
        /// Longest such a statement waits for a lock (an operator's open transaction, a
        /// migration). Default 10 s.
        public var lockTimeout: Duration = .seconds(10)

        /// `ConnectionPool` settings for these limits.
        public var sessionSettings: [(name: String, value: String)] {
            SessionLimits.settings(statement: statementTimeout, lock: lockTimeout)
        }
    }

    public struct Queue: Sendable, Equatable {
        /// Jobs this process runs at once. Default 4.
        public var workers: Int = 8
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
        /// How long a store task keeps retrying a store that fails (down, unreachable, timing
        /// out), counted from its first failure, before it is dead. Default 7 days.
        public var storeOutageBudget: Duration = .seconds(7 * 86_400)
        /// Longest delay between a store task's retries. Default 1 h.
        public var storeRetryMaxDelay: Duration = .seconds(3600)
        /// How long one attempt of a `request` job (resolving the person, planning) may run
        /// before it is cancelled and retried. Default 5 min.
        public var requestTimeout: Duration = .seconds(300)
        /// The same for one store's task (an export, an erasure, a change). Default 30 min.
        public var storeTaskTimeout: Duration = .seconds(1800)
        /// The same for `finalize` (the ZIP, the signed proof). Default 30 min.
        public var finalizeTimeout: Duration = .seconds(1800)
        /// The same for sending one notice. Default 5 min.
        public var noticeTimeout: Duration = .seconds(300)

        /// The attempt timeout for a job kind (`probe` shares the request's).
        public func timeout(for kind: JobKind) -> Duration {
            switch kind {
            case .request, .probe: requestTimeout
            case .storeTask: storeTaskTimeout
            case .finalize: finalizeTimeout
            case .notice: noticeTimeout
            }
        }
    }

    public struct Daemon: Sendable, Equatable {
        /// On SIGTERM, how long in-flight jobs may run before they are released. Default 20 s;
        /// systemd's `TimeoutStopSec` must cover it plus `ShutdownBudget`'s drain and margin.
        public var shutdownGrace: Duration = .seconds(20)
        /// Apply pending migrations when `dsrd run` starts. Default true.
        public var migrateOnStart: Bool = true
        /// Name in `dsr.jobs.locked_by`; empty means the host name. Default empty.
        public var instanceName: String = ""
    }

    /// `dsrd run`'s Prometheus endpoint (`GET /metrics`).
    public struct Metrics: Sendable, Equatable {
        /// Serve the endpoint. Default false.
        public var enabled: Bool = false
        /// Address to listen on; the endpoint has no authentication, keep it on loopback.
        /// Default 127.0.0.1.
        public var listenHost: String = "127.0.0.1"
        /// Port; 0 picks a free one (logged at start). Default 9471.
        public var listenPort: Int = 9471
    }

    public struct Log: Sendable, Equatable {
        /// trace, debug, info, notice, warning, error or critical. Default info.
        public var level: String = "info"
    }

    public struct Email: Sendable, Equatable {
        /// `smtp://host:587` (STARTTLS) or `smtps://host:465`; empty disables email. Default empty.
        public var smtpURL: String = ""
        public var username: String = ""
        /// File holding the SMTP password (systemd credential). Default unset.
        public var passwordFile: String = ""
        /// Refuse to send over an unencrypted session. Default true.
        public var requireTLS: Bool = true
        /// Verify the server certificate. Default true.
        public var verifyTLS: Bool = true
        /// Envelope sender and From address. Default privacy@example.com.
        public var fromAddress: String = "privacy@example.com"
        /// Display name in From (any script). Default "Data Protection Officer".
        public var fromName: String = "Data Protection Officer"
    }

    public struct SMS: Sendable, Equatable {
        /// Gateway endpoint (POST); empty disables SMS. Default empty.
        public var url: String = ""
        /// Body encoding: form (application/x-www-form-urlencoded) or json. Default form.
        public var format: String = "form"
        /// HTTP basic-auth user (account id); empty sends no auth. Default empty.
        public var username: String = ""
        /// File holding the basic-auth password or API token. Default unset.
        public var passwordFile: String = ""
        /// Sender id or number. Default empty: the company's `short_name` (else its English name).
        public var sender: String = ""
        public var toField: String = "To"
        public var fromField: String = "From"
        public var textField: String = "Body"
        /// Header carrying the notice's idempotency key; empty sends none. Default Idempotency-Key.
        public var idempotencyHeader: String = "Idempotency-Key"
        public var verifyTLS: Bool = true
    }

    public struct Notices: Sendable, Equatable {
        /// Folder with `th/` and `en/` templates; relative to the config file's folder.
        /// Default "templates" (so Config/dsrd.toml uses Config/templates).
        public var templatesDirectory: String = "templates"
        /// Where DPO reports go; empty means they wait (and show in dsr.notices). Default empty.
        public var dpoEmail: String = ""
        /// Language of DPO reports. Default th.
        public var dpoLocale: String = "th"
        /// Time zone for dates in notices. Default Asia/Bangkok.
        public var timeZone: String = "Asia/Bangkok"
        /// After a crash between sending and recording, send the same message again (true)
        /// or mark it in_doubt and tell the DPO (false). Default true.
        public var resendInDoubt: Bool = true
        /// DPO warnings before a request's deadline, comma-separated. Default "10d,5d"
        /// (day 20 and day 25 of 30).
        public var deadlineWarnings: String = "10d,5d"
        /// How often the deadline scan runs. Default 1m.
        public var deadlineScanInterval: Duration = .seconds(60)
    }

    /// Who answers the person: named in every notice and export summary. There are no
    /// defaults: `dsrd run` refuses to start until the name and a contact are set, so no notice
    /// ever sends a person to a placeholder address.
    public struct Company: Sendable, Equatable {
        /// Legal name in Thai, e.g. "บริษัท สมาร์ทเทค เอ็นเตอร์ไพรส์ จำกัด". Default empty.
        public var nameTH: String = ""
        /// Legal name in English, e.g. "SmartTec Enterprise Co., Ltd.". Default empty.
        public var nameEN: String = ""
        /// Short name that starts every SMS, e.g. "SmartTec". Default empty (the English name).
        public var shortName: String = ""
        /// Where people write about their data (the DPO's public address). Default empty.
        public var contactEmail: String = ""
        /// Where people call, as printed in notices, e.g. "02-444-3044". Default empty.
        public var contactPhone: String = ""
        /// The supervisory authority people may complain to, in Thai. Default the PDPC.
        public var regulatorTH: String = "สำนักงานคณะกรรมการคุ้มครองข้อมูลส่วนบุคคล (สคส.)"
        /// The same in English. Default the PDPC.
        public var regulatorEN: String = "the Office of the Personal Data Protection Committee (PDPC)"
        /// The authority's web address. Default www.pdpc.or.th.
        public var regulatorURL: String = "www.pdpc.or.th"

        /// The name in `locale` (th or en), falling back to the other language.
        public func name(locale: String) -> String {
            locale == "en" ? (nameEN.isEmpty ? nameTH : nameEN) : (nameTH.isEmpty ? nameEN : nameTH)
        }

        public func regulator(locale: String) -> String { locale == "en" ? regulatorEN : regulatorTH }

        /// The SMS prefix: `short_name`, else the English name.
        public var smsName: String { shortName.isEmpty ? name(locale: "en") : shortName }

        /// Keys that must be set before dsrd may send anything to a person.
        public var missingKeys: [String] {
            var missing: [String] = []
            if nameTH.isEmpty && nameEN.isEmpty { missing.append("company.name_th or company.name_en") }
            if contactEmail.isEmpty { missing.append("company.contact_email") }
            if contactPhone.isEmpty { missing.append("company.contact_phone") }
            return missing
        }
    }

    /// The kinds of identifier a request may give and a mapping may name.
    public struct Identifiers: Sendable, Equatable {
        /// How a `national_id` is checked at submission: `thai` (13 digits with the Thai
        /// check digit) or `document` (any country's: letters and digits). Default thai.
        public var nationalIDFormat: String = "thai"
        /// Further strong identifiers, comma-separated (e.g. "passport,tax_id"): identity
        /// documents, compared as upper-case letters and digits. Default none.
        public var extraKinds: String = ""

        public init(nationalIDFormat: String = "thai", extraKinds: String = "") {
            self.nationalIDFormat = nationalIDFormat
            self.extraKinds = extraKinds
        }

        /// The built-in kinds and the extra ones.
        public func kinds() throws -> [IdentityKind] {
            var kinds = IdentityKind.builtIn
            for name in extraKinds.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
                guard name.range(of: "^[a-z][a-z0-9_]{0,62}$", options: .regularExpression) != nil,
                    !["name", "guardian", "given"].contains(name), !kinds.contains(IdentityKind(rawValue: name))
                else {
                    throw ConfigurationError(
                        "identifiers.extra_kinds: \(name) must be a new lower-case name (not email, phone, customer_id, national_id, name or guardian)"
                    )
                }
                kinds.append(IdentityKind(rawValue: name))
            }
            return kinds
        }

        /// Only the kinds `extraKinds` adds to the built-in ones, checked as ``kinds()`` checks them.
        public func addedKinds() throws -> [IdentityKind] {
            try kinds().filter { !IdentityKind.builtIn.contains($0) }
        }
    }

    public struct Connectors: Sendable, Equatable {
        /// Folder of store mappings (`*.toml`), relative to the config file's folder.
        /// Default "connectors" (so Config/dsrd.toml uses Config/connectors).
        public var directory: String = "connectors"
        /// Store URLs from `DSRD_STORE_<NAME>_URL` environment variables, which replace a
        /// mapping's `url` (deployments and tests point the same mapping at other
        /// databases). Read by the loader from its environment; not a file key.
        public var urlOverrides: [String: String] = [:]
        /// Longest one statement may run in a store (an export streams a person's rows in one
        /// statement per table); the store cancels it and the task is retried. Default 5 min.
        public var statementTimeout: Duration = .seconds(300)
        /// Longest a store task waits for a lock held in the store (a long migration, an
        /// application's open transaction) before it gives up and retries later. Default 30 s.
        public var lockTimeout: Duration = .seconds(30)
        /// HTTP stores that answer 202 (an asynchronous deletion or change): first poll of the
        /// status URL after this long, then twice as long each time up to `pollMaxDelay`, for
        /// the mapping's `async_wait_days`. Defaults 30 s and 1 h.
        public var pollDelay: Duration = .seconds(30)
        public var pollMaxDelay: Duration = .seconds(3600)

        public init() {}

        /// How long to wait before poll number `polls + 1` of an asynchronous job.
        public func delay(afterPolls polls: Int) -> Duration {
            var delay = pollDelay
            for _ in 0..<min(max(polls, 0), 30) where delay < pollMaxDelay { delay *= 2 }
            return min(delay, pollMaxDelay)
        }
    }

    public struct Exports: Sendable, Equatable {
        /// Where finished exports are written (0600 files, unguessable names). Default
        /// /var/lib/dsrd/exports (the systemd unit's StateDirectory).
        public var directory: String = "/var/lib/dsrd/exports"
        /// How often staging folders and partial files of ended requests are removed (also at
        /// start). Default 1h.
        public var cleanupInterval: Duration = .seconds(3600)
        /// How long a finished export stays after its request completes, for the person to
        /// download; then the clean-up deletes it (`dsr.requests.export_deleted_at`). An
        /// erasure of the same person deletes it at once. Default 7d.
        public var keepFor: Duration = .seconds(7 * 86_400)
    }

    public struct Proofs: Sendable, Equatable {
        /// Ed25519 private key that signs deletion proofs (made by `dsrd keygen`), kept outside
        /// the database. Empty: erasure requests cannot complete. Default empty.
        public var signingKeyFile: String = ""
    }

    /// The privacy portal (`dsrd portal`), and the links to it that notices carry.
    public struct Portal: Sendable, Equatable {
        /// Address and port the portal listens on. Default 127.0.0.1:8080 (TLS terminates at
        /// a reverse proxy in front; see Deploy/portal/Caddyfile).
        public var listenHost: String = "127.0.0.1"
        public var listenPort: Int = 8080
        /// The portal's address as people reach it (https://privacy.example.co.th). Notices
        /// link the request's status page under it. Empty: notices carry no link.
        public var publicURL: String = ""
        /// 32 random bytes (`head -c 32 /dev/urandom`): keys the status links (HMAC), shared by
        /// the daemon (notices) and the portal. Empty: no links; the portal refuses to start.
        public var linkKeyFile: String = ""
        /// Cookies only over HTTPS, and HSTS. Default true: people reach the portal through
        /// the TLS proxy. false only for a loopback demo or test over plain HTTP.
        public var secureCookies: Bool = true
        /// Take the client address from the proxy's X-Forwarded-For (last hop). Only when a
        /// proxy that sets it is the sole way in. Default true.
        public var trustForwardedFor: Bool = true
        /// Connections to dsrd's database per portal process; requests wait for one in
        /// arrival order. Default 8 (4 measured 11 % slower on 2 cores).
        public var databaseConnections: Int = 8
        /// Largest request body accepted (bytes); a larger one gets 413. Default 16384.
        public var maxBodyBytes: Int = 16_384
        /// Submissions per client address per hour. Default 10.
        public var submissionsPerAddress: Int = 10
        /// Submissions per identifier (email, phone, id) per day. Default 5.
        public var submissionsPerIdentifier: Int = 5
        /// Code entries and resend requests per client address per hour. Default 30.
        public var codeTriesPerAddress: Int = 30
        /// How long a download link from the status page works (once). Default 7d; the export
        /// itself is deleted after `exports.keep_for` whatever links exist.
        public var downloadLinkValidFor: Duration = .seconds(7 * 86_400)
    }

    public struct Minors: Sendable, Equatable {
        /// Look for minors without a guardian's consent and erase their data. Default true.
        public var enabled: Bool = true
        /// How often. Default 1h.
        public var scanInterval: Duration = .seconds(3600)
    }

    public struct Retention: Sendable, Equatable {
        /// Sweep the stores for rows past their retention (`expire` in the mappings) and what
        /// erasures kept for holds that have ended. Default true: the completion notice
        /// promises held records are kept only as long as the law requires.
        public var enabled: Bool = true
        /// How often. Default 1 day.
        public var interval: Duration = .seconds(86_400)
        /// How long after a request ended dsrd keeps the person's identifiers in its own
        /// tables before replacing them with keyed hashes. Default 365 days.
        public var ownDataAfter: Duration = .seconds(365 * 86_400)
    }

    public struct Approvals: Sendable, Equatable {
        /// Erasures the minors scan submits wait for one approval (the DPO's). Default true.
        public var minors: Bool = true
        /// Every erasure waits for this many approvals by different people (0: none, 2: the
        /// four-eyes rule). Default 0.
        public var erasure: Int = 0
        /// Rectifications wait for this many decisions (approvals) before they are applied;
        /// meanwhile the person's data is restricted (PDPA s.34). Default 0: applied at once.
        public var rectification: Int = 0
        /// The same for objections that do not cover direct marketing (an objection to direct
        /// marketing is never refused, PDPA s.32, and never waits). Default 0.
        public var objection: Int = 0

        public init() {}

        /// Approvals a request needs before any store is touched. `purposes`: an objection's
        /// (empty: every purpose, marketing included).
        public func required(kind: RequestKind, byDSRD: Bool, purposes: [String] = []) -> Int {
            switch kind {
            case .erasure: return max(erasure, byDSRD && minors ? 1 : 0)
            case .rectification: return rectification
            case .objection: return purposes.isEmpty || purposes.contains("marketing") ? 0 : objection
            case .access, .portability, .restriction, .consentWithdrawal: return 0
            }
        }

        /// Whether a request waiting for a decision has the person's data restricted meanwhile (s.34).
        public static func restrictsWhileDeciding(_ kind: RequestKind) -> Bool { kind == .rectification || kind == .objection }
    }

    public var approvals = Approvals()
    public var retention = Retention()
    public var database = Database()
    public var company = Company()
    public var identifiers = Identifiers()
    public var minors = Minors()
    public var proofs = Proofs()
    public var connectors = Connectors()
    public var exports = Exports()
    public var queue = Queue()
    public var daemon = Daemon()
    public var log = Log()
    public var metrics = Metrics()
    public var email = Email()
    public var sms = SMS()
    public var notices = Notices()
    public var portal = Portal()
    /// Folder that relative paths in the configuration are resolved against: the config
    /// file's folder, or the working directory without one. Not a key.
    public var baseDirectory: String = FileManager.default.currentDirectoryPath

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

    /// A path from the configuration, resolved against ``baseDirectory`` when relative.
    public func resolvedPath(_ path: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: baseDirectory).appendingPathComponent(path).path
    }

    /// Reads a secret file named by a `*_file` key; empty when the key is unset.
    public func secret(fromFile path: String, key: String) throws -> String {
        guard !path.isEmpty else { return "" }
        do {
            return try String(contentsOfFile: resolvedPath(path), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw ConfigurationError("\(key): cannot read \(path)")
        }
    }

    /// The deadline warnings as days before the due date.
    public func deadlineWarningPeriods() throws -> [Duration] {
        try notices.deadlineWarnings.split(separator: ",").map { part in
            guard let duration = DurationText.parse(String(part)), duration > .zero else {
                throw ConfigurationError("notices.deadline_warnings must list durations like \"10d,5d\"")
            }
            return duration
        }
    }

    /// The store mappings in `connectors.directory`, with the identifier kinds configured.
    public func storeMappings() throws -> [StoreMapping] {
        try ConnectorCatalog.load(
            directory: resolvedPath(connectors.directory), environment: connectors.urlOverrides, identifierKinds: try identifiers.kinds())
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
