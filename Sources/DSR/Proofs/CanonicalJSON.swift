import Foundation

/// JSON with sorted keys and unescaped slashes: the same value always encodes to the same
/// bytes, which signed proofs, signed webhook bodies and idempotent payloads rely on.
public enum CanonicalJSON {
    public static func data(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    public static func string(_ value: some Encodable) throws -> String {
        String(decoding: try data(value), as: UTF8.self)
    }
}
