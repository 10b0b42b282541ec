import Crypto
import Foundation

/// Writes one file through a 64 KiB buffer, hashing as it goes, with 0600 permissions.
/// Memory stays flat however large the file grows. Callers append to `buffer` directly and
/// call `flushIfFull()` after each record. Plain POSIX calls: an export writes many small
/// files, and Foundation's file APIs cost several system calls each.
final class HashingFileWriter {
    private var descriptor: Int32
    var buffer = [UInt8]()
    private var hasher = SHA256()
    private(set) var size = 0
    private static let capacity = 1 << 16

    init(path: String) throws {
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw FileSystemError.failed("create", path: path, errno: errno) }
        buffer.reserveCapacity(Self.capacity + Self.capacity / 4)
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
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
        try FileSystem.write(descriptor, buffer)
        size += buffer.count
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, closes, and returns the SHA-256 (hex) and size.
    func finish() throws -> (sha256: String, size: Int) {
        try flush()
        let closed = close(descriptor)
        descriptor = -1
        guard closed == 0 else { throw FileSystemError.failed("close", path: "", errno: errno) }
        return (Digests.hex(hasher.finalize()), size)
    }
}
