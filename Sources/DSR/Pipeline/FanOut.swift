import Foundation
import Logging
import Postgres

/// What the fan-out handlers share: dsrd's own database, the stores, the export folder.
public struct FanOut: Sendable {
    public let pool: ConnectionPool
    public let connectors: [any Connector]
    /// Finished bundles go here (0700); work in progress under `.staging/<request id>/`.
    public let exportDirectory: URL
    public let timeZone: TimeZone
    /// Signs deletion proofs; nil when `proofs.signing_key_file` is not set.
    public let proofKeys: ProofKeys?
    /// Named in export summaries.
    public let company: DSRConfiguration.Company
    /// The kinds of identifier requests give and mappings name (`identifiers.*`).
    public let identifiers: DSRConfiguration.Identifiers
    /// Processors told of changes by webhook (`[[processors]]` in the mappings).
    public let processors: [ProcessorWebhook]
    /// How asynchronous work in HTTP stores is polled (`connectors.poll_delay`, `poll_max_delay`).
    public let polling: DSRConfiguration.Connectors
    /// Which requests wait for approvals before planning (`approvals.*`).
    public let approvals: DSRConfiguration.Approvals

    public init(
        pool: ConnectionPool, connectors: [any Connector], exportDirectory: URL, timeZone: TimeZone, proofKeys: ProofKeys?,
        company: DSRConfiguration.Company, identifiers: DSRConfiguration.Identifiers = .init(), processors: [ProcessorWebhook] = [],
        polling: DSRConfiguration.Connectors = .init(), approvals: DSRConfiguration.Approvals = .init()
    ) {
        self.pool = pool
        self.connectors = connectors
        self.exportDirectory = exportDirectory
        self.timeZone = timeZone
        self.proofKeys = proofKeys
        self.company = company
        self.identifiers = identifiers
        self.processors = processors
        self.polling = polling
        self.approvals = approvals
    }

    /// The tasks a request of `kind` is planned with: every store, and the processors told of that kind.
    func taskNames(for kind: RequestKind) -> [String] {
        connectors.map(\.mapping.name) + processors.filter { $0.processor.events.contains(kind) }.map(\.processor.taskName)
    }

    func processor(task name: String) -> ProcessorWebhook? { processors.first { $0.processor.taskName == name } }

    func requireProofKeys() throws -> ProofKeys {
        guard let proofKeys else {
            throw JobFailure.permanent("proofs.signing_key_file is not configured: erasure needs a signing key (dsrd keygen)")
        }
        return proofKeys
    }

    var proofDirectory: URL { exportDirectory.appendingPathComponent("proofs") }

    /// Builds the connectors from `connectors.directory`.
    public static func make(configuration: DSRConfiguration, pool: ConnectionPool) throws -> FanOut {
        let mappings = try configuration.storeMappings()
        let connectors: [any Connector] = try mappings.map { mapping in
            switch mapping.kind {
            case .postgres:
                return SQLConnector(
                    mapping: mapping, maxConnections: max(2, configuration.queue.workers),
                    settings: SessionLimits.settings(
                        statement: configuration.connectors.statementTimeout, lock: configuration.connectors.lockTimeout))
            case .http:
                return HTTPConnector(
                    mapping: mapping, token: try configuration.secret(fromFile: mapping.tokenFile, key: "\(mapping.name).token_file"),
                    signingSecret: try configuration.secret(
                        fromFile: mapping.http.signingSecretFile, key: "\(mapping.name).signing_secret_file"))
            case .manual:
                return ManualConnector(mapping: mapping)
            }
        }
        let processors = try mappings.flatMap { mapping in
            try mapping.processors.map { processor in
                ProcessorWebhook(
                    processor: processor, store: mapping.name,
                    secret: try configuration.secret(
                        fromFile: processor.secretFile, key: "\(mapping.name).processors.\(processor.name).secret_file"))
            }
        }
        return FanOut(
            pool: pool, connectors: connectors,
            exportDirectory: URL(fileURLWithPath: configuration.resolvedPath(configuration.exports.directory)),
            timeZone: TimeZone(identifier: configuration.notices.timeZone) ?? TimeZone(identifier: "UTC")!,
            proofKeys: configuration.proofs.signingKeyFile.isEmpty
                ? nil : try ProofKeys.load(privateKeyFile: configuration.resolvedPath(configuration.proofs.signingKeyFile)),
            company: configuration.company, identifiers: configuration.identifiers, processors: processors,
            polling: configuration.connectors, approvals: configuration.approvals)
    }

    func connector(named name: String) throws -> any Connector {
        guard let connector = connectors.first(where: { $0.mapping.name == name }) else {
            throw JobFailure.permanent("no connector named \(name) is configured")
        }
        return connector
    }

    func httpConnector(named name: String) throws -> HTTPConnector {
        guard let connector = try connector(named: name) as? HTTPConnector else {
            throw JobFailure.permanent("store \(name) is not an http store")
        }
        return connector
    }

    func staging(for request: UUID) -> URL {
        exportDirectory.appendingPathComponent(".staging").appendingPathComponent(request.uuidString.lowercased())
    }

    /// Creates the export folders (0700) if missing.
    public func prepareDirectories() throws {
        for directory in [exportDirectory, exportDirectory.appendingPathComponent(".staging"), proofDirectory] {
            do {
                try FileSystem.makeDirectory(directory.path)
            } catch {
                throw ExportsUnwritable(path: directory.path)
            }
        }
    }

    /// The request row's fields the handlers need.
    struct RequestRow: Sendable {
        let id: UUID
        let kind: RequestKind
        let locale: Language
        let status: RequestStatus
        /// Identifiers the request gave (or, after a verified resume, the ones the operator confirmed).
        let given: IdentitySet
        let resolved: IdentitySet?
        let exportFile: String?
        let receivedAt: Date
        let payload: String
        /// An operator (or the person's code) resolved a hold: the identity checks that hold a
        /// request are not repeated.
        let resumed: Bool
        /// The last resume named the person's identifiers (`dsr.resume_request(id, identifiers)`).
        let resumedWithIdentifiers: Bool
        /// The kind needs the identity verified (`dsr.verification_policy`) and nobody has yet.
        let needsVerification: Bool
        /// Who asked: a representative recorded, or dsrd itself (the minors scan).
        let requester: RequestLifecycle.Requester
        /// The request gave no way to reach the person: the contacts on file become its channels.
        let hasNoChannel: Bool
        /// Paused stores (`dsr.paused_stores`, `*` for all) and why, read with the request.
        var paused: [String: String] = [:]
        /// Approvals given (`dsr.approvals`), by different people.
        var approvals = 0
        /// The person's data was restricted while the request was decided and is not lifted yet.
        var restrictedWhileDeciding = false
        /// Planning left out rows found by a phone another customer's record also carries.
        var sharedPhoneLeftOut = false
        /// For an erasure's store task, its store's recorded plan and committed plans (JSON),
        /// as its claim read them; nil when not read with the claim.
        var claimedPlans: (plan: String?, committed: String?)?

        /// Why `store`'s work must wait now, or nil when it may run.
        func pause(of store: String) -> String? {
            if let reason = paused[store] { return "store \(store) is paused: \(reason)" }
            if let reason = paused["*"] { return "every store is paused: \(reason)" }
            return nil
        }

        /// The store task each kind of request runs.
        var operation: StoreOperation { StoreOperation(for: kind) }

        /// The change a rectification, restriction, objection or withdrawal asks for, with
        /// corrected emails and phones normalised. Throws `RefusalReason` for invalid input.
        func change(rectifiable: Set<String>) throws -> StoreChange {
            let object = (try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any]) ?? [:]
            switch kind {
            case .rectification:
                let raw = object["changes"] as? [String: Any] ?? [:]
                var changes: [String: String] = [:]
                for (field, value) in raw {
                    guard rectifiable.contains(field) else { throw RefusalReason.cannotCorrect(field, correctable: rectifiable) }
                    guard let text = value as? String else { throw RefusalReason.correctionNotText }
                    switch field {
                    case "email":
                        guard let email = IdentifierNormalizer.email(text) else { throw RefusalReason.invalidCorrectedEmail }
                        changes[field] = email
                    case "phone":
                        guard let phone = IdentifierNormalizer.phone(text) else { throw RefusalReason.invalidCorrectedPhone }
                        changes[field] = phone
                    default:
                        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
                        guard !trimmed.isEmpty, trimmed.count <= 500,
                            !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
                        else { throw RefusalReason.correctionNotText }
                        changes[field] = trimmed
                    }
                }
                return .rectify(changes)
            case .restriction:
                return .restrict(lift: object["lift"] as? Bool ?? false)
            case .objection, .consentWithdrawal, .access, .portability, .erasure:
                return .object(purposes: (object["purposes"] as? [String] ?? []).sorted())
            }
        }
    }

    /// Why dsrd refuses a request, in the person's language: becomes `dsr.refuse_request`'s
    /// reason, which the refusal notice quotes in full.
    struct RefusalReason: Error, Equatable {
        let english: String
        let thai: String

        func text(locale: Language) -> String { locale.pick(thai: thai, english: english) }

        static func cannotCorrect(_ field: String, correctable: Set<String>) -> RefusalReason {
            let list = correctable.sorted().joined(separator: ", ")
            return RefusalReason(
                english: "we hold no \"\(field)\" that we could correct. The details we can correct are: \(list).",
                thai: "เราไม่มีข้อมูล \"\(field)\" ที่จะแก้ไขได้ ข้อมูลที่แก้ไขได้คือ \(list)")
        }

        static let correctionNotText = RefusalReason(
            english: "each corrected detail must be text of 1 to 500 characters.",
            thai: "ข้อมูลที่ขอแก้ไขต้องเป็นข้อความยาว 1 ถึง 500 ตัวอักษร")
        static let invalidCorrectedEmail = RefusalReason(
            english: "the corrected email address is not a valid address.", thai: "อีเมลที่ขอให้แก้ไขไม่ใช่ที่อยู่อีเมลที่ถูกต้อง")
        static let correctedEmailInUse = RefusalReason(
            english:
                "the corrected email address is already in use for another customer record, so we cannot put it on yours. Please contact us to sort it out.",
            thai: "อีเมลที่ขอให้แก้ไขมีอยู่ในข้อมูลลูกค้ารายอื่นของเราแล้ว จึงไม่สามารถใช้กับข้อมูลของท่านได้ โปรดติดต่อเราเพื่อดำเนินการ")
        static func personErased(by erasure: UUID) -> RefusalReason {
            let number = erasure.uuidString.lowercased().prefix(8)
            return RefusalReason(
                english:
                    "your personal data was erased at your request (no. \(number)). What we still keep is kept only because the law or other records require it, with your details removed where possible, and it is not corrected.",
                thai:
                    "ข้อมูลส่วนบุคคลของท่านได้ถูกลบตามคำขอของท่านแล้ว (เลขที่ \(number)) ข้อมูลที่เรายังเก็บไว้ เก็บไว้เพียงเพราะกฎหมายหรือเอกสารอื่นกำหนด โดยนำรายละเอียดของท่านออกเท่าที่ทำได้ และจะไม่ถูกแก้ไข"
            )
        }
        static let invalidCorrectedPhone = RefusalReason(
            english: "the corrected phone number is not a valid number.", thai: "หมายเลขโทรศัพท์ที่ขอให้แก้ไขไม่ใช่หมายเลขที่ถูกต้อง")
    }

    var rectifiableFields: Set<String> { Set(connectors.flatMap(\.mapping.rectifyFields)) }

    /// Publishes what `dsr.submit` checks requests against: the fields a rectification can
    /// correct (`dsr.correctable_fields`, from the mappings), so an impossible correction is
    /// refused at once instead of weeks later, and the identifier kinds a request may give
    /// (`dsr.identifier_kinds`, from `identifiers.*`). Upserts, not delete-and-insert: daemons
    /// starting together both succeed.
    public func publishSubmissionRules(on connection: PostgresConnection) async throws {
        var stores: [String: [String]] = [:]
        for connector in connectors {
            for field in connector.mapping.rectifyFields { stores[field, default: []].append(connector.mapping.name) }
        }
        let fields = stores.keys.sorted()
        let lists = fields.map { stores[$0]!.sorted().joined(separator: ",") }
        let extra = try identifiers.addedKinds().map(\.rawValue)
        let nationalID = identifiers.nationalIDFormat == "document" ? "document" : "thai_national_id"
        try await connection.transaction { connection in
            try connection.execute("DELETE FROM dsr.correctable_fields WHERE field <> ALL($1::text[])", [fields])
            try connection.execute(
                """
                INSERT INTO dsr.correctable_fields (field, stores) SELECT f, string_to_array(s, ',') FROM unnest($1::text[], $2::text[]) AS u(f, s)
                ON CONFLICT (field) DO UPDATE SET stores = EXCLUDED.stores WHERE correctable_fields.stores IS DISTINCT FROM EXCLUDED.stores
                """,
                [fields, lists])
            try connection.execute(
                "DELETE FROM dsr.identifier_kinds WHERE kind NOT IN ('email', 'phone', 'customer_id', 'national_id') AND kind <> ALL($1::text[])",
                [extra])
            try connection.execute(
                """
                INSERT INTO dsr.identifier_kinds (kind, format, strong) SELECT k, 'document', true FROM unnest($1::text[]) AS k
                ON CONFLICT (kind) DO NOTHING
                """, [extra])
            try connection.execute(
                "UPDATE dsr.identifier_kinds SET format = $1 WHERE kind = 'national_id' AND format IS DISTINCT FROM $1", [nationalID])
        }
    }

    /// What every step of a request reads of it (``RequestRow``): select-list entries over
    /// `dsr.requests AS r`, each name starting with `prefix`.
    static func requestSelectList(prefix: String) -> String {
        [
            ("kind", "r.kind"), ("locale", "r.locale"), ("status", "r.status"), ("subject", "r.subject::text"),
            ("identities", "r.identities::text"), ("export_file", "r.result ->> 'export_file'"), ("received_at", "r.received_at"),
            ("payload", "r.payload::text"),
            // NULL when never resumed; else whether the last resume named identifiers.
            (
                "last_resume_named_identifiers",
                "(SELECT coalesce((e.detail ->> 'identifiers_replaced')::boolean, false) FROM dsr.request_events AS e WHERE e.request_id = r.id AND e.step = 'resumed' ORDER BY e.id DESC LIMIT 1)"
            ),
            ("needs_verification", "dsr.needs_verification(r.id)"), ("has_representative", "r.representative IS NOT NULL"),
            ("has_guardian", "dsr.has_guardian(r.representative, r.subject)"),
            ("by_dsrd", "r.verification_method IS NOT DISTINCT FROM 'system'"), ("has_no_channel", "cardinality(r.channels) = 0"),
            ("paused", "(SELECT coalesce(string_agg(p.store || chr(31) || p.reason, chr(30)), '') FROM dsr.paused_stores AS p)"),
            ("approvals", "(SELECT count(*) FROM dsr.approvals AS a WHERE a.request_id = r.id)"),
            ("shared_phone_left_out", "coalesce((r.result ->> 'shared_phone_left_out')::boolean, false)"),
            (
                "restricted_while_deciding",
                """
                (EXISTS (SELECT 1 FROM dsr.request_events AS e WHERE e.request_id = r.id AND e.step = 'restricted_while_deciding')
                 AND NOT EXISTS (SELECT 1 FROM dsr.request_events AS e WHERE e.request_id = r.id AND e.step = 'restriction_lifted'))
                """
            ),
        ].map { name, expression in "\(expression) AS \(prefix)\(name)" }.joined(separator: ",\n")
    }

    /// The steps' jobs get their request's row with their claim (``ClaimContext``): one
    /// statement and round trip fewer per job. An erasure's store task also gets the plans
    /// recorded for its store (``RequestRow/claimedPlans``).
    public static let claimPart = ClaimContext.Part(
        kinds: [JobKind.request, .storeTask, .finalize].map(\.rawValue), prefix: contextPrefix,
        source: "FROM dsr.requests AS r WHERE r.id = \(ClaimContext.job).request_id",
        selectList: requestSelectList(prefix: contextPrefix) + ",\n" + claimedPlansSelectList(prefix: contextPrefix))

    /// The start of the names of the columns ``claimPart`` reads.
    static let contextPrefix = "context_"

    /// An erasure's store task's row of `dsr.request_tasks` (its `plan` and `committed_plans`),
    /// read with the claim: `plans_read` is true for such a task (the plans may be null).
    static func claimedPlansSelectList(prefix: String) -> String {
        let job = ClaimContext.job
        let task = "FROM dsr.request_tasks AS t WHERE t.request_id = r.id AND t.store = \(job).payload ->> 'store'"
        let read = "\(job).kind = '\(JobKind.storeTask.rawValue)' AND r.kind = 'erasure'"
        return [
            ("plans_read", read),
            ("plan", "CASE WHEN \(read) THEN (SELECT t.plan::text \(task)) END"),
            ("committed_plans", "CASE WHEN \(read) THEN (SELECT t.committed_plans::text \(task)) END"),
        ].map { name, expression in "\(expression) AS \(prefix)\(name)" }.joined(separator: ",\n")
    }

    private static let requestStatement = "SELECT \(requestSelectList(prefix: "")) FROM dsr.requests AS r WHERE r.id = $1"

    /// The job's request: the row its claim read (``Job/context``), or read now.
    func loadRequest(for job: Job, id: UUID) async throws -> RequestRow {
        guard let row = job.claimedRow(Self.contextPrefix) else { return try await loadRequest(id) }
        var request = try requestRow(row, id: id, prefix: Self.contextPrefix)
        if try row.decode(Self.contextPrefix + "plans_read", as: Bool.self) {
            request.claimedPlans = (
                try row.decode(Self.contextPrefix + "plan", as: String?.self),
                try row.decode(Self.contextPrefix + "committed_plans", as: String?.self)
            )
        }
        return request
    }

    func loadRequest(_ id: UUID) async throws -> RequestRow {
        let rows = try await pool.withConnection { connection in
            try await connection.query(Self.requestStatement, [id])
        }
        guard let row = rows.first else { throw JobFailure.permanent("request \(id) does not exist") }
        return try requestRow(row, id: id, prefix: "")
    }

    /// Decodes a row of ``requestSelectList(prefix:)``.
    private func requestRow(_ row: PostgresRow, id: UUID, prefix: String) throws -> RequestRow {
        func column(_ name: String) -> String { prefix + name }
        // The identifiers the request gave: every subject field that is a known kind.
        var given = IdentitySet()
        let subject =
            (try? JSONSerialization.jsonObject(with: Data(try row.decode(column("subject"), as: String.self).utf8))) as? [String: Any]
            ?? [:]
        for kind in (try? identifiers.kinds()) ?? IdentityKind.builtIn {
            if let value = subject[kind.rawValue] as? String { given.add(value, as: kind) }
        }
        let resolved = try row.decode(column("identities"), as: String?.self).map {
            try JSONDecoder().decode(IdentitySet.self, from: Data($0.utf8))
        }
        let kind = try row.decode(column("kind"), as: RequestKind.self, of: "request \(id)")
        let status = try row.decode(column("status"), as: RequestStatus.self, of: "request \(id)")
        var paused: [String: String] = [:]
        for entry in try row.decode(column("paused"), as: String.self).split(separator: "\u{1E}") {
            let parts = entry.split(separator: "\u{1F}", maxSplits: 1)
            if parts.count == 2 { paused[String(parts[0])] = String(parts[1]) }
        }
        let lastResume = try row.decode(column("last_resume_named_identifiers"), as: Bool?.self)
        return RequestRow(
            id: id, kind: kind, locale: Language(code: try row.decode(column("locale"), as: String.self)),
            status: status, given: given, resolved: resolved,
            exportFile: try row.decode(column("export_file"), as: String?.self),
            receivedAt: try row.decode(column("received_at"), as: Date.self),
            payload: try row.decode(column("payload"), as: String.self), resumed: lastResume != nil,
            resumedWithIdentifiers: lastResume == true,
            needsVerification: try row.decode(column("needs_verification"), as: Bool.self),
            requester: .init(
                hasRepresentative: try row.decode(column("has_representative"), as: Bool.self),
                hasGuardian: try row.decode(column("has_guardian"), as: Bool.self), isDSRD: try row.decode(column("by_dsrd"), as: Bool.self)
            ),
            hasNoChannel: try row.decode(column("has_no_channel"), as: Bool.self), paused: paused,
            approvals: try row.decode(column("approvals"), as: Int.self),
            restrictedWhileDeciding: try row.decode(column("restricted_while_deciding"), as: Bool.self),
            sharedPhoneLeftOut: try row.decode(column("shared_phone_left_out"), as: Bool.self))
    }

    /// How long a task of a paused store waits before it looks again (`dsr.resume_store`
    /// wakes it at once).
    static let pauseRecheck = Duration.seconds(60)

    /// Shows the request waiting for a paused store and hands the job back without using an
    /// attempt (`JobFailure.postpone`).
    func postpone(_ request: RequestRow, because reason: String) async throws -> Never {
        _ = try await pool.withConnection { connection in
            try await connection.execute(
                """
                UPDATE dsr.requests SET status = 'waiting', current_step = left('waiting: ' || $2, 300), updated_at = now()
                 WHERE id = $1 AND completed_at IS NULL AND status <> 'awaiting_verification' AND current_step IS DISTINCT FROM left('waiting: ' || $2, 300)
                """, [request.id, reason])
        }
        throw JobFailure.postpone(after: Self.pauseRecheck, reason)
    }
}
