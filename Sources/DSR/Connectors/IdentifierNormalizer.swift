import Foundation

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
