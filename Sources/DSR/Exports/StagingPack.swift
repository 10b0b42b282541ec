import Foundation
import Synchronization

/// One file per store task that holds the small files of its export, one after another: a
/// person's tables are mostly a few hundred bytes each once deflated, and a file of its own
/// for each cost more (creating, closing, reading back and removing it) than writing its
/// bytes. A file whose deflated bytes outgrow `inMemoryLimit` is staged in a file of its own
/// instead (`StagedFileWriter`), so memory stays flat however large a table is. The pack is
/// named after the store (`ExportedFile.packName`), so removing a store's staged files before
/// a task runs again removes it too. Tables copied side by side on several connections append
/// to it under a lock; each file's bytes are appended whole, when the file is finished.
final class StagingPack: Sendable {
    /// Deflated bytes a file keeps in memory before it gets a staging file of its own.
    static let defaultInMemoryLimit = 1 << 16

    let directory: String
    let store: String
    let inMemoryLimit: Int
    private let path: String
    private let file = Mutex<OpenFile>(OpenFile())

    private struct OpenFile {
        var descriptor: Int32 = -1
        var end = 0
    }

    init(directory: URL, store: String, inMemoryLimit: Int = StagingPack.defaultInMemoryLimit) {
        self.directory = directory.path
        self.store = store
        self.inMemoryLimit = inMemoryLimit
        path = directory.path + "/" + ExportedFile.packName(store: store)
    }

    deinit {
        file.withLock { if $0.descriptor >= 0 { close($0.descriptor) } }
    }

    /// Appends `bytes` (created on the first append, emptied if an earlier attempt left one)
    /// and returns where they begin.
    func append(_ bytes: [UInt8]) throws -> Int {
        try file.withLock { file in
            if file.descriptor < 0 {
                file.descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                guard file.descriptor >= 0 else { throw FileSystemError.failed("create", path: path, errno: errno) }
            }
            let offset = file.end
            try FileSystem.write(file.descriptor, bytes)
            file.end += bytes.count
            return offset
        }
    }
}
