import DSR
import Foundation
import ZIPFoundation

/// Export files as a store task leaves them in its staging folder: raw DEFLATE, inflated here
/// by ZIPFoundation (not by dsrd's own code), checked against the CRC-32 the task recorded.
public enum StagedFiles {
    /// The file `path` (its path in the bundle) of `directory`, inflated. Fails when its CRC-32
    /// or size differs from what `files` recorded for it.
    public static func contents(of path: String, in directory: URL, files: [ExportedFile]) throws -> Data {
        guard let file = files.first(where: { $0.path == path }), let staged = file.staged else {
            throw StagedFileError("\(path) was not staged deflated")
        }
        let (staging, offset) = file.stagedLocation(in: directory)
        let held = try Data(contentsOf: URL(fileURLWithPath: staging))
        let deflated = Data(held.dropFirst(offset).prefix(staged.packOffset == nil ? held.count : staged.deflatedSize))
        guard deflated.count == staged.deflatedSize else {
            throw StagedFileError("\(path): \(deflated.count) deflated bytes, the task recorded \(staged.deflatedSize)")
        }
        var plain = Data()
        let crc = try Data.decompress(size: Int64(deflated.count), bufferSize: 1 << 16, skipCRC32: false) { position, size in
            deflated.subdata(in: Int(position)..<min(Int(position) + size, deflated.count))
        } consumer: {
            plain.append($0)
        }
        guard crc == staged.crc32, plain.count == file.size else {
            throw StagedFileError("\(path): CRC-32 or size differ from what the task recorded")
        }
        return plain
    }
}

public struct StagedFileError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
