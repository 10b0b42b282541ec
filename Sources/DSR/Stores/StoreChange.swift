import Foundation

/// A change to a person's data in a store, for the rights that correct or limit processing.
public enum StoreChange: Sendable, Equatable {
    /// Rectification: field (``StoreMapping/Table/rectifyField(_:)``: the identifier kind for a
    /// column that holds one, else the column's name) -> corrected value.
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
        /// rectified, restricted, unrestricted, withdrawn or deleted; for what was not done:
        /// conflict, ambiguous, refused_value (rectification) or not_restrictable (restriction).
        public var action: String
        public var column: String?
        public var rows: Int
        public var beforeDigests: [String]?
        public var afterDigest: String?
        /// Rectification: the field the person named, and how many of the person's rows hold
        /// it (changed or already as asked). Nil from stores that do not say (HTTP).
        public var field: String?
        public var matched: Int?
        /// refused_value: what the store refused it with, without the value (SQLSTATE and the
        /// constraint, e.g. `23514 full_name_len`).
        public var refusal: String?

        /// Outcomes of a correction a store did not apply: another record holds the value (a
        /// unique key), the person's rows there disagree (which one they meant is unknown), or
        /// the store refused the value (a constraint, its length or form).
        public static let notAppliedActions: Set<String> = ["conflict", "ambiguous", "refused_value"]

        /// Whether this is a correction the store did not apply (``notAppliedActions``).
        public var wasNotApplied: Bool { Self.notAppliedActions.contains(action) }

        /// The rows this entry changed: none for what was not done (a correction not
        /// applied, rows a restriction could not flag, which `rows` counts).
        public var changedRows: Int { wasNotApplied || action == "not_restrictable" ? 0 : rows }

        public init(
            name: String, action: String, column: String?, rows: Int, beforeDigests: [String]? = nil, afterDigest: String? = nil,
            field: String? = nil, matched: Int? = nil, refusal: String? = nil
        ) {
            self.name = name
            self.action = action
            self.column = column
            self.rows = rows
            self.beforeDigests = beforeDigests
            self.afterDigest = afterDigest
            self.field = field
            self.matched = matched
            self.refusal = refusal
        }

        enum CodingKeys: String, CodingKey {
            case name, action, column, rows, field, matched, refusal
            case beforeDigests = "before_digests"
            case afterDigest = "after_digest"
        }
    }

    public var store: String
    public var tables: [Table]
}
