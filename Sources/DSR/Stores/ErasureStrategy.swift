/// What an erasure does to a table's rows and columns, as the mapping's `erasure` table
/// names it (`_row = "delete"`, `email = "hash"`...).
public enum ErasureStrategy {
    /// What happens to the person's rows that no hold keeps (`_row`).
    public enum Row: String, Sendable, CaseIterable, Codable {
        case delete
        /// The columns with a ``Column`` strategy are overwritten; the row stays.
        case anonymise
        case keep
    }

    /// What happens to a column of a row that is anonymised (held, or `_row = "anonymise"`).
    public enum Column: String, Sendable, CaseIterable, Codable {
        case null
        /// HMAC-SHA-256 under the proof key, as 64 hex digits: joins still work, values are gone.
        case hash
        /// The first character and, for an email, the domain: `s***@example.com`.
        case mask
        /// Left as it is (the same as not naming the column).
        case keep
    }
}
