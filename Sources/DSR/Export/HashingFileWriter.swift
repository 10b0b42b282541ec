import Crypto
import Foundation

/// Writes one file through a 64 KiB buffer, hashing as it goes, with 0600 permissions.
/// Memory stays flat however large the file grows. Callers append to `buffer` directly and
/// call `flushIfFull()` after each record.
final class HashingFileWriter {
    private let handle: FileHandle
    var buffer = [UInt8]()
    private var hasher = SHA256()
    private(set) var size = 0
    private static let capacity = 1 << 16

    init(url: URL) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: url.path])
        }
        handle = try FileHandle(forWritingTo: url)
        buffer.reserveCapacity(Self.capacity + Self.capacity / 4)
    }

    /// Moves the buffer out (no copy) so a caller can append to a local; hand it back with
    /// `putBuffer`.
    func takeBuffer() -> [UInt8] {
        let taken = buffer
        buffer = []
        return taken
    }

    func putBuffer(_ bytes: [UInt8]) { buffer = bytes }

    func flushIfFull() throws {
        if buffer.count >= Self.capacity { try flush() }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        hasher.update(data: buffer)
        try handle.write(contentsOf: buffer)
        size += buffer.count
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, closes, and returns the SHA-256 (hex) and size.
    func finish() throws -> (sha256: String, size: Int) {
        try flush()
        try handle.close()
        return (Digests.hex(hasher.finalize()), size)
    }
}
