import Foundation

/// A Swift type that can be read from a column's text form.
public protocol PostgresDecodable {
    /// Returns `nil` when `text` is not a valid value of this type.
    init?(postgresText text: Substring)
}

extension String: PostgresDecodable {
    public init?(postgresText text: Substring) { self = String(text) }
}

extension Int: PostgresDecodable {
    public init?(postgresText text: Substring) { self.init(text) }
}

extension Int64: PostgresDecodable {
    public init?(postgresText text: Substring) { self.init(text) }
}

extension Int32: PostgresDecodable {
    public init?(postgresText text: Substring) { self.init(text) }
}

extension Double: PostgresDecodable {
    public init?(postgresText text: Substring) {
        switch text {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default: self.init(text)
        }
    }
}

extension Bool: PostgresDecodable {
    public init?(postgresText text: Substring) {
        switch text {
        case "t": self = true
        case "f": self = false
        default: return nil
        }
    }
}

extension UUID: PostgresDecodable {
    public init?(postgresText text: Substring) { self.init(uuidString: String(text)) }
}

extension Date: PostgresDecodable {
    public init?(postgresText text: Substring) {
        guard let date = PostgresTimestamp.parse(String(text)) else { return nil }
        self = date
    }
}

extension Data: PostgresDecodable {
    /// bytea in hex output form (`bytea_output = hex`, the default).
    public init?(postgresText text: Substring) {
        let bytes = text.utf8
        guard bytes.count >= 2, bytes.count % 2 == 0, text.hasPrefix("\\x") else { return nil }
        func nibble(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 48...57: byte - 48
            case 97...102: byte - 87
            case 65...70: byte - 55
            default: nil
            }
        }
        var data = Data(capacity: bytes.count / 2 - 1)
        var iterator = bytes.dropFirst(2).makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            guard let h = nibble(high), let l = nibble(low) else { return nil }
            data.append(h << 4 | l)
        }
        self = data
    }
}

extension Array: PostgresDecodable where Element: PostgresDecodable {
    /// One-dimensional arrays without NULL elements (decode `[T?]` for those).
    public init?(postgresText text: Substring) {
        guard let elements = PostgresArrayLiteral.parse(String(text)) else { return nil }
        var values: [Element] = []
        values.reserveCapacity(elements.count)
        for element in elements {
            guard let element, let value = Element(postgresText: Substring(element)) else { return nil }
            values.append(value)
        }
        self = values
    }
}
