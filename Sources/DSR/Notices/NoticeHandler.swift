import Curl
import Foundation
import Logging
import Postgres

/// Delivers one `dsr.outbox` row (job kind `notice`).
///
/// 1. In one transaction: lock the row; skip it if it was already sent, failed or
///    cancelled; render it once (later attempts send exactly the same message, with the
///    same Message-ID or gateway idempotency key); mark it `sending`.
/// 2. Send it by email or SMS.
/// 3. Mark it `sent` in the transaction that completes the job.
///
/// A crash between 2 and 3 leaves the row `sending`; the rescued job then finds an attempt
/// whose outcome is unknown. With `notices.resend_in_doubt` (default) it sends the
/// identical message again, since a lost refusal notice is worse than a duplicate; otherwise
/// it marks the notice `in_doubt` and tells the DPO. A permanent refusal (SMTP 5xx, gateway
/// 4xx) marks it `failed` and tells the DPO. Anything else is retried by the queue.
public struct NoticeHandler: JobHandler {
    public struct Settings: Sendable {
        public var dpoEmail: String
        public var dpoLocale: String
        public var timeZone: TimeZone
        public var resendInDoubt: Bool
        /// Who answers: the name and contact every notice gives.
        public var company: DSRConfiguration.Company
        /// Links to the request's status page on the portal (`status_url`), in notices to the person.
        public var links: StatusLinks?

        public init(
            dpoEmail: String, dpoLocale: String, timeZone: TimeZone, resendInDoubt: Bool, company: DSRConfiguration.Company,
            links: StatusLinks? = nil
        ) {
            self.dpoEmail = dpoEmail
            self.dpoLocale = dpoLocale
            self.timeZone = timeZone
            self.resendInDoubt = resendInDoubt
            self.company = company
            self.links = links
        }
    }

    let pool: ConnectionPool
    let templates: NoticeTemplates
    let settings: Settings
    let smtp: SMTPClient?
    let sender: MailAddress?
    let sms: SMSGateway?

    public init(
        pool: ConnectionPool, templates: NoticeTemplates, settings: Settings, smtp: SMTPClient?,
        sender: MailAddress?, sms: SMSGateway?
    ) {
        self.pool = pool
        self.templates = templates
        self.settings = settings
        self.smtp = smtp
        self.sender = sender
        self.sms = sms
    }

    struct Payload: Decodable {
        let outbox_id: Int64
    }

    struct Notice: Sendable {
        let id: Int64
        let requestID: UUID?
        let template: String
        let audience: Audience
        let channel: Channel
        let recipient: String
        let key: String
        let rendered: RenderedNotice
    }

    enum Start: Sendable {
        case send(Notice)
        case skip
    }

    /// What a notice job reads of its outbox row and the row's request: select-list entries
    /// over `dsr.outbox AS o LEFT JOIN dsr.requests AS r`, each name starting with `prefix`.
    /// `earlier_due_in`: when the request's earliest notice to the same address that is
    /// still to be sent (with a job that will send it) is due, NULL when there is none.
    static func noticeSelectList(prefix: String) -> String {
        [
            ("id", "o.id"), ("idempotency_key", "o.idempotency_key"), ("request_id", "o.request_id"), ("template", "o.template"),
            ("audience", "o.audience"), ("channel", "o.channel"), ("locale", "o.locale"), ("recipient", "o.recipient"),
            ("variables", "o.variables::text"), ("state", "o.state"), ("send_attempts", "o.send_attempts"),
            ("rendered_subject", "o.rendered_subject"), ("rendered_text", "o.rendered_text"), ("rendered_html", "o.rendered_html"),
            ("kind", "r.kind"), ("received_at", "r.received_at"), ("due_at", "r.due_at"),
            ("lift", "coalesce((r.payload ->> 'lift')::boolean, false)"),
            (
                "earlier_due_in",
                """
                (SELECT extract(epoch FROM min(j.run_at) - now())::float8
                   FROM dsr.outbox AS e
                   JOIN dsr.jobs AS j ON j.request_id = e.request_id AND j.kind = 'notice'
                                     AND j.state IN ('available', 'running') AND (j.payload ->> 'outbox_id')::bigint = e.id
                  WHERE o.audience = 'subject' AND e.request_id = o.request_id AND e.audience = o.audience
                    AND e.channel = o.channel AND e.recipient IS NOT DISTINCT FROM o.recipient
                    AND e.id < o.id AND e.state IN ('pending', 'sending'))
                """
            ),
        ].map { name, expression in "\(expression) AS \(prefix)\(name)" }.joined(separator: ",\n")
    }

    /// Notice jobs get their outbox row with their claim (``ClaimContext``): a notice still
    /// pending then starts with one statement instead of a transaction of two.
    public static let claimPart = ClaimContext.Part(
        kinds: [JobKind.notice.rawValue], prefix: claimPrefix,
        source: """
            FROM dsr.outbox AS o LEFT JOIN dsr.requests AS r ON r.id = o.request_id
             WHERE o.id = CASE WHEN \(ClaimContext.job).payload ->> 'outbox_id' ~ '^[0-9]{1,18}$'
                               THEN (\(ClaimContext.job).payload ->> 'outbox_id')::bigint END
            """,
        selectList: noticeSelectList(prefix: claimPrefix))

    static let claimPrefix = "notice_"

    private static let lockingStatement = """
        SELECT \(noticeSelectList(prefix: ""))
          FROM dsr.outbox AS o
          LEFT JOIN dsr.requests AS r ON r.id = o.request_id
         WHERE o.id = $1
           FOR UPDATE OF o
        """

    public func handle(_ job: Job, context: JobContext) async throws -> JobResult {
        let outboxID = try job.decodePayload(Payload.self).outbox_id
        var start: Start?
        if let row = job.claimedRow(Self.claimPrefix) { start = try await beginAsClaimed(outboxID, row: row) }
        if start == nil {
            start = try await pool.withConnection { connection in
                try await connection.transaction { connection in try self.begin(outboxID, on: connection) }
            }
        }
        guard case .send(let notice) = start else { return .none }
        var logger = context.logger
        logger[metadataKey: "dsr.notice_id"] = "\(notice.id)"
        do {
            if let refusal = try await deliver(notice) {
                DaemonMetrics.notice(channel: notice.channel.rawValue, sent: false)
                logger.error("notice refused permanently", metadata: ["dsr.error": "\(refusal)"])
                return JobResult(
                    effects: effects(of: NoticeLifecycle.afterSend(.refused, audience: notice.audience), notice, reason: refusal))
            }
        } catch {
            DaemonMetrics.notice(channel: notice.channel.rawValue, sent: false)
            // A clean failure: the message was not accepted, so the next attempt is not in doubt.
            let outcome = NoticeLifecycle.afterSend(.notAccepted, audience: notice.audience)
            _ = try? await pool.withConnection { connection in
                try await connection.execute(
                    "UPDATE dsr.outbox SET state = $3, last_error = $2 WHERE id = $1 AND state = $4",
                    [notice.id, String("\(error)".prefix(1000)), outcome.state.rawValue, NoticeState.sending.rawValue])
            }
            throw error
        }
        Failpoints.hit("notice.after_send")
        DaemonMetrics.notice(channel: notice.channel.rawValue, sent: true)
        logger.info("notice sent", metadata: ["dsr.template": "\(notice.template)", "dsr.channel": "\(notice.channel.rawValue)"])
        return JobResult(effects: effects(of: NoticeLifecycle.afterSend(.delivered, audience: notice.audience), notice, reason: nil))
    }

    /// Starts from the row as the claim read it, without a lock: a pending notice moves to
    /// `sending` in one statement that checks the row is still as read (pending, with as many
    /// attempts), so two workers can never both send it. Nil when the locked way must decide:
    /// the notice was not pending, or it changed since the claim.
    private func beginAsClaimed(_ id: Int64, row: PostgresRow) async throws -> Start? {
        let prefix = Self.claimPrefix
        guard try row.decode(prefix + "state", as: String.self) == NoticeState.pending.rawValue else { return nil }
        switch try decide(row, prefix: prefix) {
        case .waitForEarlier(let wait):
            throw JobFailure.postpone(after: wait, Self.waitReason)
        case .send(let notice):
            let attempts = try row.decode(prefix + "send_attempts", as: Int.self)
            let moved = try await pool.withConnection { connection in
                try await connection.execute(
                    Self.markSending + " AND state = $6 AND send_attempts = $7",
                    Self.markSendingParameters(notice) + [NoticeState.pending.rawValue, attempts])
            }
            return moved == 1 ? .send(notice) : nil
        case .skip, .markInDoubt:
            return nil
        }
    }

    private func begin(_ id: Int64, on connection: isolated PostgresConnection) throws -> Start {
        let rows = try connection.query(Self.lockingStatement, [id])
        guard let row = rows.first else { throw JobFailure.permanent("outbox row \(id) does not exist") }
        switch try decide(row, prefix: "") {
        case .skip:
            return .skip
        case .waitForEarlier(let wait):
            throw JobFailure.postpone(after: wait, Self.waitReason)
        case .markInDoubt(let tellDPO, let template, let requestID, let channel):
            let reason = "an earlier attempt may have been delivered before a crash; not resent (notices.resend_in_doubt = false)"
            try connection.execute(
                "UPDATE dsr.outbox SET state = $3, last_error = $2 WHERE id = $1", [id, reason, NoticeState.inDoubt.rawValue])
            if tellDPO {
                try connection.execute(
                    "SELECT dsr.notify_dpo($1, $2, 'dpo_delivery_failed', jsonb_build_object('template', $3::text, 'channel', $4::text, 'last_error', $5::text))",
                    ["in-doubt:\(id)", requestID, template, channel.rawValue, reason])
            }
            return .skip
        case .send(let notice):
            // Sent with the COMMIT, before the message itself.
            try connection.executeAtCommit(Self.markSending, Self.markSendingParameters(notice))
            return .send(notice)
        }
    }

    static let waitReason = "waits for an earlier notice of the same request to the person to be sent first"

    /// Marks a notice `sending`, its attempt counted and its rendering kept (a later attempt
    /// sends the same message), before the message goes out.
    static let markSending = """
        UPDATE dsr.outbox
           SET state = $5, send_attempts = send_attempts + 1, send_started_at = now(),
               rendered_subject = $2, rendered_text = $3, rendered_html = $4
         WHERE id = $1
        """

    static func markSendingParameters(_ notice: Notice) -> [any PostgresEncodable] {
        [notice.id, notice.rendered.subject, notice.rendered.text, notice.rendered.html, NoticeState.sending.rawValue]
    }

    /// What to do with an outbox row (``noticeSelectList(prefix:)``): the lifecycle's
    /// decision, with the notice rendered (once: a later attempt sends the same message).
    enum Decision {
        case skip
        case waitForEarlier(Duration)
        case markInDoubt(tellDPO: Bool, template: String, requestID: UUID?, channel: Channel)
        case send(Notice)
    }

    private func decide(_ row: PostgresRow, prefix: String) throws -> Decision {
        func column(_ name: String) -> String { prefix + name }
        let id = try row.decode(column("id"), as: Int64.self)
        let state = try row.decode(column("state"), as: NoticeState.self, of: "outbox row \(id)")
        let audience = try row.decode(column("audience"), as: Audience.self, of: "outbox row \(id)")
        let channel = try row.decode(column("channel"), as: Channel.self, of: "outbox row \(id)")
        let requestID = try row.decode(column("request_id"), as: UUID?.self)
        let template = try row.decode(column("template"), as: String.self)
        let earlierDueIn = try row.decode(column("earlier_due_in"), as: Double?.self).map { Duration.milliseconds(Int64($0 * 1000)) }
        switch NoticeLifecycle.start(state, audience: audience, resendInDoubt: settings.resendInDoubt, earlierDueIn: earlierDueIn) {
        case .skip: return .skip
        case .waitForEarlier(let wait): return .waitForEarlier(wait)
        case .markInDoubt(let tellDPO): return .markInDoubt(tellDPO: tellDPO, template: template, requestID: requestID, channel: channel)
        case .send: break
        }
        var recipient = try row.decode(column("recipient"), as: String?.self) ?? ""
        if audience == .dpo {
            guard !settings.dpoEmail.isEmpty else { throw NoticeError.channelNotConfigured("notices.dpo_email") }
            recipient = settings.dpoEmail
        }
        var rendered: RenderedNotice
        if let text = try row.decode(column("rendered_text"), as: String?.self) {
            rendered = RenderedNotice(
                subject: try row.decode(column("rendered_subject"), as: String?.self), text: text,
                html: try row.decode(column("rendered_html"), as: String?.self))
        } else {
            let language =
                audience == .dpo ? Language(code: settings.dpoLocale) : Language(code: try row.decode(column("locale"), as: String?.self))
            rendered = try templates.render(
                template, channel: channel, language: language, values: try values(for: row, prefix: prefix, locale: language.rawValue))
        }
        return .send(
            Notice(
                id: id, requestID: requestID, template: template, audience: audience, channel: channel,
                recipient: recipient, key: try row.decode(column("idempotency_key"), as: String.self), rendered: rendered))
    }

    /// Template variables: the outbox row's own, plus the request's id, kind and dates, and
    /// the company's name and contact.
    func values(for row: PostgresRow, prefix: String, locale: String) throws -> [String: Any] {
        func column(_ name: String) -> String { prefix + name }
        var values: [String: Any] = [:]
        let variables = try row.decode(column("variables"), as: String.self)
        if let object = try JSONSerialization.jsonObject(with: Data(variables.utf8)) as? [String: Any] {
            values = object
        }
        // An empty note would still open its section ("Note:" followed by nothing).
        if (values["note"] as? String)?.isEmpty == true { values["note"] = nil }
        // A breach whose risk is unlikely needs no PDPC notification (s.37(4)): its notices say so.
        if let risk = values["risk"] as? String { values["pdpc_needed"] = risk != "unlikely" }
        values.merge(NoticeVocabulary.companyValues(settings.company, locale: locale)) { _, company in company }
        if let requestID = try row.decode(column("request_id"), as: UUID?.self) {
            let id = requestID.uuidString.lowercased()
            values["request_id"] = id
            values["short_id"] = String(id.prefix(8))
            if try row.decode(column("audience"), as: String.self) == Audience.subject.rawValue,
                let url = settings.links?.url(for: requestID)
            {
                values["status_url"] = url
            }
        }
        if let kind = try row.decode(column("kind"), as: String?.self) {
            values.merge(NoticeVocabulary.kindValues(kind, lift: try row.decode(column("lift"), as: Bool?.self) ?? false, locale: locale)) {
                $1
            }
        }
        var dates: [String: Date] = [:]
        if let received = try row.decode(column("received_at"), as: Date?.self) { dates["received_at"] = received }
        if let due = try row.decode(column("due_at"), as: Date?.self) { dates["due_at"] = due }
        // Timestamps in the variables (`…_at`, and the breach notices' `deadline`) are also
        // given as dates in the reader's words (`…_date`, `deadline_date`).
        for (key, value) in values where key.hasSuffix("_at") || key == "deadline" {
            if let text = value as? String, let date = Date(postgresText: Substring(text)) ?? DateTexts.parseISO(text) {
                dates[key] = date
            }
        }
        for (key, date) in dates {
            let name = key.hasSuffix("_at") ? String(key.dropLast(3)) : key
            values[name + "_date"] = NoticeVocabulary.date(date, locale: locale, timeZone: settings.timeZone)
        }
        if values["days_left"] == nil, let due = dates["due_at"] {
            values["days_left"] = Int((due.timeIntervalSinceNow / 86_400).rounded(.up))
        }
        if let received = dates["received_at"], let due = dates["due_at"] {
            values["period_days"] = Int((due.timeIntervalSince(received) / 86_400).rounded())
        }
        values.merge(NoticeVocabulary.outcomeValues(values, locale: locale)) { $1 }
        return values
    }

    /// Sends the notice. Returns a reason when the server refused it for good; throws when
    /// a later attempt may succeed.
    private func deliver(_ notice: Notice) async throws -> String? {
        switch notice.channel {
        case .sms:
            guard let sms else { throw NoticeError.channelNotConfigured("sms.url") }
            switch try await sms.send(to: notice.recipient, text: notice.rendered.text, idempotencyKey: notice.key) {
            case .sent: return nil
            case .refused(let reason): return reason
            }
        case .email:
            guard let smtp, let sender else { throw NoticeError.channelNotConfigured("email.smtp_url") }
            let recipient: MailAddress
            do {
                recipient = try MailAddress(notice.recipient)
            } catch {
                return "recipient address is not valid"
            }
            let domain = sender.address.split(separator: "@").last.map(String.init) ?? "dsrd"
            let message = MailMessage(
                from: sender, to: [recipient], subject: notice.rendered.subject ?? "", text: notice.rendered.text,
                html: notice.rendered.html, messageID: "notice-\(notice.id)@\(domain)")
            do {
                try await smtp.send(message)
                return nil
            } catch let error as CurlError where (500..<600).contains(error.responseCode) {
                return "mail server refused the message: \(error)"
            }
        }
    }

    /// The statements that record a send's outcome, committed with the job's completion.
    private func effects(of outcome: NoticeLifecycle.Outcome, _ notice: Notice, reason: String?) -> [SQLStatement] {
        var effects = [
            SQLStatement(
                """
                UPDATE dsr.outbox SET state = $2, last_error = $3, sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END
                 WHERE id = $1 AND state <> $2
                """,
                [notice.id, outcome.state.rawValue, reason])
        ]
        if outcome.tellDPO {
            effects.append(
                SQLStatement(
                    "SELECT dsr.notify_dpo($1, $2, 'dpo_delivery_failed', jsonb_build_object('template', $3::text, 'channel', $4::text, 'last_error', $5::text))",
                    ["delivery-failed:\(notice.id)", notice.requestID, notice.template, notice.channel.rawValue, reason ?? ""]))
        }
        return effects
    }
}
