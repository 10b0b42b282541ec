import Foundation

/// The few file operations exports need, as plain POSIX calls on paths.
enum FileSystem {
    /// Creates a directory (and its parents) with `mode`; an existing one is fine.
    static func makeDirectory(_ path: String, mode: mode_t = 0o700) throws {
        if mkdir(path, mode) == 0 || errno == EEXIST { return }
        if errno == ENOENT {
            let parent = (path as NSString).deletingLastPathComponent
            if !parent.isEmpty && parent != path {
                try makeDirectory(parent, mode: mode)
                if mkdir(path, mode) == 0 || errno == EEXIST { return }
            }
        }
        throw FileSystemError.failed("create the folder", path: path, errno: errno)
    }

    static func write(_ descriptor: Int32, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write(descriptor, $0) }
    }

    static func write(_ descriptor: Int32, _ buffer: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < buffer.count {
            let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw FileSystemError.failed("write", path: "", errno: errno)
            }
            offset += written
        }
    }

    /// Hands the file at `path` to `body` in pieces of at most `chunk` bytes, from `offset`
    /// to its end or until `limit` bytes were read, and returns how many bytes that was:
    /// memory does not depend on the file's size.
    @discardableResult
    static func readChunks(
        of path: String, from offset: Int = 0, upTo limit: Int = .max, chunk: Int = 1 << 18,
        _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileSystemError.failed("read", path: path, errno: errno) }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: max(chunk, 1))
        var total = 0
        while total < limit {
            let wanted = min(buffer.count, limit - total)
            let read = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress!, wanted, off_t(offset + total)) }
            if read < 0 && errno == EINTR { continue }
            guard read >= 0 else { throw FileSystemError.failed("read", path: path, errno: errno) }
            if read == 0 { return total }
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<read])) }
            total += read
        }
        return total
    }

    /// Writes `bytes` as a new file (0600).
    static func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw FileSystemError.failed("create", path: path, errno: errno) }
        defer { close(descriptor) }
        try write(descriptor, bytes)
    }

    /// The size of a regular file, or nil when there is none.
    static func size(_ path: String) -> Int? {
        var status = stat()
        guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(status.st_size)
    }

    static func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw FileSystemError.failed("rename", path: from, errno: errno) }
    }

    /// Gives the file at `from` the name `to` unless `to` already exists, atomically (a hard
    /// link, then the old name goes): true when it was placed, false when `to` was taken (then
    /// `from` is left as it was) or `from` is gone. On a file system without hard links it
    /// renames, replacing.
    static func placeWithoutReplacing(_ from: String, at to: String) throws -> Bool {
        if link(from, to) == 0 {
            unlink(from)
            return true
        }
        switch errno {
        case EEXIST, ENOENT: return false
        case EPERM, EOPNOTSUPP, EXDEV, EMLINK:
            try rename(from, to)
            return true
        default: throw FileSystemError.failed("link", path: from, errno: errno)
        }
    }

    static func remove(_ path: String) { unlink(path) }

    /// Removes the files in `folder` whose names start with `prefix` (not recursive).
    static func removeFiles(in folder: String, prefix: String) {
        for (name, _) in entries(of: folder) where name.hasPrefix(prefix) { unlink(folder + "/" + name) }
    }

    /// Removes `folder` and everything in it; a missing folder is fine. Best effort: what
    /// cannot be removed stays for the export janitor.
    static func removeFolder(_ folder: String) {
        for (name, isFolder) in entries(of: folder) {
            if isFolder { removeFolder(folder + "/" + name) } else { unlink(folder + "/" + name) }
        }
        rmdir(folder)
    }

    /// The names in `folder` (without `.` and `..`) and whether each is a folder.
    static func entries(of folder: String) -> [(name: String, isFolder: Bool)] {
        guard let stream = opendir(folder) else { return [] }
        defer { closedir(stream) }
        var entries: [(String, Bool)] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            var isFolder = entry.pointee.d_type == UInt8(DT_DIR)
            if entry.pointee.d_type == UInt8(DT_UNKNOWN) {
                var status = stat()
                isFolder = lstat(folder + "/" + name, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
            }
            entries.append((name, isFolder))
        }
        return entries
    }
}

struct FileSystemError: Error, CustomStringConvertible {
    let description: String

    static func failed(_ what: String, path: String, errno code: Int32) -> FileSystemError {
        FileSystemError(description: "cannot \(what) \(path): \(String(cString: strerror(code)))")
    }
}
