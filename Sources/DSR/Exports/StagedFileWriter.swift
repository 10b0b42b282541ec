import Crypto
import Foundation

/// Writes one export file to the staging folder already deflated, as its ZIP entry will hold
/// it, through a 64 KiB buffer, with 0600 permissions. It keeps what the manifest and the ZIP
/// need of the file as it was before compression: SHA-256, CRC-32 and size. Compressing here,
/// while the store is still sending rows, leaves the ZIP assembly only copying; memory stays
/// flat however large the file grows. Callers append to `buffer` directly and call
/// `flushIfFull()` after each record. Plain POSIX calls: an export writes many small files,
/// and Foundation's file APIs cost several system calls each.
final class StagedFileWriter {
    private var descriptor: Int32
    var buffer = [UInt8]()
    private var hasher = SHA256()
    private let deflater: DeflateStream
    private static let capacity = 1 << 16

    init(path: String) throws {
        deflater = try DeflateStream()
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
        if buffer.count >= Self.capacity { try flush(finish: false) }
    }

    private func flush(finish: Bool) throws {
        let descriptor = self.descriptor
        try buffer.withUnsafeBytes { plain in
            hasher.update(bufferPointer: plain)
            try deflater.deflate(plain, finish: finish) { try FileSystem.write(descriptor, $0) }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, closes, and returns the digest, size and staging details of the file.
    func finish() throws -> (sha256: String, size: Int, staged: ExportedFile.Staged) {
        try flush(finish: true)
        let closed = close(descriptor)
        descriptor = -1
        guard closed == 0 else { throw FileSystemError.failed("close", path: "", errno: errno) }
        return (
            Digests.hex(hasher.finalize()), deflater.size,
            ExportedFile.Staged(crc32: deflater.crc32, deflatedSize: deflater.deflatedSize)
        )
    }
}
