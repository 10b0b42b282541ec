import Foundation

/// A change to a person's data in a store, for the rights that correct or limit processing.
public enum StoreChange: Sendable, Equatable {
    /// Rectification: column (as listed in a table's `rectify`) -> corrected value.
    case rectify([String: String])
    /// Restriction (PDPA s.34), or lifting it.
    case restrict(lift: Bool)
    /// Objection or consent withdrawal: stop processing for these purposes (all when empty).
    case object(purposes: [String])
}

/// What a change did in one store. Values never appear: rectification records SHA-256
/// digests of the values before and after.
public struct StoreUpdate: Codable, Sendable, Equatable {
    public struct Table: Codable, Sendable, Equatable {
        public var name: String
        /// rectified, restricted, unrestricted, withdrawn or deleted.
        public var action: String
        public var column: String?
        public var rows: Int
        public var beforeDigests: [String]?
        public var afterDigest: String?

        enum CodingKeys: String, CodingKey {
            case name, action, column, rows
            case beforeDigests = "before_digests"
            case afterDigest = "after_digest"
        }
    }

    public var store: String
    public var tables: [Table]
}
