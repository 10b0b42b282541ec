import Foundation

/// Everything known to identify one person: what they gave, plus what the authoritative
/// store returned for them. Emails are trimmed and lower-cased, phones E.164 (the same rules
/// as `dsr.normalize_email` / `dsr.normalize_phone`).
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
            let digits = raw.filter { $0 != " " && $0 != "-" }
            if !digits.isEmpty { nationalIDs.insert(digits) }
        }
    }
}

public enum IdentityKind: String, Codable, Sendable, CaseIterable {
    case email, phone
    case customerID = "customer_id"
    case nationalID = "national_id"

    var isStrong: Bool { self != .phone }
}

/// Swift twin of the SQL normalisation functions; `IdentityTests` checks that both agree.
public enum IdentifierNormalizer {
    /// Invisible and direction-changing characters, refused in emails (as in SQL).
    static let invisible: Set<UInt32> = Set([0xAD, 0xFEFF] + Array(0x200B...0x200F) + Array(0x202A...0x202E)
        + Array(0x2060...0x2064) + Array(0x2066...0x2069))

    public static func email(_ raw: String) -> String? {
        let email = raw.trimmingCharacters(in: CharacterSet(charactersIn: " \t")).lowercased()
        guard (3...254).contains(email.count) else { return nil }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty,
            email.unicodeScalars.allSatisfy({ !CharacterSet.whitespacesAndNewlines.contains($0) && $0.properties.generalCategory != .control && !invisible.contains($0.value) })
        else { return nil }
        let domain = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        guard domain.count >= 2, !domain.first!.isEmpty, !domain.last!.isEmpty else { return nil }
        return email
    }

    public static func phone(_ raw: String) -> String? {
        guard raw.count <= 40 else { return nil }
        let p = raw.filter { !" \t().-".contains($0) }
        func digits(_ text: Substring) -> Bool { text.allSatisfy { $0.isASCII && $0.isNumber } }
        func thai(_ rest: Substring) -> String? {
            // rest: national number, optionally with the trunk 0.
            let national = rest.hasPrefix("0") ? rest.dropFirst() : rest
            guard (8...9).contains(national.count), digits(national), national.first != "0" else { return nil }
            return "+66" + national
        }
        if p.hasPrefix("+66") { return thai(p.dropFirst(3)) }
        if p.hasPrefix("66"), let value = thai(p.dropFirst(2)) { return value }
        if p.hasPrefix("0") {
            let national = p.dropFirst()
            guard (8...9).contains(national.count), digits(national), national.first != "0" else { return nil }
            return "+66" + national
        }
        if p.hasPrefix("+"), (7...15).contains(p.count - 1), digits(p.dropFirst()), !p.hasPrefix("+0") { return p }
        return nil
    }
}
