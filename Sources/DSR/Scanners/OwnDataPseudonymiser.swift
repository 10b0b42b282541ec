import Foundation
import Logging
import Postgres

/// dsrd's own copies of people's identifiers end too (issue 16): `retention.own_data_after`
/// after a request ended, its identifiers (subject, resolved identities, contacts on file,
/// representative, the values of a rectification) become keyed hashes (HMAC-SHA256 under the
/// proof key's identifier key, computed here: the key never reaches the database), its email
/// and phone columns are cleared, its notices lose their recipient and bodies, and its
/// manual tasks their details. The people a breach affected are pseudonymised the same way
/// `retention.own_data_after` after the DPO closed it. What the s.39 record needs stays: kind, dates, status, refusal
/// ground and reason, result counts, proofs. A restriction the person asked for is kept
/// whole while it is in force (`dsr.restriction_in_force`): a later lift must still find it
/// (PDPA s.34). Runs with the retention sweep.
public struct OwnDataPseudonymiser: Sendable {
    let keys: ProofKeys
    /// Requests that ended longer ago than this are pseudonymised.
    let after: Duration
    /// Requests per transaction.
    let batch: Int

    public init(keys: ProofKeys, after: Duration, batch: Int = 200) {
        self.keys = keys
        self.after = after
        self.batch = batch
    }

    /// What a run pseudonymised.
    public struct Done: Sendable, Equatable {
        /// Requests that ended before the cutoff.
        public var requests = 0
        /// Breaches closed before the cutoff whose affected people were pseudonymised.
        public var breaches = 0

        public init(requests: Int = 0, breaches: Int = 0) {
            self.requests = requests
            self.breaches = breaches
        }
    }

    /// Pseudonymises every request that ended, and the people of every breach closed, before
    /// `now - after`.
    public func run(on connection: PostgresConnection, now: Date = Date()) async throws -> Done {
        let cutoff = now.addingTimeInterval(-Double(after.components.seconds))
        var total = Done()
        while true {
            let done = try await connection.transaction { connection in try self.pseudonymiseBatch(on: connection, cutoff: cutoff) }
            total.requests += done
            if done < batch { break }
        }
        let breaches = try await connection.query(
            "SELECT id FROM dsr.breaches WHERE closed_at < $1 AND subjects_pseudonymised_at IS NULL ORDER BY id", [cutoff]
        ).map { try $0.decode("id", as: Int.self) }
        for breach in breaches {
            try await connection.transaction { connection in try self.pseudonymiseSubjects(of: breach, on: connection) }
            total.breaches += 1
        }
        return total
    }

    /// A closed breach's people: identities as keyed hashes, no email or phone, and their
    /// notices without recipient or bodies.
    func pseudonymiseSubjects(of breach: Int, on connection: isolated PostgresConnection) throws {
        let rows = try connection.query(
            "SELECT person, identity::text AS identity FROM dsr.breach_subjects WHERE breach_id = $1 ORDER BY person FOR UPDATE", [breach])
        for row in rows {
            try connection.execute(
                "UPDATE dsr.breach_subjects SET identity = $3::jsonb, email = NULL, phone = NULL WHERE breach_id = $1 AND person = $2",
                [breach, try row.decode("person", as: Int.self), try hashed(row.decode("identity", as: String.self))])
        }
        try hashRecipients(where: "o.idempotency_key LIKE 'breach:' || $1 || ':%'", [breach], on: connection)
        try connection.execute("UPDATE dsr.breaches SET subjects_pseudonymised_at = now() WHERE id = $1", [breach])
    }

    /// Notices matching `condition` (on `dsr.outbox AS o`, its parameters first): the
    /// recipient becomes its hash, the bodies and values go. Only notices that are over.
    func hashRecipients(where condition: String, _ parameters: [any PostgresEncodable], on connection: isolated PostgresConnection) throws {
        let recipients = try connection.query(
            "SELECT DISTINCT recipient FROM dsr.outbox AS o WHERE \(condition) AND recipient IS NOT NULL AND recipient NOT LIKE 'hmac:%'",
            parameters
        ).map { try $0.decode("recipient", as: String.self) }
        let n = parameters.count
        try connection.execute(
            """
            UPDATE dsr.outbox AS o
               SET recipient = 'hmac:' || h.hash, variables = '{}', rendered_subject = NULL, rendered_text = NULL, rendered_html = NULL
              FROM unnest($\(n + 1)::text[], $\(n + 2)::text[]) AS h(recipient, hash)
             WHERE \(condition) AND o.recipient = h.recipient AND o.state IN ('sent', 'failed', 'in_doubt', 'cancelled')
            """, parameters + [recipients, recipients.map(keys.identifierHash)])
    }

    func pseudonymiseBatch(on connection: isolated PostgresConnection, cutoff: Date) throws -> Int {
        let rows = try connection.query(
            """
            SELECT id, subject::text AS subject, identities::text AS identities, payload::text AS payload,
                   contacts_on_file::text AS contacts, representative::text AS representative
              FROM dsr.requests
             WHERE completed_at < $1 AND pseudonymised_at IS NULL AND NOT dsr.restriction_in_force(id)
             ORDER BY completed_at LIMIT $2
               FOR UPDATE SKIP LOCKED
            """, [cutoff, batch])
        for row in rows {
            let id = try row.decode("id", as: UUID.self)
            try connection.execute(
                """
                UPDATE dsr.requests
                   SET subject = $2::jsonb, identities = $3::jsonb, payload = $4::jsonb, contacts_on_file = $5::jsonb,
                       representative = $6::jsonb, subject_email = NULL, subject_phone = NULL, pseudonymised_at = now()
                 WHERE id = $1
                """,
                [
                    id, try hashed(row.decode("subject", as: String.self)), try row.decode("identities", as: String?.self).map(hashed),
                    try hashed(row.decode("payload", as: String.self), keeping: ["purposes", "locale", "lift", "idempotency_key"]),
                    try row.decode("contacts", as: String?.self).map(hashed),
                    try row.decode("representative", as: String?.self).map(hashed),
                ])
            try hashRecipients(where: "o.request_id = $1", [id], on: connection)
            try connection.execute("UPDATE dsr.manual_tasks SET details = '{}' WHERE request_id = $1", [id])
        }
        return rows.count
    }

    /// The JSON with every string value replaced by `hmac:<hash>`, but under the `keeping` keys.
    func hashed(_ json: String) throws -> String { try hashed(json, keeping: []) }

    func hashed(_ json: String, keeping: Set<String>) throws -> String {
        func walk(_ value: Any, key: String?) -> Any {
            if let key, keeping.contains(key) { return value }
            switch value {
            case let text as String: return text.hasPrefix("hmac:") ? text : "hmac:" + keys.identifierHash(text)
            case let array as [Any]: return array.map { walk($0, key: nil) }
            case let object as [String: Any]: return Dictionary(uniqueKeysWithValues: object.map { ($0.key, walk($0.value, key: $0.key)) })
            default: return value
            }
        }
        let value = try JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])
        return String(
            decoding: try JSONSerialization.data(withJSONObject: walk(value, key: nil), options: [.sortedKeys, .fragmentsAllowed]),
            as: UTF8.self)
    }
}
