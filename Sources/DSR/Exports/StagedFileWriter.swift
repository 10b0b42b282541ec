import Crypto
import Foundation

/// Stages one export file already deflated, as its ZIP entry will hold it, through a 64 KiB
/// buffer. It keeps what the manifest and the ZIP need of the file as it was before
/// compression: SHA-256, CRC-32 and size. Compressing here, while the store is still sending
/// rows, leaves the ZIP assembly only copying. The deflated bytes stay in memory until the
/// file is finished and then go into the request's pack (`StagingPack`); past the pack's
/// in-memory limit the file gets a staging file of its own (0600), so memory stays flat
/// however large it grows. Callers append to `buffer` directly and call `flushIfFull()` after
/// each record. Plain POSIX calls: Foundation's file APIs cost several system calls each.
final class StagedFileWriter {
    private let pack: StagingPack
    /// The file of its own, once the deflated bytes outgrew the pack's in-memory limit.
    private let ownPath: String
    private var descriptor: Int32 = -1
    /// Deflated bytes not yet written anywhere (while the file is small).
    private var deflated = [UInt8]()
    var buffer = [UInt8]()
    private var hasher = SHA256()
    private let deflater: DeflateStream
    private static let capacity = 1 << 16

    /// `path`: the file's path in the bundle (`store/table.json`).
    init(pack: StagingPack, path: String) throws {
        deflater = try DeflateStream()
        self.pack = pack
        ownPath = pack.directory + "/" + ExportedFile.stagedName(path)
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
        try buffer.withUnsafeBytes { plain in
            hasher.update(bufferPointer: plain)
            try deflater.deflate(plain, finish: finish) { try keep($0) }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Keeps deflated bytes in memory while they fit the pack's limit, then in a file of the
    /// file's own.
    private func keep(_ bytes: UnsafeRawBufferPointer) throws {
        if descriptor < 0 {
            if deflated.count + bytes.count <= pack.inMemoryLimit {
                deflated.append(contentsOf: bytes)
                return
            }
            descriptor = open(ownPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw FileSystemError.failed("create", path: ownPath, errno: errno) }
            try FileSystem.write(descriptor, deflated)
            deflated = []
        }
        try FileSystem.write(descriptor, bytes)
    }

    /// Flushes, puts the file in the pack or closes its own, and returns its digest, size and
    /// staging details.
    func finish() throws -> (sha256: String, size: Int, staged: ExportedFile.Staged) {
        try flush(finish: true)
        var packOffset: Int?
        if descriptor >= 0 {
            let closed = close(descriptor)
            descriptor = -1
            guard closed == 0 else { throw FileSystemError.failed("close", path: ownPath, errno: errno) }
        } else {
            packOffset = try pack.append(deflated)
            deflated = []
        }
        return (
            Digests.hex(hasher.finalize()), deflater.size,
            ExportedFile.Staged(
                crc32: deflater.crc32, deflatedSize: deflater.deflatedSize, packOffset: packOffset,
                pack: packOffset == nil ? nil : ExportedFile.requestPackName)
        )
    }
}
