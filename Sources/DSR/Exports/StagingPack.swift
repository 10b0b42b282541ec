import Foundation
import Synchronization

/// The one file of a request's staging folder that holds the small files of its export, one
/// after another: a person's tables are mostly a few hundred bytes each once deflated, and a
/// file of its own for each cost more (creating, closing, reading back and removing it) than
/// writing its bytes. A file whose deflated bytes outgrow `inMemoryLimit` is staged in a file
/// of its own instead (`StagedFileWriter`), so memory stays flat however large a table is.
///
/// Every store task of the request appends to the same pack (``ExportedFile/requestPackName``),
/// from any process, each file's bytes whole once the file is finished: the pack is opened
/// `O_APPEND` and each file is one `write`, which the kernel places after everything already
/// in the file, so appends never overlap, and the descriptor's position after it says where
/// the bytes begin. Nothing is ever cut from the pack: a store task that runs again appends
/// afresh and records the new offsets, and the bytes of its earlier attempt stay unread until
/// the assembly removes the staging folder. One pack per request instead of one per store
/// spares two files created and removed per access request.
final class StagingPack: Sendable {
    /// Deflated bytes a file keeps in memory before it gets a staging file of its own.
    static let defaultInMemoryLimit = 1 << 16

    let directory: String
    /// The store whose task appends through this instance (its files' paths start with it).
    let store: String
    let inMemoryLimit: Int
    private let path: String
    private let descriptor = Mutex<Int32>(-1)

    init(directory: URL, store: String, inMemoryLimit: Int = StagingPack.defaultInMemoryLimit) {
        self.directory = directory.path
        self.store = store
        self.inMemoryLimit = inMemoryLimit
        path = directory.path + "/" + ExportedFile.requestPackName
    }

    deinit {
        descriptor.withLock { if $0 >= 0 { close($0) } }
    }

    /// Appends `bytes` (the pack is created by the first append of any of the request's
    /// tasks) and returns where they begin. A write the kernel cut short (a full disk) throws:
    /// its bytes were never recorded anywhere, and the task runs again.
    func append(_ bytes: [UInt8]) throws -> Int {
        try descriptor.withLock { descriptor in
            if descriptor < 0 {
                descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
                guard descriptor >= 0 else { throw FileSystemError.failed("create", path: path, errno: errno) }
            }
            var written = -1
            repeat {
                written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            } while written < 0 && errno == EINTR
            guard written == bytes.count else {
                throw FileSystemError.failed("append to", path: path, errno: written < 0 ? errno : ENOSPC)
            }
            let end = lseek(descriptor, 0, SEEK_CUR)
            guard end >= 0 else { throw FileSystemError.failed("seek", path: path, errno: errno) }
            return Int(end) - bytes.count
        }
    }
}
