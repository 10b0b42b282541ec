import Foundation
import Postgres

extension ProcessingRegister {
    /// Publishes the register to `dsr.register_entries` (read through `dsr.register`): rows of
    /// tables no longer mapped are removed, the others upserted, and a row is only written when
    /// it changed, so `changed_at` says when. One bound JSON parameter carries every entry.
    /// Upserts, not delete-and-insert: daemons starting together both succeed.
    public func publish(on connection: PostgresConnection) async throws {
        let rows = try String(decoding: JSONSerialization.data(withJSONObject: entries.map(\.databaseRow)), as: UTF8.self)
        try await connection.transaction { connection in
            try connection.execute(
                """
                DELETE FROM dsr.register_entries AS r
                 WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements($1::jsonb) AS e
                                    WHERE e ->> 'store' = r.store AND e ->> 'table_name' = r.table_name)
                """, [rows])
            try connection.execute(
                """
                INSERT INTO dsr.register_entries AS r (store, table_name, position, store_type, categories, purposes, recipients,
                                                       transfers, retention, lawful_basis, sources, words)
                SELECT e ->> 'store', e ->> 'table_name', (e ->> 'position')::integer, e ->> 'store_type',
                       ARRAY(SELECT jsonb_array_elements_text(e -> 'categories')),
                       ARRAY(SELECT jsonb_array_elements_text(e -> 'purposes')),
                       ARRAY(SELECT jsonb_array_elements_text(e -> 'recipients')),
                       e -> 'transfers', e -> 'retention',
                       ARRAY(SELECT jsonb_array_elements_text(e -> 'lawful_basis')),
                       ARRAY(SELECT jsonb_array_elements_text(e -> 'sources')), e -> 'words'
                  FROM jsonb_array_elements($1::jsonb) AS e
                ON CONFLICT (store, table_name) DO UPDATE
                   SET position = EXCLUDED.position, store_type = EXCLUDED.store_type, categories = EXCLUDED.categories,
                       purposes = EXCLUDED.purposes, recipients = EXCLUDED.recipients, transfers = EXCLUDED.transfers,
                       retention = EXCLUDED.retention, lawful_basis = EXCLUDED.lawful_basis, sources = EXCLUDED.sources,
                       words = EXCLUDED.words, changed_at = now()
                 WHERE (r.position, r.store_type, r.categories, r.purposes, r.recipients, r.transfers, r.retention, r.lawful_basis,
                        r.sources, r.words)
                       IS DISTINCT FROM (EXCLUDED.position, EXCLUDED.store_type, EXCLUDED.categories, EXCLUDED.purposes,
                                         EXCLUDED.recipients, EXCLUDED.transfers, EXCLUDED.retention, EXCLUDED.lawful_basis,
                                         EXCLUDED.sources, EXCLUDED.words)
                """, [rows])
        }
    }
}

extension ProcessingRegister.Entry {
    /// The entry as `publish` sends it: codes, and every column in words per locale.
    var databaseRow: [String: Any] {
        var words: [String: [String: String]] = [:]
        for locale in ["th", "en"] {
            words[locale] = Dictionary(
                uniqueKeysWithValues: ProcessingRegister.Column.allCases.map { ($0.rawValue, text($0, locale: locale)) })
        }
        return [
            "store": store, "table_name": table, "position": position, "store_type": storeKind.rawValue, "categories": categories,
            "purposes": purposes, "recipients": recipients,
            "transfers": transfers.map { ["country": $0.country, "recipient": $0.recipient, "safeguard": $0.safeguard] },
            "retention": retention, "lawful_basis": lawfulBasis, "sources": sources, "words": words,
        ]
    }
}
