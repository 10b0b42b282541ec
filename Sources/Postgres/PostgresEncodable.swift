import Foundation

/// A Swift value that can be bound to a statement parameter.
///
/// Values travel in PostgreSQL's text format with an unspecified type, so the server
/// infers each parameter's type from the statement (write `$1::jsonb` where it cannot).
/// `nil` means SQL NULL.
public protocol PostgresEncodable: Sendable {
    var postgresText: String? { get }
}

extension String: PostgresEncodable {
    public var postgresText: String? { self }
}

extension Substring: PostgresEncodable {
    public var postgresText: String? { String(self) }
}

extension Int: PostgresEncodable {
    public var postgresText: String? { String(self) }
}

extension Int64: PostgresEncodable {
    public var postgresText: String? { String(self) }
}

extension Int32: PostgresEncodable {
    public var postgresText: String? { String(self) }
}

extension Int16: PostgresEncodable {
    public var postgresText: String? { String(self) }
}

extension Double: PostgresEncodable {
    public var postgresText: String? {
        if isNaN { return "NaN" }
        if isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        return String(self)
    }
}

extension Bool: PostgresEncodable {
    public var postgresText: String? { self ? "t" : "f" }
}

extension UUID: PostgresEncodable {
    public var postgresText: String? { uuidString.lowercased() }
}

extension Date: PostgresEncodable {
    public var postgresText: String? { PostgresTimestamp.format(self) }
}

extension Data: PostgresEncodable {
    /// bytea in hex form: `\x0a1b...`.
    public var postgresText: String? {
        let digits = Array("0123456789abcdef".utf8)
        var bytes = [UInt8](repeating: 0, count: 2 + count * 2)
        bytes[0] = UInt8(ascii: "\\")
        bytes[1] = UInt8(ascii: "x")
        var index = 2
        for byte in self {
            bytes[index] = digits[Int(byte >> 4)]
            bytes[index + 1] = digits[Int(byte & 0x0f)]
            index += 2
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresText: String? {
        switch self {
        case .none: nil
        case .some(let value): value.postgresText
        }
    }
}

extension Array: PostgresEncodable where Element: PostgresEncodable {
    /// A one-dimensional array literal, e.g. `{"a","b c",NULL}`; cast it in SQL (`$1::text[]`).
    /// A closure, not `\.postgresText`: in this generic extension a key path is built anew on
    /// every call, with a runtime type lookup (about 1% of the daemon's CPU on erasures).
    public var postgresText: String? { PostgresArrayLiteral.format(map { $0.postgresText }) }
}

/// A JSON document bound as text; write `$1::jsonb` in the statement.
public struct PostgresJSON: PostgresEncodable {
    public let postgresText: String?

    /// Already-serialized JSON text.
    public init(text: String) { postgresText = text }

    /// Serializes an `Encodable` value with sorted keys (stable output).
    public init<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        postgresText = String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
