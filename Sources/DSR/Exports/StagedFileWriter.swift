import Crypto
import Dispatch
import Foundation

/// Writes one export file to the staging folder already deflated, as its ZIP entry will hold
/// it, with 0600 permissions. It keeps what the manifest and the ZIP need of the file as it
/// was before compression: SHA-256, CRC-32 and size. Compressing here, while the store is still
/// sending rows, leaves the ZIP assembly only copying.
///
/// Callers append to `buffer` directly and call `flushIfFull()` after each record. Each full
/// 64 KiB buffer is hashed, deflated and written on a serial queue of its own, so the thread
/// reading the store's rows goes on encoding the next ones meanwhile; at most four buffers
/// wait, so memory stays flat however large the file grows. Plain POSIX calls: an export
/// writes many small files, and Foundation's file APIs cost several system calls each.
final class StagedFileWriter {
    var buffer = [UInt8]()
    private let compressor: Compressor
    private let queue = DispatchQueue(label: "dsrd.export.deflate")
    private let waiting = DispatchSemaphore(value: 4)
    private static let capacity = 1 << 16

    /// What runs on the queue: touched only there, and by `finish` after the queue drained.
    private final class Compressor: @unchecked Sendable {
        var descriptor: Int32
        var hasher = SHA256()
        let deflater: DeflateStream
        var failure: Error?

        init(descriptor: Int32, deflater: DeflateStream) {
            self.descriptor = descriptor
            self.deflater = deflater
        }

        deinit {
            if descriptor >= 0 { close(descriptor) }
        }

        func take(_ chunk: [UInt8], finish: Bool) {
            guard failure == nil else { return }
            do {
                try chunk.withUnsafeBytes { plain in
                    hasher.update(bufferPointer: plain)
                    try deflater.deflate(plain, finish: finish) { try FileSystem.write(descriptor, $0) }
                }
            } catch {
                failure = error
            }
        }
    }

    init(path: String) throws {
        let deflater = try DeflateStream()
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw FileSystemError.failed("create", path: path, errno: errno) }
        compressor = Compressor(descriptor: descriptor, deflater: deflater)
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
        if buffer.count >= Self.capacity { hand(finish: false) }
    }

    /// Hands the buffer to the queue and starts a new one.
    private func hand(finish: Bool) {
        let chunk = buffer
        buffer = []
        if !finish { buffer.reserveCapacity(Self.capacity + Self.capacity / 4) }
        waiting.wait()
        let compressor = self.compressor
        let waiting = self.waiting
        queue.async {
            compressor.take(chunk, finish: finish)
            waiting.signal()
        }
    }

    /// Flushes, waits for the queue, closes, and returns the digest, size and staging details.
    func finish() throws -> (sha256: String, size: Int, staged: ExportedFile.Staged) {
        hand(finish: true)
        let compressor = self.compressor
        return try queue.sync {
            if let failure = compressor.failure { throw failure }
            let closed = close(compressor.descriptor)
            compressor.descriptor = -1
            guard closed == 0 else { throw FileSystemError.failed("close", path: "", errno: errno) }
            return (
                Digests.hex(compressor.hasher.finalize()), compressor.deflater.size,
                ExportedFile.Staged(crc32: compressor.deflater.crc32, deflatedSize: compressor.deflater.deflatedSize)
            )
        }
    }
}
