import Foundation
import Postgres

/// Tables of the order store with the rows that belong to T-1, by primary key, captured
/// before erasure so that "everyone else untouched" can be checked afterwards.
public struct StoreSnapshot: Equatable, Sendable {
    public var checksums: [String: String] = [:]

    public init() {}

    /// Columns filled from the clock, which differ between two fixtures made moments apart.
    public static let clockColumns = [
        "created_at", "ordered_at", "paid_at", "issued_at", "shipped_at", "uploaded_at", "at",
        "subscribed_at", "unsubscribed_at", "given_at", "withdrawn_at", "added_at", "date_of_birth",
    ]

    /// md5 of every row (less its clock columns) of each table except `excluded` ids, in key order.
    public static func take(_ connection: PostgresConnection, tables: [String], excluded: [String: [Int64]] = [:]) async throws
        -> StoreSnapshot
    {
        var snapshot = StoreSnapshot()
        for table in tables {
            // Table names come from the shipped mappings (identifiers), never from input.
            snapshot.checksums[table] = try await connection.query(
                "SELECT coalesce(md5(string_agg((to_jsonb(t) - $2::text[])::text, '|' ORDER BY t.id)), '') AS sum FROM \(table) AS t WHERE NOT (t.id::text = ANY($1::text[]))",
                [(excluded[table] ?? []).map(String.init), clockColumns])[0].decode("sum", as: String.self)
        }
        return snapshot
    }
}
