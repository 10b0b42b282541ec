import Foundation

/// Swift twin of the SQL normalisation functions (`dsr.normalize_email`,
/// `dsr.normalize_phone`, `dsr.normalize_national_id`, `dsr.normalize_digits`,
/// `dsr.is_mobile_phone`, `dsr.email_domain_unicode`); `IdentifierTests` checks that both
/// agree on the same inputs.
///
/// Text is handled as Unicode code points, as PostgreSQL does (lengths count code points,
/// not user-perceived characters).
public enum IdentifierNormalizer {
    /// Characters refused in emails besides spaces and controls: invisible and
    /// direction-changing ones could disguise an address in a notice; no-break spaces are
    /// spaces (as in SQL, where they are listed because `[:space:]` leaves them out).
    static let invisible: Set<UInt32> = Set(
        [0xA0, 0xAD, 0x61C, 0x2007, 0x202F, 0xFEFF] + Array(0x200B...0x200F) + Array(0x202A...0x202E)
            + Array(0x2060...0x2064) + Array(0x2066...0x2069))

    /// Thai digits (๐-๙) and fullwidth digits (０-９) as ASCII 0-9; everything else unchanged.
    public static func digits(_ raw: String) -> String {
        var output = String.UnicodeScalarView()
        for scalar in raw.unicodeScalars {
            switch scalar.value {
            case 0x0E50...0x0E59: output.append(Unicode.Scalar(UInt8(0x30 + scalar.value - 0x0E50)))
            case 0xFF10...0xFF19: output.append(Unicode.Scalar(UInt8(0x30 + scalar.value - 0xFF10)))
            default: output.append(scalar)
            }
        }
        return String(output)
    }

    /// The canonical address: trimmed, lower-cased, NFC, and the domain in its ASCII
    /// (IDNA `xn--`) form, label by label; nil when it is not a plausible address.
    /// `somchai@ตัวอย่าง.ไทย` and `somchai@xn--72c1a1bt4awk9o.xn--o3cw4h` give the latter.
    public static func email(_ raw: String) -> String? {
        let lowered = lowercase(trim(Array(raw.unicodeScalars)))
        // NFC shrinks text at most fourfold and the ASCII form is never shorter.
        guard lowered.count <= 4096 else { return nil }
        let email = Array(string(lowered).precomposedStringWithCanonicalMapping.unicodeScalars)
        guard (3...254).contains(email.count), email.allSatisfy({ !refused($0) }) else { return nil }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else { return nil }
        var labels = parts[1].split(separator: ".", omittingEmptySubsequences: false).map(Array.init)
        guard labels.count >= 2, !labels.first!.isEmpty, !labels.last!.isEmpty else { return nil }
        for (index, label) in labels.enumerated() {
            if label.starts(with: "xn--".unicodeScalars) {
                guard unicodeLabel(label) != nil else { return nil }
            } else if !label.allSatisfy(\.isASCII) {
                guard let encoded = Punycode.encode(string(label)) else { return nil }
                let ascii = Array(("xn--" + encoded).unicodeScalars)
                // It must read back, so that the canonical form is its own canonical form.
                guard unicodeLabel(ascii) != nil else { return nil }
                labels[index] = ascii
            }
        }
        let result = Array(parts[0]) + ["@"] + Array(labels.joined(separator: ["."]))
        guard (3...254).contains(result.count) else { return nil }
        return string(result)
    }

    /// The address with each valid `xn--` domain label decoded to Unicode
    /// (`dsr.email_domain_unicode`); unchanged when there is nothing to decode.
    public static func emailDomainUnicode(_ email: String) -> String {
        let scalars = Array(email.unicodeScalars)
        guard let at = scalars.lastIndex(of: "@") else { return email }
        let labels = scalars[(at + 1)...].split(separator: ".", omittingEmptySubsequences: false)
            .map { unicodeLabel(Array($0)) ?? Array($0) }
        return string(Array(scalars[...at]) + Array(labels.joined(separator: ["."])))
    }

    /// The forms a store may hold a canonical address in: the canonical (ASCII-domain) form
    /// first, then the Unicode-domain form when it differs. Stores compare
    /// `lower(btrim(column))` with either.
    public static func emailVariants(_ canonical: String) -> [String] {
        let unicode = emailDomainUnicode(canonical)
        return Array(unicode.unicodeScalars) == Array(canonical.unicodeScalars) ? [canonical] : [canonical, unicode]
    }

    /// E.164, or nil: Thai numbers in any common form (`081-234-5678`, `๐๘๑-๒๓๔-๕๖๗๘`,
    /// `66812345678`, `+66 (0)81 234 5678`, `0066 81 234 5678`) give `+66812345678`; other
    /// countries must start with `+` or the international prefix `00`.
    public static func phone(_ raw: String) -> String? {
        guard raw.unicodeScalars.count <= 40 else { return nil }
        let separated = Substring(
            String(String.UnicodeScalarView(Self.digits(raw).unicodeScalars.filter { !" \t().-".unicodeScalars.contains($0) })))
        // The international call prefix 00 is +.
        let p = separated.hasPrefix("00") ? Substring("+" + separated.dropFirst(2)) : separated
        func allDigits(_ text: Substring) -> Bool { text.unicodeScalars.allSatisfy { ("0"..."9").contains($0) } }
        func thai(_ rest: Substring) -> String? {
            // rest: national number, optionally with the trunk 0.
            let national = rest.hasPrefix("0") ? rest.dropFirst() : rest
            guard (8...9).contains(national.unicodeScalars.count), allDigits(national), national.first != "0" else { return nil }
            return "+66" + national
        }
        if p.hasPrefix("+66") { return thai(p.dropFirst(3)) }
        if p.hasPrefix("66"), let value = thai(p.dropFirst(2)) { return value }
        if p.hasPrefix("0") {
            let national = p.dropFirst()
            guard (8...9).contains(national.unicodeScalars.count), allDigits(national), national.first != "0" else { return nil }
            return "+66" + national
        }
        if p.hasPrefix("+"), (7...15).contains(p.unicodeScalars.count - 1), allDigits(p.dropFirst()), !p.hasPrefix("+0") {
            return String(p)
        }
        return nil
    }

    /// Whether an E.164 number can receive SMS (`dsr.is_mobile_phone`): a Thai number only
    /// when it is a mobile number (9 digits after +66 beginning 6, 8 or 9; `02-…` landlines
    /// are not); other countries' numbers are assumed to. False for text that is not E.164.
    public static func isMobile(_ e164: String) -> Bool {
        let scalars = Array(e164.unicodeScalars)
        func allDigits(_ part: ArraySlice<Unicode.Scalar>) -> Bool { part.allSatisfy { ("0"..."9").contains($0) } }
        if e164.unicodeScalars.starts(with: "+66".unicodeScalars) {
            return scalars.count == 12 && "689".unicodeScalars.contains(scalars[3]) && allDigits(scalars[4...])
        }
        return scalars.first == "+" && (8...16).contains(scalars.count) && scalars.count > 1 && scalars[1] != "0"
            && allDigits(scalars[1...])
    }

    /// A Thai national ID as its 13 ASCII digits (Thai and fullwidth digits converted,
    /// spaces and dashes removed), or nil when it is not 13 digits with a valid check digit
    /// (`dsr.normalize_national_id`).
    public static func nationalID(_ raw: String) -> String? {
        let id = nationalIDDigits(raw)
        let values = id.unicodeScalars.compactMap { ("0"..."9").contains($0) ? Int($0.value) - 48 : nil }
        guard id.unicodeScalars.count == 13, values.count == 13 else { return nil }
        let sum = (0..<12).reduce(0) { $0 + values[$1] * (13 - $1) }
        return (11 - sum % 11) % 10 == values[12] ? id : nil
    }

    /// An identity document's number as stores are matched on (`dsr.normalize_document`,
    /// and the store-side expression in `SQLConnector.lookupExpression`): digits normalised,
    /// ASCII white space, dots, slashes and dashes removed, ASCII letters upper-cased; nil unless what is
    /// left is 1 to 64 ASCII letters and digits. A Thai national id stays its 13 digits.
    public static func document(_ raw: String) -> String? {
        let separators: Set<Unicode.Scalar> = [" ", "\t", "\n", "\r", "\u{0B}", "\u{0C}", ".", "/", "-"]
        var scalars = String.UnicodeScalarView()
        for scalar in digits(raw).unicodeScalars where !separators.contains(scalar) {
            scalars.append(("a"..."z").contains(scalar) ? Unicode.Scalar(scalar.value - 32)! : scalar)
        }
        guard (1...64).contains(scalars.count), scalars.allSatisfy({ ("A"..."Z").contains($0) || ("0"..."9").contains($0) }) else {
            return nil
        }
        return String(scalars)
    }

    /// `raw` with digits normalised and spaces and dashes removed, valid or not.
    static func nationalIDDigits(_ raw: String) -> String {
        String(String.UnicodeScalarView(digits(raw).unicodeScalars.filter { $0 != " " && $0 != "-" }))
    }

    // MARK: - Helpers, on code points as in SQL

    /// Refused anywhere in an email: spaces, controls, invisible and bidi characters.
    static func refused(_ scalar: Unicode.Scalar) -> Bool {
        CharacterSet.whitespacesAndNewlines.contains(scalar) || scalar.properties.generalCategory == .control
            || invisible.contains(scalar.value)
    }

    /// The Unicode form of an `xn--` label (any case), or nil when it is not one
    /// (`dsr.idna_label_to_unicode`): not decodable, nothing non-ASCII in it, a character
    /// refused in emails, not lower-case NFC, or not the canonical encoding of its decoding.
    static func unicodeLabel(_ label: [Unicode.Scalar]) -> [Unicode.Scalar]? {
        guard label.count >= 4, string(Array(label[..<4])).lowercased() == "xn--",
            let decoded = Punycode.decode(string(Array(label[4...])))
        else { return nil }
        let u = Array(decoded.unicodeScalars)
        guard !u.allSatisfy(\.isASCII), !u.contains(where: { $0 == "." || $0 == "@" || refused($0) }),
            Array(string(lowercase(u)).precomposedStringWithCanonicalMapping.unicodeScalars) == u,
            let encoded = Punycode.encode(decoded), encoded == string(Array(label[4...])).lowercased()
        else { return nil }
        return u
    }

    /// `btrim(raw, E' \t')`.
    static func trim(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let blank: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = scalars.firstIndex(where: { !blank($0) }), let last = scalars.lastIndex(where: { !blank($0) }) else { return [] }
        return Array(scalars[first...last])
    }

    /// PostgreSQL's `lower()`: one code point to one (simple case mapping), so `İ` becomes
    /// `i` where `String.lowercased()` gives `i̇`.
    static func lowercase(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        scalars.map { scalar in
            let mapped = scalar.properties.lowercaseMapping.unicodeScalars
            if mapped.count == 1 { return mapped.first! }
            return scalar.value == 0x130 ? "i" : scalar
        }
    }

    static func string(_ scalars: [Unicode.Scalar]) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}
