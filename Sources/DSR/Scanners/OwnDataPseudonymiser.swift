import Foundation
import Logging
import Postgres

/// dsrd's own copies of people's identifiers end too (issue 16): `retention.own_data_after`
/// after a request ended, its identifiers (subject, resolved identities, contacts on file,
/// representative, the values of a rectification) become keyed hashes (HMAC-SHA256 under the
/// proof key's identifier key, computed here: the key never reaches the database), its email
/// and phone columns are cleared, its notices lose their recipient and bodies, and its
/// manual tasks their details. What the s.39 record needs stays: kind, dates, status, refusal
/// ground and reason, result counts, proofs. Runs with the retention sweep.
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

    /// Pseudonymises every request that ended before `now - after`; returns how many.
    public func run(on connection: PostgresConnection, now: Date = Date()) async throws -> Int {
        let cutoff = now.addingTimeInterval(-Double(after.components.seconds))
        var total = 0
        while true {
            let done = try await connection.transaction { connection in try self.pseudonymiseBatch(on: connection, cutoff: cutoff) }
            total += done
            if done < batch { return total }
        }
    }

    func pseudonymiseBatch(on connection: isolated PostgresConnection, cutoff: Date) throws -> Int {
        let rows = try connection.query(
            """
            SELECT id, subject::text AS subject, identities::text AS identities, payload::text AS payload,
                   contacts_on_file::text AS contacts, representative::text AS representative
              FROM dsr.requests
             WHERE completed_at < $1 AND pseudonymised_at IS NULL
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
            // Notices: the recipient becomes its hash, the bodies and values go.
            let recipients = try connection.query(
                "SELECT DISTINCT recipient FROM dsr.outbox WHERE request_id = $1 AND recipient IS NOT NULL", [id]
            ).map { try $0.decode("recipient", as: String.self) }
            try connection.execute(
                """
                UPDATE dsr.outbox AS o
                   SET recipient = 'hmac:' || h.hash, variables = '{}', rendered_subject = NULL, rendered_text = NULL, rendered_html = NULL
                  FROM unnest($2::text[], $3::text[]) AS h(recipient, hash)
                 WHERE o.request_id = $1 AND o.recipient = h.recipient AND o.state IN ('sent', 'failed', 'in_doubt', 'cancelled')
                """, [id, recipients, recipients.map(keys.identifierHash)])
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
