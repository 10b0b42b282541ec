import Foundation
import Logging
import Postgres

/// Job kind `request`: plans a rights request.
///
/// It resolves who the person is (the stores' authoritative tables, repeated until no new
/// identifier turns up), then queues one `store_task` per store. Nothing is done for anyone
/// the request may not be about: the request is held for identity verification instead
/// (`dsr.hold_for_verification`) when
///
/// - only a phone matched, and several customers share it (the strong identifiers given, if
///   any, matched nobody: a family's line is not enough to tell which of them asked);
/// - the identifiers join records that disagree on personal details (two customers whose
///   emails differ only by case, with different names).
///
/// Once an operator has resolved such a hold, these checks are not repeated. Then, when the
/// kind needs the identity verified (`dsr.verification_policy`) and nobody has verified it,
/// the request waits (`dsr.start_verification`): a one-time code goes to a contact the stores
/// hold for the person, never only to one the requester typed, and nothing is planned until
/// the code is entered or an operator verifies. A request that gave no way to reach the
/// person takes the contacts on file as its channels (`dsr.adopt_contacts`). A rectification of a field no store can correct, or with an invalid value, is
/// refused with the reason in the person's language.
public struct RequestHandler: JobHandler {
    let fanOut: FanOut

    public init(fanOut: FanOut) { self.fanOut = fanOut }

    public func handle(_ job: Job, context: JobContext) async throws -> JobResult {
        guard let requestID = job.requestID else { throw JobFailure.permanent("request job \(job.id) has no request_id") }
        let request = try await fanOut.loadRequest(for: job, id: requestID)
        guard RequestLifecycle.allowsWork(request.status) else { return .none }  // on hold, refused or cancelled meanwhile
        // Finding the person reads the stores that hold customers: not while one is paused.
        for store in fanOut.connectors.filter({ $0.mapping.tables.contains(where: \.authoritative) }).map(\.mapping.name) {
            if let reason = request.pause(of: store) { try await fanOut.postpone(request, because: reason) }
        }
        let operation = request.operation
        if operation == .erase { _ = try fanOut.requireProofKeys() }
        var change: StoreChange?
        if operation.isChange {
            do {
                change = try request.change(rectifiable: fanOut.rectifiableFields)
            } catch let refusal as FanOut.RefusalReason {
                context.logger.notice("request refused: invalid change")
                // A request that gave only ids hears why on the contacts the stores hold.
                let found = request.hasNoChannel ? try await resolve(request.given, contactsElsewhere: true) : nil
                return try Self.refuse(request, refusal, found: found)
            }
        }

        var resolution: Found
        var phoneOnly = !request.given.hasStrongIdentifier
        do {
            resolution = try await resolve(request.given, contactsElsewhere: true)
            if !phoneOnly && resolution.matches == 0 && !request.given.phones.isEmpty {
                // The email or ids given matched nobody: what is left is the phone, and the
                // request is treated as the phone-only request it effectively is. Not for a
                // contact only another table holds: the person named more than that phone.
                var phones = IdentitySet()
                phones.phones = request.given.phones
                resolution = try await resolve(phones, contactsElsewhere: false)
                phoneOnly = true
            }
        } catch let error as ConnectorError {
            if job.attempt >= 3, case .unreachable(let store, let reason) = error {
                try await warnStoreUnreachable(requestID: requestID, store: store, reason: reason)
            }
            throw error
        }

        // An email or id the person has since corrected away finds nobody now. A completed
        // correction of theirs knew it, and the customer and national ids it found then find
        // the person again (a code still goes only to the contacts on file).
        var throughCorrection: UUID?
        if resolution.matches == 0, request.given.hasStrongIdentifier,
            let (correction, earlier) = try await earlierCorrection(of: request)
        {
            var bridged = request.given
            bridged.customerIDs.formUnion(earlier.customerIDs)
            bridged.nationalIDs.formUnion(earlier.nationalIDs)
            let found = try await resolve(bridged, contactsElsewhere: false)
            if found.matches > 0 {
                resolution = found
                phoneOnly = false
                throughCorrection = correction
            }
        }

        var resolved = RequestLifecycle.Resolved(
            matches: resolution.matches, phoneOnly: phoneOnly, phoneShared: resolution.firstMatches > 1, conflicts: resolution.conflicts)
        if RequestLifecycle.mayNeedGuardian(request.requester) && resolution.matches > 0 {
            for connector in fanOut.connectors.compactMap({ $0 as? SQLConnector }) where resolved.age < .child {
                resolved.age = max(resolved.age, try await connector.age(of: resolution.identity))
            }
        }
        let decision = RequestLifecycle.plan(
            status: request.status, kind: request.kind, resumed: request.resumed, resumedWithIdentifiers: request.resumedWithIdentifiers,
            needsVerification: request.needsVerification, requester: request.requester, resolved: resolved)
        let known = resolution.known
        let contacts = String(decoding: try JSONEncoder().encode(ContactsOnFile(resolution.onFile, matches: known)), as: UTF8.self)
        switch decision {
        case .skip:
            return .none
        case .hold(let reason):
            context.logger.notice("request held for identity verification", metadata: ["dsr.hold_reason": "\(reason.code)"])
            var detail = HoldDetail()
            if case .conflictingRecords(let conflicts) = reason {
                detail.conflicts = conflicts.joined(separator: ", ")
                if request.resumed && request.resumedWithIdentifiers { detail.stillJoined = true }
            }
            let json = String(decoding: try JSONEncoder().encode(detail), as: UTF8.self)
            // A request that gave only an id reaches the person on the contacts on file, so
            // they learn why it waits, when the hold is about who may ask (their age), not
            // about which of several people asked.
            let adopt =
                request.hasNoChannel && reason.concernsOnePerson
                ? [SQLStatement("SELECT dsr.adopt_contacts($1, $2::jsonb)", [requestID, contacts])] : []
            return JobResult(
                effects: adopt + [
                    SQLStatement("SELECT dsr.hold_for_verification($1, $2, NULL, $3::jsonb)", [requestID, reason.code, json])
                ])
        case .verify:
            context.logger.notice("request waits for identity verification")
            return JobResult(effects: [SQLStatement("SELECT dsr.start_verification($1, $2::jsonb)", [requestID, contacts])])
        case .plan:
            break
        }
        // A corrected email that another record the stores resolve people by already holds
        // would make two people one to dsrd, and to every later request: refused, with the
        // reason. The person's own records' emails are in the resolved identity.
        if case .rectify(let changes) = change, let email = changes["email"],
            !resolution.identity.emails.contains(email)
        {
            var probe = IdentitySet()
            probe.emails = [email]
            for connector in fanOut.connectors where try await connector.resolve(probe).matches > 0 {
                context.logger.notice("request refused: the corrected email is another record's")
                return try Self.refuse(request, .correctedEmailInUse, found: resolution)
            }
        }
        // A correction after the person's erasure would write their details back into the rows
        // kept anonymised: refused once the erasure is done, and waits while one received
        // earlier is under way.
        if case .rectify = change {
            let identities = String(decoding: try JSONEncoder().encode(resolution.identity), as: UTF8.self)
            let erasure = try await fanOut.pool.withConnection { connection in
                try await connection.query("SELECT id, completed FROM dsr.erasure_of_person($1, $2::jsonb)", [requestID, identities]).first
            }
            if let erasure {
                let id = try erasure.decode("id", as: UUID.self)
                guard try erasure.decode("completed", as: Bool.self) else {
                    try await fanOut.postpone(
                        request, because: "the correction waits until the person's erasure \(id.uuidString.lowercased()) has ended")
                }
                context.logger.notice("request refused: the person's data was erased")
                return try Self.refuse(request, .personErased(by: id), found: resolution)
            }
        }
        // Requests that need approval or a decision wait for it before any change is made;
        // a rectification or objection has the person's data restricted meanwhile (s.34).
        let purposes = change.flatMap { change -> [String]? in
            if case .object(let purposes) = change { purposes } else { nil }
        }
        let required = fanOut.approvals.required(kind: request.kind, byDSRD: request.requester.isDSRD, purposes: purposes ?? [])
        if request.approvals < required {
            context.logger.notice("request waits for approval", metadata: ["dsr.required": "\(required)"])
            var effects = [SQLStatement("SELECT dsr.await_approval($1, $2, $3)", [requestID, required, Self.why(request)])]
            if DSRConfiguration.Approvals.restrictsWhileDeciding(request.kind) {
                effects = try await restrictWhileDeciding(request, identity: resolution.identity) + effects
            }
            return JobResult(effects: effects)
        }

        let identity = resolution.identity
        let identities = String(decoding: try JSONEncoder().encode(identity), as: UTF8.self)
        // Only exports have a file; the name is chosen once, so a re-run overwrites, never duplicates.
        let exportFile = operation == .export ? (request.exportFile ?? Self.unguessableName()) : nil
        let stores = fanOut.taskNames(for: request.kind)
        // A request that gave only ids is answered on the contacts the stores hold.
        let adopt = request.hasNoChannel ? [SQLStatement("SELECT dsr.adopt_contacts($1, $2::jsonb)", [requestID, contacts])] : []
        // Recorded without the numbers: the DPO sees that rows found by a shared phone alone
        // were left out, and why; the result keeps it for the completion notices.
        let shared =
            resolution.sharedPhones.isEmpty
            ? []
            : [
                SQLStatement(
                    "INSERT INTO dsr.request_events (request_id, step, detail) VALUES ($1, 'shared_phone_left_out', jsonb_build_object('phones', $2::int, 'why', 'another customer''s record carries the same phone: rows found by it alone may be theirs'))",
                    [requestID, resolution.sharedPhones.count]),
                SQLStatement(
                    "UPDATE dsr.requests SET result = coalesce(result, '{}') || '{\"shared_phone_left_out\": true}' WHERE id = $1",
                    [requestID]),
            ]
        // Nobody the stores know: the answer says so instead of "done" (the finalize step reads
        // this when no store changed anything).
        let nobody =
            known == 0
            ? [
                SQLStatement(
                    "INSERT INTO dsr.request_events (request_id, step, detail) SELECT $1, 'nobody_found', '{}' WHERE NOT EXISTS (SELECT 1 FROM dsr.request_events WHERE request_id = $1 AND step = 'nobody_found')",
                    [requestID])
            ] : []
        let bridged =
            throughCorrection.map {
                [
                    SQLStatement(
                        "INSERT INTO dsr.request_events (request_id, step, detail) VALUES ($1, 'found_through_correction', jsonb_build_object('correction', $2::uuid))",
                        [requestID, $0])
                ]
            } ?? []
        let effects =
            adopt + shared + nobody + bridged + [
                SQLStatement(
                    "SELECT dsr.plan_request($1, $2::jsonb, $3::text[], $4, $5)",
                    [requestID, identities, stores, operation.rawValue, exportFile])
            ]
        context.logger.info("request planned", metadata: ["dsr.stores": "\(fanOut.connectors.count)"])
        return JobResult(effects: effects)
    }

    /// The person's latest completed correction that knew an identifier `request` gives (an
    /// email since corrected away), and the identities it resolved then.
    func earlierCorrection(of request: FanOut.RequestRow) async throws -> (UUID, IdentitySet)? {
        let given = String(decoding: try JSONEncoder().encode(request.given), as: UTF8.self)
        let row = try await fanOut.pool.withConnection { connection in
            try await connection.query(
                """
                SELECT id, identities::text AS identities FROM dsr.requests
                 WHERE kind = 'rectification' AND status = 'completed' AND id <> $1
                   AND dsr.strong_identifiers(identities) && dsr.strong_identifiers($2::jsonb)
                 ORDER BY completed_at DESC LIMIT 1
                """, [request.id, given]
            ).first
        }
        guard let row, let text = try row.decode("identities", as: String?.self) else { return nil }
        return (try row.decode("id", as: UUID.self), try JSONDecoder().decode(IdentitySet.self, from: Data(text.utf8)))
    }

    /// Why a request waits for approval, for the DPO.
    static func why(_ request: FanOut.RequestRow) -> String {
        switch request.kind {
        case .erasure where request.requester.isDSRD: "an erasure the minors scan submitted (approvals.minors)"
        case .erasure: "every erasure is approved first (approvals.erasure)"
        case .rectification: "a rectification is decided first (approvals.rectification); the data is restricted meanwhile"
        default: "an objection is decided first (approvals.objection); the data is restricted meanwhile"
        }
    }

    /// Restricts the person's data in every store with a `restrict_flag` while the request is
    /// decided (PDPA s.34), and records it with the identities the lift will use. Idempotent.
    func restrictWhileDeciding(_ request: FanOut.RequestRow, identity: IdentitySet) async throws -> [SQLStatement] {
        let updates = try await fanOut.restrictions(identity, lift: false)
        let detail = String(decoding: try JSONEncoder().encode(RestrictionRecord(updates)), as: UTF8.self)
        let identities = String(decoding: try JSONEncoder().encode(identity), as: UTF8.self)
        return [
            SQLStatement("UPDATE dsr.requests SET identities = $2::jsonb WHERE id = $1", [request.id, identities]),
            SQLStatement(
                """
                INSERT INTO dsr.request_events (request_id, step, detail)
                SELECT $1, 'restricted_while_deciding', $2::jsonb
                 WHERE NOT EXISTS (SELECT 1 FROM dsr.request_events WHERE request_id = $1 AND step = 'restricted_while_deciding')
                """, [request.id, detail]),
        ]
    }

    /// `dsr.hold_for_verification`'s detail: what the DPO sees about why (no personal data).
    struct HoldDetail: Encodable {
        /// The pairs of record keys that disagree, for conflicting records.
        var conflicts: String?
        /// Held again after an operator resumed it naming the person's identifiers: those
        /// still join the records (an email both carry).
        var stillJoined: Bool?

        enum CodingKeys: String, CodingKey {
            case conflicts
            case stillJoined = "still_joined"
        }
    }

    /// Refuses `request` as invalid with `reason` in the person's language. A request that gave
    /// no email or mobile number first takes the contacts on file of the one person `found`,
    /// so the refusal reaches them (or the DPO hears it cannot).
    static func refuse(_ request: FanOut.RequestRow, _ reason: FanOut.RefusalReason, found: Found?) throws -> JobResult {
        let adopt = try found.map { request.hasNoChannel ? try adoptContacts(request.id, found: $0) : [] } ?? []
        return JobResult(
            effects: adopt + [
                SQLStatement("SELECT dsr.refuse_request($1, 'invalid_request', $2)", [request.id, reason.text(locale: request.locale)])
            ])
    }

    /// For a request that gave no email or mobile number: takes the contacts the stores hold
    /// for the one person found as its channel (`dsr.adopt_contacts`, which tells the DPO
    /// when there are none). Nothing is taken from records of several people.
    static func adoptContacts(_ requestID: UUID, found: Found) throws -> [SQLStatement] {
        let onFile = found.known == 1 ? found.onFile : IdentitySet()
        let contacts = String(decoding: try JSONEncoder().encode(ContactsOnFile(onFile, matches: found.known)), as: UTF8.self)
        return [SQLStatement("SELECT dsr.adopt_contacts($1, $2::jsonb)", [requestID, contacts])]
    }

    /// The emails and phone numbers the stores hold for the person (`dsr.requests.contacts_on_file`):
    /// the only places a verification code goes.
    /// Also how many records matched, so an operator can tell an unknown person from one the
    /// stores hold no contact for.
    struct ContactsOnFile: Encodable {
        let email: [String]
        let phone: [String]
        let matches: Int

        init(_ found: IdentitySet, matches: Int) {
            email = found[.email].sorted()
            phone = found[.phone].sorted()
            self.matches = matches
        }
    }

    /// What resolution found: everything known (given and found), and what the stores hold.
    struct Found {
        var identity: IdentitySet
        /// Identifiers read from the stores' rows only, never the ones the request gave.
        var onFile = IdentitySet()
        /// The person's phones that other customers' records carry too, left out of both.
        var sharedPhones = Set<String>()
        var matches = 0
        /// Records the identifiers given matched, before any found on them joined more.
        var firstMatches = 0
        var conflicts: [String] = []
        /// No authoritative table matched, but another table holds the one contact the person gave.
        var heldOutsideAuthoritative = false

        /// Records that know the person: a person only a non-authoritative table holds counts as one.
        var known: Int { matches > 0 ? matches : (heldOutsideAuthoritative ? 1 : 0) }
    }

    /// Resolves `given` across the stores until no new identifier turns up (at most three
    /// rounds). `matches` and `conflicts` are those of the last round. With
    /// `contactsElsewhere`, a single email or phone that only a non-authoritative table holds
    /// counts as on file (see below); `given` must then be what the request itself gave.
    func resolve(_ given: IdentitySet, contactsElsewhere: Bool) async throws -> Found {
        var identity = given
        var last = Found(identity: given)
        var onFile = IdentitySet()
        var firstMatches: Int?
        for _ in 0..<3 {
            var next = identity
            var round = Found(identity: IdentitySet())
            for connector in fanOut.connectors {
                let resolution = try await connector.resolve(identity)
                round.matches += resolution.matches
                round.conflicts += resolution.conflicts
                next.formUnion(resolution.identity)
                onFile.formUnion(resolution.identity)
            }
            round.identity = next
            firstMatches = firstMatches ?? round.matches
            last = round
            if next == identity { break }
            identity = next
        }
        last.firstMatches = firstMatches ?? 0
        // A phone another customer's record also carries identifies nobody: it neither
        // finds rows nor becomes a channel.
        for connector in fanOut.connectors.compactMap({ $0 as? SQLConnector }) {
            last.sharedPhones.formUnion(try await connector.sharedPhones(last.identity))
        }
        last.identity.phones.subtract(last.sharedPhones)
        onFile.phones.subtract(last.sharedPhones)
        // A person no authoritative table knows, who gave one email or one phone and nothing
        // else, may still have data keyed by it elsewhere (a newsletter, SMS opt-ins): it is on
        // file there, and the code sent to it proves control of exactly what that data is keyed
        // by. Never with more identifiers: a code to one contact must not unlock data keyed by
        // another the requester named.
        let onlyContact =
            given.values.count == 1 && given.values.values.first?.count == 1 && !(given.emails.isEmpty && given.phones.isEmpty)
        if contactsElsewhere && last.matches == 0 && onlyContact && onFile.isEmpty {
            var elsewhere = given
            elsewhere.phones.subtract(last.sharedPhones)
            for connector in fanOut.connectors.compactMap({ $0 as? SQLConnector }) {
                let held = try await connector.contactsHeld(elsewhere)
                onFile.formUnion(held)
                last.heldOutsideAuthoritative = last.heldOutsideAuthoritative || !held.isEmpty
            }
        }
        last.onFile = onFile
        return last
    }

    func warnStoreUnreachable(requestID: UUID, store: String, reason: String) async throws {
        try await fanOut.pool.withConnection { connection in
            try await connection.execute(
                "SELECT dsr.notify_dpo($1, $2, 'dpo_store_unreachable', jsonb_build_object('store', $3::text, 'last_error', $4::text))",
                ["store-unreachable:\(store):\(requestID.uuidString.lowercased())", requestID, store, String(reason.prefix(500))])
            try await connection.execute(
                """
                UPDATE dsr.requests SET status = 'waiting', current_step = $2, updated_at = now()
                 WHERE id = $1 AND completed_at IS NULL AND status <> 'awaiting_verification'
                """,
                [requestID, "waiting for store \(store) (unreachable)"])
        }
    }

    /// 128 random bits: nobody can find an export by guessing its name.
    static func unguessableName() -> String {
        var generator = SystemRandomNumberGenerator()
        return Digests.hex((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }) + ".zip"
    }
}
