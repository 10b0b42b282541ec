import Foundation

/// A submitted `application/x-www-form-urlencoded` body, strictly decoded: every field must be
/// valid UTF-8 after percent-decoding, and may not hold control characters or the invisible
/// direction marks (bidi overrides, isolates) that make text read differently from what it
/// is. Anything else is refused as a whole, before a byte reaches the database.
struct PortalForm {
    private(set) var fields: [String: [String]] = [:]

    struct Invalid: Error, Equatable {
        /// Which field was refused (the form's own name, never the value).
        let field: String
    }

    /// Longest value accepted in any field.
    static let maximumFieldLength = 500

    init(body: [UInt8]) throws {
        guard !body.isEmpty else { return }
        for pair in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let name = try Self.decode(Array(parts[0]), field: "form")
            let value = try Self.decode(parts.count > 1 ? Array(parts[1]) : [], field: name)
            guard name.count <= 40, value.count <= Self.maximumFieldLength else { throw Invalid(field: name) }
            fields[name, default: []].append(value)
        }
    }

    /// The field's value, trimmed; nil when absent or empty.
    subscript(name: String) -> String? {
        guard let value = fields[name]?.first?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    /// Every value of a repeated field (check boxes).
    func all(_ name: String) -> [String] { fields[name] ?? [] }

    /// Percent-decoding with `+` as space, then a strict UTF-8 check and the character rules.
    static func decode(_ raw: [UInt8], field: String) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            let byte = raw[index]
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%") {
                guard index + 2 < raw.count, let high = hexValue(raw[index + 1]), let low = hexValue(raw[index + 2]) else {
                    throw Invalid(field: field)
                }
                bytes.append(high << 4 | low)
                index += 2
            } else {
                bytes.append(byte)
            }
            index += 1
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw Invalid(field: field) }
        for scalar in text.unicodeScalars where isForbidden(scalar) { throw Invalid(field: field) }
        return text
    }

    /// Control characters (tabs and newlines included: no field is multi-line) and the
    /// invisible formatting that changes how text reads: bidi embeddings, overrides, isolates
    /// and marks, zero-width joiners and the byte-order mark.
    static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: true
        case 0x200B...0x200F, 0x202A...0x202E, 0x2060...0x2069, 0xFEFF: true
        default: false
        }
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
