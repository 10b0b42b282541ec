import Crypto
import Foundation

/// What one store's erasure did, table by table. Measured by a dry run (rolled back) and
/// recorded before the real run, so the proof states the same thing however often the
/// erasure had to be repeated.
public struct StoreErasure: Codable, Sendable, Equatable {
    public struct Held: Codable, Sendable, Equatable {
        public var rule: String
        public var rows: Int
        /// ISO date until which the rows must be kept; nil when it depends on other rows.
        public var until: String?
        /// anonymised (identifying columns replaced) or kept (untouched, e.g. an open dispute).
        public var treatment: String

        /// The rule of rows kept only because kept rows (of the same table, another, or one
        /// the mapping does not list) refer to them.
        public static let referencedRule = "referenced by rows kept in this store"
        /// The same rule as proofs made before it named the referencing tables put it.
        static let earlierReferencedRule = "referenced by rows kept in other tables of this store"
        /// The rule of rows a table's `_row = "keep"` keeps.
        public static let mappingRule = "kept by the store mapping"

        /// Why the rows were kept, as the person is told: a rule the company must follow (a
        /// legal hold, an open dispute), other kept rows referring to them, or the mapping.
        public enum Reason: Sendable { case rule, referenced, mapping }

        public var reason: Reason {
            if rule.hasPrefix(Self.referencedRule) || rule.hasPrefix(Self.earlierReferencedRule) { return .referenced }
            return rule == Self.mappingRule ? .mapping : .rule
        }

        /// The referenced rule, naming the tables (with their columns) whose kept rows point
        /// at the held ones, and those of them outside the mapping (their rows are neither
        /// exported nor erased: the DPO should know which).
        public static func referenced(by referrers: [String], unmapped: [String]) -> String {
            var rule = referrers.isEmpty ? referencedRule : referencedRule + ": " + referrers.joined(separator: ", ")
            if !unmapped.isEmpty { rule += unmappedMarker + unmapped.joined(separator: ", ") }
            return rule
        }

        /// What a referenced rule says before naming tables outside the mapping.
        public static let unmappedMarker = "; tables not in the mapping among them: "
    }

    public struct Table: Codable, Sendable, Equatable {
        public var name: String
        /// The table's erasure strategy for rows not on hold: delete, anonymise or keep.
        public var strategy: String
        /// Column strategies applied to anonymised rows (column -> null, hash, mask).
        public var columns: [String: String]
        /// Rows deleted.
        public var deleted: Int
        /// Rows anonymised because the mapping says so (`_row = "anonymise"`).
        public var anonymised: Int
        /// Rows kept because a rule or a kept row needs them, with the person's columns anonymised.
        public var heldAnonymised: Int
        /// Rows kept unchanged (an open dispute, `_row = "keep"`, a hold with nothing to anonymise).
        public var heldUnchanged: Int
        /// Why rows were kept: each rule with its rows, expiry and treatment.
        public var held: [Held]

        public init(
            name: String, strategy: String, columns: [String: String], deleted: Int, anonymised: Int, heldAnonymised: Int,
            heldUnchanged: Int, held: [Held]
        ) {
            self.name = name
            self.strategy = strategy
            self.columns = columns
            self.deleted = deleted
            self.anonymised = anonymised
            self.heldAnonymised = heldAnonymised
            self.heldUnchanged = heldUnchanged
            self.held = held
        }

        enum CodingKeys: String, CodingKey {
            case name, strategy, columns, deleted, anonymised, held
            case heldAnonymised = "held_anonymised"
            case heldUnchanged = "held_unchanged"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            strategy = try container.decode(String.self, forKey: .strategy)
            columns = try container.decode([String: String].self, forKey: .columns)
            deleted = try container.decode(Int.self, forKey: .deleted)
            anonymised = try container.decode(Int.self, forKey: .anonymised)
            held = try container.decode([Held].self, forKey: .held)
            // Plans recorded before these counts existed: derive them from the held entries.
            heldAnonymised =
                try container.decodeIfPresent(Int.self, forKey: .heldAnonymised)
                ?? held.filter { $0.treatment == "anonymised" }.reduce(0) { $0 + $1.rows }
            heldUnchanged =
                try container.decodeIfPresent(Int.self, forKey: .heldUnchanged)
                ?? held.filter { $0.treatment != "anonymised" }.reduce(0) { $0 + $1.rows }
        }

        /// Rows where the person can no longer be identified: deleted or anonymised.
        public var erased: Int { deleted + anonymised + heldAnonymised }
        /// Rows that remain because a rule keeps them.
        public var kept: Int { heldAnonymised + heldUnchanged }
    }

    /// What a check after erasure found of the person in one table.
    public struct Remainder: Codable, Sendable, Equatable {
        /// Rows that still match the person's identifiers (through their own columns or a parent's).
        public var matching: Int
        /// Of those, rows whose anonymised columns still hold values (not NULL, hashed or masked).
        public var notAnonymised: Int

        public init(matching: Int, notAnonymised: Int) {
            self.matching = matching
            self.notAnonymised = notAnonymised
        }

        enum CodingKeys: String, CodingKey {
            case matching
            case notAnonymised = "not_anonymised"
        }
    }

    public var store: String
    public var tables: [Table]
    /// Keyed hashes added to the store's suppression list (so the person is never re-imported).
    public var suppressionEntries: Int

    enum CodingKeys: String, CodingKey {
        case store, tables
        case suppressionEntries = "suppression_entries"
    }

    /// Rows deleted, over all tables.
    public var deleted: Int { tables.reduce(0) { $0 + $1.deleted } }

    /// A plan as `dsr.request_tasks.plan` keeps it; nil for NULL.
    static func recorded(_ json: String?) throws -> StoreErasure? {
        try json.map { try JSONDecoder().decode(StoreErasure.self, from: Data($0.utf8)) }
    }

    /// The plans `dsr.request_tasks.committed_plans` keeps, oldest first; none for NULL.
    static func committed(_ json: String?) throws -> [StoreErasure] {
        try json.map { try JSONDecoder().decode([StoreErasure].self, from: Data($0.utf8)) } ?? []
    }
}

/// The signed payload of a deletion proof. Holds no personal data: identifiers appear only
/// as HMAC-SHA256 under the daemon's identifier key.
public struct DeletionProofPayload: Codable, Sendable, Equatable {
    public struct Store: Codable, Sendable, Equatable {
        public var name: String
        public var erasedAt: String
        public var tables: [StoreErasure.Table]
        public var suppressionEntries: Int
        /// Rows per table that still match the person after erasure: rows kept, and rows
        /// anonymised in place that keep a link to the person (a key of theirs).
        public var postErasureDiscovery: [String: Int]
        /// Of those, per table, rows whose anonymised columns still hold values: only rows kept
        /// unchanged by a rule may (format 2).
        public var postErasureNotAnonymised: [String: Int]?
        /// Erasures of this store that committed and then failed the post-erasure check (the
        /// mapping or the store was mended before the next attempt), oldest first; `tables`
        /// is the attempt whose check passed. Rows they deleted are gone and count in no
        /// later attempt; rows they anonymised or kept are counted again, as they now stand,
        /// in `tables`. Absent when the first erasure's check passed.
        public var earlierAttempts: [EarlierAttempt]?

        /// What one earlier committed attempt did.
        public struct EarlierAttempt: Codable, Sendable, Equatable {
            public var tables: [StoreErasure.Table]
            public var suppressionEntries: Int

            enum CodingKeys: String, CodingKey {
                case tables
                case suppressionEntries = "suppression_entries"
            }
        }

        public init(
            name: String, erasedAt: String, tables: [StoreErasure.Table], suppressionEntries: Int, postErasureDiscovery: [String: Int],
            postErasureNotAnonymised: [String: Int]?
        ) {
            self.name = name
            self.erasedAt = erasedAt
            self.tables = tables
            self.suppressionEntries = suppressionEntries
            self.postErasureDiscovery = postErasureDiscovery
            self.postErasureNotAnonymised = postErasureNotAnonymised
        }

        enum CodingKeys: String, CodingKey {
            case name, tables
            case earlierAttempts = "earlier_attempts"
            case erasedAt = "erased_at"
            case suppressionEntries = "suppression_entries"
            case postErasureDiscovery = "post_erasure_discovery"
            case postErasureNotAnonymised = "post_erasure_not_anonymised"
        }
    }

    /// 2: tables count held-anonymised and held-unchanged rows apart, and the post-erasure
    /// check counts rows still holding values.
    public var formatVersion = 2
    public var requestID: String
    public var dsrdVersion: String
    public var receivedAt: String
    public var subject: [String: [String]]
    public var identifierHash = "HMAC-SHA256, key derived from the signing key"
    public var stores: [Store]
    /// Earlier access or portability exports of the person (request ids) that this erasure
    /// deleted from `exports.directory`. Absent when there were none.
    public var exportsDeleted: [String]?
    /// Manual stores: what each owner recorded (outcome and evidence). Absent when there were none.
    public var manualTasks: [ManualTaskRecord]?
    /// Processors told of the erasure, with their acknowledgements. Absent when there were none.
    public var processors: [ProcessorWebhook.Acknowledgement]?

    enum CodingKeys: String, CodingKey {
        case subject, stores, processors
        case manualTasks = "manual_tasks"
        case exportsDeleted = "exports_deleted"
        case formatVersion = "format_version"
        case requestID = "request_id"
        case dsrdVersion = "dsrd_version"
        case receivedAt = "received_at"
        case identifierHash = "identifier_hash"
    }
}

/// The proof file handed to the DPO: the payload as the exact signed text, its digest, the
/// Ed25519 signature, the key id, and the proof's entry in the audit chain.
public struct DeletionProofFile: Codable, Sendable {
    public struct AuditEntry: Codable, Sendable, Equatable {
        public var seq: Int64
        public var prevHash: String
        public var entryHash: String

        enum CodingKeys: String, CodingKey {
            case seq
            case prevHash = "prev_hash"
            case entryHash = "entry_hash"
        }
    }

    public var format = "dsrd-deletion-proof"
    public var payload: String
    public var payloadSHA256: String
    public var signature: String
    public var keyID: String
    public var audit: AuditEntry?

    enum CodingKeys: String, CodingKey {
        case format, payload, signature, audit
        case payloadSHA256 = "payload_sha256"
        case keyID = "key_id"
    }

    public static func sign(_ payload: DeletionProofPayload, with keys: ProofKeys) throws -> DeletionProofFile {
        try sign(bytes: try CanonicalJSON.data(payload), format: "dsrd-deletion-proof", with: keys)
    }

    /// A retention sweep's proof: the same envelope, another format.
    public static func sign(_ payload: SweepProofPayload, with keys: ProofKeys) throws -> DeletionProofFile {
        try sign(bytes: try CanonicalJSON.data(payload), format: SweepProofPayload.format, with: keys)
    }

    static func sign(bytes: Data, format: String, with keys: ProofKeys) throws -> DeletionProofFile {
        DeletionProofFile(
            format: format, payload: String(decoding: bytes, as: UTF8.self), payloadSHA256: Digests.sha256Hex(bytes),
            signature: try keys.signing.signature(for: bytes).base64EncodedString(), keyID: keys.keyID, audit: nil)
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// The audit chain's hash rule (`dsr.audit_entry_hash` in SQL).
    public static func entryHash(prev: String, seq: Int64, requestID: String, proofSHA256: String) -> String {
        Digests.sha256Hex(Data("\(prev)|\(seq)|\(requestID)|\(proofSHA256)".utf8))
    }
}
