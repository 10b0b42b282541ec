import Crypto
import Foundation

/// Writes a ZIP (PKWARE APPNOTE 6.3) whose entries arrive already deflated, with their CRC-32
/// and sizes known: the export files, compressed while the stores sent them. ZIPFoundation,
/// which reads dsrd's bundles, can only add entries it compresses itself, so the assembly
/// would deflate every file a second time. Entries are copied in, the central directory is
/// written at the end, and ZIP64 records are used where a size, an offset or the number of
/// entries does not fit the classic fields. Names are UTF-8 (flag bit 11); entries are
/// regular files with mode 0600. The SHA-256 of the whole ZIP is computed as it is written.
final class ZIPWriter {
    private struct Entry {
        var name: [UInt8]
        var crc32: UInt32
        var size: UInt64
        var deflatedSize: UInt64
        var offset: UInt64
    }

    private var descriptor: Int32
    private let path: String
    private var entries: [Entry] = []
    private var written: UInt64 = 0
    private var hasher = SHA256()
    private let time: UInt16
    private let date: UInt16
    /// Sizes and offsets from this value on are written as ZIP64 (tests lower it).
    private let zip64Limit: UInt64

    init(path: String, modified: Date, timeZone: TimeZone, zip64Limit: UInt64 = 0xFFFF_FFFF) throws {
        self.path = path
        self.zip64Limit = zip64Limit
        (date, time) = Self.dosDateTime(modified, timeZone: timeZone)
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw FileSystemError.failed("create", path: path, errno: errno) }
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    /// Adds an entry whose raw DEFLATE bytes are the `deflatedSize` bytes at `offset` of the
    /// file at `deflatedPath`, or with `wholeFile` all of it. Fewer bytes there (or, with
    /// `wholeFile`, a file of another length) fail the ZIP (it is never renamed into place).
    func addDeflated(
        name: String, crc32: UInt32, size: Int, deflatedPath: String, at offset: Int, wholeFile: Bool, deflatedSize: Int
    ) throws {
        try writeLocalHeader(name: name, crc32: crc32, size: size, deflatedSize: deflatedSize)
        // One byte more than expected is read from a file of its own, to tell a longer one.
        let copied = try FileSystem.readChunks(
            of: deflatedPath, from: offset, upTo: wholeFile ? deflatedSize + 1 : deflatedSize,
            chunk: min(ExportBundle.chunkSize, deflatedSize + 1)
        ) { try emit($0) }
        guard copied == deflatedSize else {
            throw FileSystemError(description: "\(deflatedPath) holds \(copied) bytes, not the \(deflatedSize) its task recorded")
        }
    }

    /// Adds an entry from bytes in memory (the summary and the manifest), deflating them.
    func add(name: String, bytes: [UInt8]) throws {
        let deflater = try DeflateStream()
        var deflated: [UInt8] = []
        try bytes.withUnsafeBytes { plain in try deflater.deflate(plain, finish: true) { deflated.append(contentsOf: $0) } }
        try writeLocalHeader(name: name, crc32: deflater.crc32, size: bytes.count, deflatedSize: deflated.count)
        try deflated.withUnsafeBytes { try emit($0) }
    }

    /// Writes the central directory and the end records, closes the file, and returns its
    /// size and SHA-256.
    func finish() throws -> (size: Int, sha256: String) {
        let directoryStart = written
        for entry in entries {
            var extra = Bytes()
            if entry.size >= zip64Limit { extra.u64(entry.size) }
            if entry.deflatedSize >= zip64Limit { extra.u64(entry.deflatedSize) }
            if entry.offset >= zip64Limit { extra.u64(entry.offset) }
            let zip64 = !extra.bytes.isEmpty
            var header = Bytes()
            header.u32(0x0201_4b50)
            header.u16(3 << 8 | 45)  // made by: UNIX, spec 4.5
            header.u16(zip64 ? 45 : 20)
            header.u16(0x0800)  // UTF-8 names
            header.u16(8)  // deflate
            header.u16(time)
            header.u16(date)
            header.u32(entry.crc32)
            header.u32(entry.deflatedSize >= zip64Limit ? 0xFFFF_FFFF : UInt32(entry.deflatedSize))
            header.u32(entry.size >= zip64Limit ? 0xFFFF_FFFF : UInt32(entry.size))
            header.u16(UInt16(entry.name.count))
            header.u16(zip64 ? UInt16(4 + extra.bytes.count) : 0)
            header.u16(0)  // comment
            header.u16(0)  // disk
            header.u16(0)  // internal attributes
            header.u32(UInt32(0o100600) << 16)  // regular file, rw-------
            header.u32(entry.offset >= zip64Limit ? 0xFFFF_FFFF : UInt32(entry.offset))
            header.bytes += entry.name
            if zip64 {
                header.u16(0x0001)
                header.u16(UInt16(extra.bytes.count))
                header.bytes += extra.bytes
            }
            try emit(header.bytes)
        }
        let directorySize = written - directoryStart
        let count = UInt64(entries.count)
        var end = Bytes()
        let zip64 = count >= 0xFFFF || directoryStart >= zip64Limit || directorySize >= zip64Limit
        if zip64 {
            let recordOffset = written
            end.u32(0x0606_4b50)
            end.u64(44)  // size of the rest of this record
            end.u16(3 << 8 | 45)
            end.u16(45)
            end.u32(0)
            end.u32(0)
            end.u64(count)
            end.u64(count)
            end.u64(directorySize)
            end.u64(directoryStart)
            end.u32(0x0706_4b50)  // locator
            end.u32(0)
            end.u64(recordOffset)
            end.u32(1)
        }
        end.u32(0x0605_4b50)
        end.u16(0)
        end.u16(0)
        end.u16(zip64 ? 0xFFFF : UInt16(count))
        end.u16(zip64 ? 0xFFFF : UInt16(count))
        end.u32(zip64 ? 0xFFFF_FFFF : UInt32(directorySize))
        end.u32(zip64 ? 0xFFFF_FFFF : UInt32(directoryStart))
        end.u16(0)  // comment
        try emit(end.bytes)
        let closed = close(descriptor)
        descriptor = -1
        guard closed == 0 else { throw FileSystemError.failed("close", path: path, errno: errno) }
        return (Int(written), Digests.hex(hasher.finalize()))
    }

    private func writeLocalHeader(name: String, crc32: UInt32, size: Int, deflatedSize: Int) throws {
        let entry = Entry(
            name: Array(name.utf8), crc32: crc32, size: UInt64(size), deflatedSize: UInt64(deflatedSize), offset: written)
        let zip64 = entry.size >= zip64Limit || entry.deflatedSize >= zip64Limit
        var header = Bytes()
        header.u32(0x0403_4b50)
        header.u16(zip64 ? 45 : 20)
        header.u16(0x0800)
        header.u16(8)
        header.u16(time)
        header.u16(date)
        header.u32(crc32)
        header.u32(zip64 ? 0xFFFF_FFFF : UInt32(entry.deflatedSize))
        header.u32(zip64 ? 0xFFFF_FFFF : UInt32(entry.size))
        header.u16(UInt16(entry.name.count))
        header.u16(zip64 ? 20 : 0)
        header.bytes += entry.name
        if zip64 {
            // In a local header the ZIP64 field holds both sizes.
            header.u16(0x0001)
            header.u16(16)
            header.u64(entry.size)
            header.u64(entry.deflatedSize)
        }
        entries.append(entry)
        try emit(header.bytes)
    }

    private func emit(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try emit($0) }
    }

    private func emit(_ bytes: UnsafeRawBufferPointer) throws {
        hasher.update(bufferPointer: bytes)
        try FileSystem.write(descriptor, bytes)
        written += UInt64(bytes.count)
    }

    /// MS-DOS date and time as ZIP headers hold them: local time in `timeZone`, 2-second steps,
    /// years 1980–2107.
    static func dosDateTime(_ date: Date, timeZone: TimeZone) -> (date: UInt16, time: UInt16) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let year = min(max((parts.year ?? 1980) - 1980, 0), 127)
        let day = UInt16(year) << 9 | UInt16(parts.month ?? 1) << 5 | UInt16(parts.day ?? 1)
        let time = UInt16(parts.hour ?? 0) << 11 | UInt16(parts.minute ?? 0) << 5 | UInt16((parts.second ?? 0) / 2)
        return (day, time)
    }

    /// Little-endian fields.
    private struct Bytes {
        var bytes: [UInt8] = []

        mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    }
}
