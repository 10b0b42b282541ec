import Foundation

/// One store as described in `Config/connectors/NAME.toml`: where it is, which tables hold
/// personal data, how each table is tied to a person, and what each column is.
public struct StoreMapping: Sendable, Equatable {
    /// postgres: a database dsrd reads and changes (libpq); http: a JSON REST API (a SaaS
    /// tool); manual: records only a person can reach (paper, a processor's portal), worked
    /// through tasks emailed to the store's owner.
    public enum Kind: String, Sendable, CaseIterable { case postgres, http, manual }

    public var name: String
    public var kind: Kind
    /// libpq connection string (postgres) or base URL (http).
    public var url: String
    /// Where the data came from (codes: signup, phone, email, facebook_login, google_login, checkout, website, marketing).
    public var sources: [String]
    public var tables: [TableMapping]
    /// HTTP stores: path of the export endpoint, relative to `url`.
    public var exportPath: String
    /// HTTP stores: file holding a bearer token. Empty: no auth.
    public var tokenFile: String
    /// Table receiving keyed hashes of an erased person's email and phone
    /// (`identifier_hash text PRIMARY KEY, kind text, added_at timestamptz`), so importers
    /// can skip them. Empty: none.
    public var suppressionTable: String
    /// Labels for the store's own purpose, recipient and source codes: code -> locale -> text.
    public var labels: [String: [String: String]] = [:]
    /// HTTP stores: where erasures and changes go, how requests are signed, how long an
    /// asynchronous deletion may take.
    public var http = HTTPSettings()
    /// Manual stores: who does the work and how they are chased.
    public var manual: ManualSettings?
    /// Processors told of erasures, rectifications, objections and withdrawals by webhook.
    public var processors: [Processor] = []

    public struct HTTPSettings: Sendable, Equatable {
        public var erasePath = "/dsr/erase"
        public var updatePath = "/dsr/update"
        /// File holding the HMAC-SHA256 key requests are signed with (`DSR-Signature`). Empty: unsigned.
        public var signingSecretFile = ""
        /// How long an asynchronous deletion or change (202 and a status URL) is polled before the task fails.
        public var asyncWaitDays = 14
    }

    public struct ManualSettings: Sendable, Equatable {
        /// Email of the person responsible: tasks, reminders and the confirmation call go there.
        public var owner: String
        /// The owner's language (`th` or `en`).
        public var ownerLanguage: Language
        /// What to do, in the owner's words (per locale): where the records are, how to remove them.
        public var instructions: [String: String]
        public var remindEveryDays: Int
        public var escalateAfterDays: Int
    }

    /// A processor (payment gateway, delivery company, email provider) that holds the store's
    /// data on the company's behalf and must be told of changes to it (PDPA s.37(1)).
    public struct Processor: Sendable, Equatable {
        public var name: String
        public var url: String
        /// Request kinds it is told of.
        public var events: [RequestKind]
        /// File holding the HMAC-SHA256 key events are signed with.
        public var secretFile: String

        /// Its task in `dsr.request_tasks.store`.
        public var taskName: String { Self.taskPrefix + name }
        public static let taskPrefix = "processor:"
        public static let defaultEvents: [RequestKind] = [.erasure, .rectification, .objection, .consentWithdrawal]
    }

    /// Whether the mapping lists a table of this name.
    public func lists(_ table: String) -> Bool { tables.contains { $0.name == table } }

    /// The fields a rectification can name in this store (``TableMapping/rectifyFields``).
    public var rectifyFields: Set<String> { Set(tables.flatMap(\.rectifyFields)) }

    /// A code's label in `locale`: the mapping's own, else dsr's vocabulary.
    func label(_ code: String, locale: String) -> String {
        labels[code]?[locale] ?? labels[code]?["en"] ?? PrivacyVocabulary.label(code, locale: locale)
    }
}

public struct TableMapping: Sendable, Equatable {
    public struct Relation: Sendable, Equatable {
        /// The parent table (declared earlier in the same store).
        public var table: String
        /// Column of this table that points at the parent.
        public var column: String
        /// Column of the parent it points at.
        public var references: String
    }

    public var name: String
    /// Columns exports are ordered by (composite keys allowed); empty: the primary key.
    public var key: [String]
    /// Which identifier each column holds.
    public var identity: [IdentityKind: String]
    /// Rows matched here tell who the person is (emails, phones, ids feed the other stores).
    public var authoritative: Bool
    public var parent: Relation?
    /// Column -> data category (personal, contact, account, identity_proof, transaction_financial, technical, other).
    public var categories: [String: String]
    /// Column -> erasure strategy (delete, null, hash, mask, keep); used by erasure.
    public var erasure: [String: String]
    public var purposes: [String]
    public var recipients: [String]
    /// Retention period in words, per locale (`th`, `en`).
    public var retention: [String: String]
    /// A legal duty to keep rows for a while after an erasure request.
    public var hold: Hold?
    /// Columns a rectification request may correct.
    public var rectify: [String] = []

    /// The name a person corrects `column` by: the identifier kind when the column holds one
    /// (`email`, `phone`), whatever the store calls it, so the corrected value is checked as
    /// such and every store's column of that kind gets it; else the column's own name.
    public func rectifyField(_ column: String) -> String {
        identity.filter { $0.value == column }.map(\.key.rawValue).min() ?? column
    }

    /// The fields a rectification can name here (``rectifyField(_:)`` of each `rectify` column).
    public var rectifyFields: [String] { rectify.map(rectifyField) }

    /// The columns a rectification of `field` corrects in this table.
    public func rectifyColumns(for field: String) -> [String] { rectify.filter { rectifyField($0) == field } }
    /// Boolean column set while processing is restricted.
    public var restrictFlag: String?
    /// On objection or consent withdrawal: `delete` the rows, or set this timestamp column
    /// (where it is still NULL) to now.
    public var onObjection: String?
    /// Column naming the purpose of a row (consents), to withdraw only the purposes named.
    public var purposeColumn: String?
    /// Finds minors without a guardian's consent, whose data the policy says is erased.
    public var minorCheck: MinorCheck?
    /// The retention the sweeper enforces: rows older than this are deleted (or anonymised,
    /// per `_row`). Nil: only what erasures leave behind is swept.
    public var expire: Expire?

    public struct Expire: Sendable, Equatable {
        /// A PostgreSQL interval: `13 months`, `2 years`, `90 days`.
        public var after: String
        /// Date or timestamp column the period counts from.
        public var from: String
    }

    /// Why the processing is lawful: codes of PDPA s.24 and s.26 (consent, contract,
    /// legal_obligation, ...; ``PrivacyVocabulary/lawfulBases``) or labelled ones. For the
    /// register of processing activities (s.39).
    public var lawfulBasis: [String] = []
    /// Where the table's data goes outside Thailand (PDPA s.28, s.29).
    public var transfers: [Transfer] = []

    /// A cross-border transfer: to whom in which country, and what makes it lawful.
    public struct Transfer: Sendable, Equatable, Codable {
        /// ISO 3166-1 alpha-2 code of the destination, e.g. `US`.
        public var country: String
        /// One of the table's recipients.
        public var recipient: String
        /// A code of ``PrivacyVocabulary/safeguards`` (s.28 exceptions, s.29 rules) or a labelled one.
        public var safeguard: String
    }

    public struct MinorCheck: Sendable, Equatable {
        /// Date-of-birth column.
        public var birthDate: String
        /// Boolean column: a parent's or guardian's consent is on record.
        public var guardianConsent: String
        /// Age of majority (PDPA s.20 and the Civil and Commercial Code: 20).
        public var age: Int
        /// Below this age only a parent or guardian may act for the person, for any request
        /// (PDPA s.20: 10).
        public var guardianOnlyUnder: Int
    }

    public struct Hold: Sendable, Equatable {
        /// The law or reason, stated in the deletion proof.
        public var rule: String
        /// Rows are kept this many years after `from`...
        public var years: Int
        /// ...a date or timestamp column.
        public var from: String
        /// A boolean column: rows where it is true are kept untouched (e.g. an open dispute).
        public var keepIf: String?
        public var keepRule: String
    }

    /// Whether an objection or consent withdrawal naming `purposes` (all purposes when empty)
    /// stops this table's processing. With a `purpose_column` the rows of the named purposes
    /// are stopped; without one the whole table is, when it serves any named purpose: a table
    /// that exists for marketing is covered by every objection to marketing (PDPA s.32: an
    /// objection to direct marketing cannot be refused), whatever else the request names.
    public func coversObjection(to purposes: [String]) -> Bool {
        guard onObjection != nil else { return false }
        if purposes.isEmpty || purposeColumn != nil { return true }
        return !Set(self.purposes).isDisjoint(with: purposes)
    }

    /// What happens to this table's rows that are not on hold: delete, anonymise or keep.
    /// (The mapping's words were checked when it was loaded.)
    public var rowStrategy: ErasureStrategy.Row {
        erasure["_row"].flatMap(ErasureStrategy.Row.init(rawValue:)) ?? (erasure.isEmpty ? .delete : .anonymise)
    }
    /// Column strategies applied to rows that are anonymised (held, or `_row = "anonymise"`).
    public var columnStrategies: [String: ErasureStrategy.Column] {
        erasure.compactMapValues(ErasureStrategy.Column.init(rawValue:)).filter { $0.value != .keep }
    }
}
