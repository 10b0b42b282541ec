import Foundation

/// A kind of identifier: the four every store knows (email, phone, customer id, national id)
/// and the document kinds a company adds in `identifiers.extra_kinds` (passport, tax id...).
public struct IdentityKind: RawRepresentable, Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }

    public static let email = IdentityKind(rawValue: "email")
    public static let phone = IdentityKind(rawValue: "phone")
    public static let customerID = IdentityKind(rawValue: "customer_id")
    public static let nationalID = IdentityKind(rawValue: "national_id")
    public static let builtIn: [IdentityKind] = [.email, .phone, .customerID, .nationalID]

    /// How values of this kind are written and compared.
    public enum Format: String, Sendable {
        /// Trimmed, lower-cased, NFC, ASCII domain (`dsr.normalize_email`).
        case email
        /// E.164 (`dsr.normalize_phone`).
        case phone
        /// As given, trimmed; compared by the column's own type (an integer key as an integer).
        case exact
        /// An identity document's number: digits normalised, spaces, dots, slashes and dashes
        /// removed, upper-cased (`dsr.normalize_document`). National ids are documents.
        case document
    }

    public var format: Format {
        switch self {
        case .email: .email
        case .phone: .phone
        case .customerID: .exact
        default: .document
        }
    }

    /// Email, ids and documents are strong (one value, one person); a phone is weak: families share lines.
    public var isStrong: Bool { self != .phone }

    public var description: String { rawValue }

    public static func < (lhs: IdentityKind, rhs: IdentityKind) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Everything known to identify one person: what they gave, plus what the authoritative
/// store returned for them, in canonical form (``IdentifierNormalizer``, the same rules as
/// `dsr.normalize_email` / `dsr.normalize_phone` / `dsr.normalize_document`): emails
/// trimmed, lower-cased, NFC, with an ASCII (`xn--`) domain; phones E.164; national ids and
/// other documents as upper-case letters and ASCII digits.
///
/// A row is matched by phone only when it carries no strong identifier at all, or when the
/// person gave nothing stronger.
public struct IdentitySet: Codable, Sendable, Equatable {
    public private(set) var values: [IdentityKind: Set<String>] = [:]

    public init() {}

    public subscript(kind: IdentityKind) -> Set<String> {
        get { values[kind] ?? [] }
        set { values[kind] = newValue.isEmpty ? nil : newValue }
    }

    public var emails: Set<String> {
        get { self[.email] }
        set { self[.email] = newValue }
    }

    public var phones: Set<String> {
        get { self[.phone] }
        set { self[.phone] = newValue }
    }

    public var customerIDs: Set<String> {
        get { self[.customerID] }
        set { self[.customerID] = newValue }
    }

    public var nationalIDs: Set<String> {
        get { self[.nationalID] }
        set { self[.nationalID] = newValue }
    }

    /// The kinds present, in a stable order.
    public var kinds: [IdentityKind] { values.keys.sorted() }

    public var hasStrongIdentifier: Bool { values.keys.contains { $0.isStrong } }
    public var isEmpty: Bool { values.isEmpty }

    public mutating func formUnion(_ other: IdentitySet) {
        for (kind, set) in other.values { values[kind, default: []].formUnion(set) }
    }

    /// Adds a raw value of the given kind, normalised; invalid values are ignored.
    public mutating func add(_ raw: String, as kind: IdentityKind) {
        let value: String?
        switch kind.format {
        case .email: value = IdentifierNormalizer.email(raw)
        case .phone: value = IdentifierNormalizer.phone(raw)
        case .exact:
            let trimmed = raw.trimmingCharacters(in: .whitespaces)
            value = trimmed.isEmpty ? nil : trimmed
        case .document:
            // A store may hold foreign ids: one that fails the Thai check is still kept, in
            // the document form the store lookup compares.
            value = IdentifierNormalizer.document(raw)
        }
        if let value { values[kind, default: []].insert(value) }
    }

    // The four built-in kinds keep the names identities were always stored under.
    private static let storedNames: [IdentityKind: String] = [
        .email: "emails", .phone: "phones", .customerID: "customer_ids", .nationalID: "national_ids",
    ]

    private struct Name: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Name.self)
        for name in container.allKeys {
            let kind = Self.storedNames.first { $0.value == name.stringValue }?.key ?? IdentityKind(rawValue: name.stringValue)
            self[kind] = try container.decode(Set<String>.self, forKey: name)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Name.self)
        for kind in kinds {
            try container.encode(self[kind].sorted(), forKey: Name(stringValue: Self.storedNames[kind] ?? kind.rawValue))
        }
    }
}
