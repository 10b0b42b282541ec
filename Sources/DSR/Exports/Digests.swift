import Crypto
import Foundation

/// SHA-256 digests as lower-case hex, the form used in manifests, proofs and the audit log.
public enum Digests {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Whether `text` is exactly `length` lower-case hex digits, the form of dsrd's tokens.
    public static func isHex(_ text: String, length: Int) -> Bool {
        text.utf8.count == length && text.utf8.allSatisfy { digits.contains($0) }
    }

    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    public static func sha256Hex(_ data: some DataProtocol) -> String {
        hex(SHA256.hash(data: data))
    }

    /// Hashes a file in pieces, so memory does not depend on its size.
    static func sha256Hex(file: URL) throws -> String {
        var hasher = SHA256()
        try FileSystem.readChunks(of: file.path) { hasher.update(bufferPointer: $0) }
        return hex(hasher.finalize())
    }
}
