import Foundation

/// Everything known to identify one person: what they gave, plus what the authoritative
/// store returned for them, in canonical form (``IdentifierNormalizer``, the same rules as
/// `dsr.normalize_email` / `dsr.normalize_phone` / `dsr.normalize_national_id`): emails
/// trimmed, lower-cased, NFC, with an ASCII (`xn--`) domain; phones E.164; national ids as
/// ASCII digits.
///
/// Email, customer id and national id are strong: one value, one person. A phone is weak:
/// families share lines, so a row is matched by phone only when it carries no strong
/// identifier at all, or when the person gave nothing stronger.
public struct IdentitySet: Codable, Sendable, Equatable {
    public var emails: Set<String> = []
    public var phones: Set<String> = []
    public var customerIDs: Set<String> = []
    public var nationalIDs: Set<String> = []

    enum CodingKeys: String, CodingKey {
        case emails, phones
        case customerIDs = "customer_ids"
        case nationalIDs = "national_ids"
    }

    public init() {}

    public var hasStrongIdentifier: Bool { !(emails.isEmpty && customerIDs.isEmpty && nationalIDs.isEmpty) }
    public var isEmpty: Bool { !hasStrongIdentifier && phones.isEmpty }

    public mutating func formUnion(_ other: IdentitySet) {
        emails.formUnion(other.emails)
        phones.formUnion(other.phones)
        customerIDs.formUnion(other.customerIDs)
        nationalIDs.formUnion(other.nationalIDs)
    }

    /// Adds a raw value of the given kind, normalised; invalid values are ignored.
    public mutating func add(_ raw: String, as kind: IdentityKind) {
        switch kind {
        case .email: if let email = IdentifierNormalizer.email(raw) { emails.insert(email) }
        case .phone: if let phone = IdentifierNormalizer.phone(raw) { phones.insert(phone) }
        case .customerID:
            let trimmed = raw.trimmingCharacters(in: .whitespaces)
            if !trimmed.isEmpty { customerIDs.insert(trimmed) }
        case .nationalID:
            // A store may hold foreign ids: one that fails the Thai check is still kept, with
            // its digits normalised and spaces and dashes removed, as the store lookup does.
            let id = IdentifierNormalizer.nationalID(raw) ?? IdentifierNormalizer.nationalIDDigits(raw)
            if !id.isEmpty { nationalIDs.insert(id) }
        }
    }
}

public enum IdentityKind: String, Codable, Sendable, CaseIterable {
    case email, phone
    case customerID = "customer_id"
    case nationalID = "national_id"

    var isStrong: Bool { self != .phone }
}
