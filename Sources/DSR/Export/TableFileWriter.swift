import Crypto
import Foundation

/// Writes one file through a 64 KiB buffer, hashing as it goes, with 0600 permissions.
/// Memory stays flat however large the file grows.
final class HashingFileWriter {
    private let handle: FileHandle
    private var buffer = [UInt8]()
    private var hasher = SHA256()
    private(set) var size = 0

    init(url: URL) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: url.path])
        }
        handle = try FileHandle(forWritingTo: url)
        buffer.reserveCapacity(1 << 16)
    }

    func write(_ text: String) throws {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { try flush() }
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

/// A table's rows as a JSON array of objects and, optionally, CSV with a header row.
///
/// Portable format (documented in README "Export format"): one object per row, keys are the
/// store's column names, values keep their type: booleans and numbers as JSON booleans and
/// numbers, json/jsonb embedded as JSON, bytea as base64 strings, everything else (text,
/// dates as ISO 8601, inet, uuid...) as strings, SQL NULL as null. CSV has the same columns;
/// NULL is an empty field.
final class TableFileWriter {
    enum Value {
        case null
        case string(String)
        /// Already valid JSON (numbers, booleans, json columns).
        case json(String, csv: String)
    }

    private let json: HashingFileWriter
    private let csv: HashingFileWriter?
    private var columns: [String]?
    private(set) var rows = 0
    let store: String
    let table: String
    let jsonPath: String
    let csvPath: String

    init(directory: URL, store: String, table: String, formats: ExportFormats) throws {
        self.store = store
        self.table = table
        let storeDirectory = directory.appendingPathComponent(store)
        try FileManager.default.createDirectory(at: storeDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        jsonPath = "\(store)/\(table).json"
        csvPath = "\(store)/\(table).csv"
        json = try HashingFileWriter(url: directory.appendingPathComponent(jsonPath))
        csv = formats.contains(.csv) ? try HashingFileWriter(url: directory.appendingPathComponent(csvPath)) : nil
        try json.write("[")
    }

    func write(columns names: [String], values: [Value]) throws {
        if columns == nil {
            columns = names
            try csv?.write(names.map(Self.csvField).joined(separator: ",") + "\r\n")
        }
        var object = rows == 0 ? "\n  {" : ",\n  {"
        var line: [String] = []
        for (index, name) in names.enumerated() {
            if index > 0 { object += ", " }
            object += Self.jsonString(name) + ": "
            switch values[index] {
            case .null:
                object += "null"
                line.append("")
            case .string(let text):
                object += Self.jsonString(text)
                line.append(Self.csvField(text))
            case .json(let raw, let csvText):
                object += raw
                line.append(Self.csvField(csvText))
            }
        }
        try json.write(object + "}")
        try csv?.write(line.joined(separator: ",") + "\r\n")
        rows += 1
    }

    func finish() throws -> [ExportedFile] {
        try json.write(rows == 0 ? "]\n" : "\n]\n")
        let jsonDigest = try json.finish()
        var files = [ExportedFile(path: jsonPath, sha256: jsonDigest.sha256, size: jsonDigest.size, rows: rows, store: store, table: table)]
        if let csv {
            if columns == nil { try csv.write("") }
            let digest = try csv.finish()
            files.append(ExportedFile(path: csvPath, sha256: digest.sha256, size: digest.size, rows: rows, store: store, table: table))
        }
        return files
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
