import Foundation
import Postgres

/// A table's rows as a JSON array of objects and, optionally, CSV with a header row.
///
/// Portable format (documented in README "Export format"): one object per row, keys are the
/// store's column names, values keep their type: booleans and numbers as JSON booleans and
/// numbers, json/jsonb embedded as JSON, bytea as base64 strings, arrays of these and of text,
/// dates and uuids as JSON arrays, everything else (text,
/// dates as ISO 8601, inet, uuid...) as strings, SQL NULL as null. CSV has the same columns;
/// NULL is an empty field.
///
/// Rows are encoded straight from the bytes the store sent into the files' buffers: no
/// string is built per value, which is what keeps a 50,000-row export near `\copy` speed.
final class TableFileWriter {
    /// How a column's text form becomes JSON.
    enum FieldKind: Sendable {
        case text
        /// Emitted as a JSON number when finite; `NaN` and `Infinity` become strings.
        case number
        /// PostgreSQL `t`/`f`.
        case boolean
        /// Already JSON (json, jsonb, or a value from a JSON store).
        case json
        /// PostgreSQL `\x...` hex, emitted as base64.
        case bytea
        /// `2026-11-25 11:40:06.5+00` emitted as `2026-11-25T11:40:06.5Z` (sessions run in UTC).
        case timestamp
        /// PostgreSQL's array text form (`{vip,"a b",NULL}`), emitted as a JSON array (nested
        /// for more dimensions) of its elements, each as its own kind.
        indirect case array(FieldKind)

        init(postgresType oid: UInt32) {
            switch oid {
            case 16: self = .boolean
            case 20, 21, 23, 26, 700, 701, 1700: self = .number
            case 114, 3802: self = .json
            case 17: self = .bytea
            case 1114, 1184: self = .timestamp
            case 1000: self = .array(.boolean)
            case 1005, 1007, 1016, 1021, 1022, 1028, 1231: self = .array(.number)
            case 199, 3807: self = .array(.json)
            case 1001: self = .array(.bytea)
            case 1115, 1185: self = .array(.timestamp)
            case 1009, 1014, 1015, 1182, 2951: self = .array(.text)
            default: self = .text
            }
        }
    }

    /// A value from a store that is not PostgreSQL (the HTTP connector).
    enum Value {
        case null
        case string(String)
        /// Already valid JSON (numbers, booleans, nested objects); CSV gets the same text.
        case json(String)
    }

    private let json: StagedFileWriter
    private let csv: StagedFileWriter?
    /// `"name": ` per column, JSON-escaped once, one after another; `ends[i]` is where
    /// column i's ends (one buffer, so a row reads no array per column).
    private var keys: (bytes: [UInt8], ends: [Int])?
    private(set) var rows = 0
    let store: String
    let table: String
    let jsonPath: String
    let csvPath: String

    /// Stages the table's files through `pack` (one per store task).
    init(pack: StagingPack, table: String, formats: ExportFormats) throws {
        store = pack.store
        self.table = table
        jsonPath = "\(store)/\(table).json"
        csvPath = "\(store)/\(table).csv"
        json = try StagedFileWriter(pack: pack, path: jsonPath)
        csv = formats.contains(.csv) ? try StagedFileWriter(pack: pack, path: csvPath) : nil
        json.buffer.append(UInt8(ascii: "["))
    }

    /// Writes one row, reading column `index` from `row` as raw text-format bytes.
    func write<Row: RowFields>(columns names: [String], kinds: [FieldKind], row: Row) throws {
        let keys = self.keys ?? startTable(columns: names)
        // The buffers are moved out for the row and back after it: appending to a class's
        // stored property pays an exclusivity check per append.
        var out = json.takeBuffer()
        var csvOut = csv?.takeBuffer()
        out.append(contentsOf: rows == 0 ? Self.firstRow : Self.nextRow)
        keys.bytes.withUnsafeBytes { keyBytes in
            var start = 0
            for (index, end) in keys.ends.enumerated() {
                if index > 0 { csvOut?.append(UInt8(ascii: ",")) }
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: keyBytes[start..<end]))
                start = end
                row.withField(at: index) { Self.encode($0, as: kinds[index], json: &out, csv: &csvOut) }
            }
        }
        out.append(UInt8(ascii: "}"))
        json.putBuffer(out)
        csvOut?.append(contentsOf: Self.crlf)
        if let csv, let line = csvOut { csv.putBuffer(line) }
        rows += 1
        try json.flushIfFull()
        try csv?.flushIfFull()
    }

    /// Writes one row of already decoded values.
    func write(columns names: [String], values: [Value]) throws {
        try write(columns: names, kinds: values.map { if case .json = $0 { .json } else { .text } }, row: DecodedRow(values: values))
    }

    func finish() throws -> [ExportedFile] {
        json.buffer.append(contentsOf: Array((rows == 0 ? "]\n" : "\n]\n").utf8))
        let jsonDigest = try json.finish()
        var files = [
            ExportedFile(
                path: jsonPath, sha256: jsonDigest.sha256, size: jsonDigest.size, rows: rows, store: store, table: table,
                staged: jsonDigest.staged)
        ]
        if let csv {
            let digest = try csv.finish()
            files.append(
                ExportedFile(
                    path: csvPath, sha256: digest.sha256, size: digest.size, rows: rows, store: store, table: table, staged: digest.staged))
        }
        return files
    }

    private static let firstRow = Array("\n  {".utf8)
    private static let nextRow = Array(",\n  {".utf8)
    private static let crlf = Array("\r\n".utf8)

    /// Starts the table with its columns known before any row (a store's catalog), so the CSV
    /// of a table without rows for the person still has its header row.
    func start(columns names: [String]) {
        if keys == nil { _ = startTable(columns: names) }
    }

    private func startTable(columns names: [String]) -> (bytes: [UInt8], ends: [Int]) {
        var keys: (bytes: [UInt8], ends: [Int]) = ([], [])
        for (index, name) in names.enumerated() {
            if index > 0 { keys.bytes.append(contentsOf: Array(", ".utf8)) }
            Array(name.utf8).withUnsafeBytes { Self.appendJSONString($0, to: &keys.bytes) }
            keys.bytes.append(contentsOf: Array(": ".utf8))
            keys.ends.append(keys.bytes.count)
        }
        self.keys = keys
        if let csv {
            for (index, name) in names.enumerated() {
                if index > 0 { csv.buffer.append(UInt8(ascii: ",")) }
                Array(name.utf8).withUnsafeBytes { Self.appendCSVField($0, to: &csv.buffer) }
            }
            csv.buffer.append(contentsOf: Self.crlf)
        }
        return keys
    }

    static func encode(_ bytes: UnsafeRawBufferPointer?, as kind: FieldKind, json: inout [UInt8], csv: inout [UInt8]?) {
        guard let bytes else {
            json.append(contentsOf: null)
            return
        }
        switch kind {
        case .boolean:
            let value = bytes.first == UInt8(ascii: "t") ? Self.true : Self.false
            json.append(contentsOf: value)
            csv?.append(contentsOf: value)
        case .number where isFiniteNumber(bytes):
            json.append(contentsOf: bytes)
            if csv != nil { appendCSVField(bytes, to: &csv!) }
        case .json:
            appendJSONWithReadableText(bytes, to: &json)
            if csv != nil { appendCSVField(bytes, to: &csv!) }
        case .timestamp:
            appendTimestamp(bytes, json: &json, csv: &csv)
        case .bytea:
            let base64 = Data(postgresText: Substring(String(decoding: bytes, as: UTF8.self)))?.base64EncodedString() ?? ""
            Array(base64.utf8).withUnsafeBytes { encodeString($0, json: &json, csv: &csv) }
        case .array(let element):
            // The CSV keeps PostgreSQL's form; JSON gets an array, or the text when it is not one.
            let start = json.count
            if !appendJSONArray(bytes, of: element, to: &json) {
                json.removeSubrange(start...)
                appendJSONString(bytes, to: &json)
            }
            if csv != nil { appendCSVField(bytes, to: &csv!) }
        case .text, .number:
            encodeString(bytes, json: &json, csv: &csv)
        }
    }

    /// `2026-11-25 11:40:06.5+00` as `2026-11-25T11:40:06.5Z` (the first space a `T`, a final
    /// `+00` a `Z`), written straight into the buffers: PostgreSQL's timestamp text holds
    /// nothing JSON or CSV escapes. Anything else is first copied and escaped.
    static func appendTimestamp(_ bytes: UnsafeRawBufferPointer, json: inout [UInt8], csv: inout [UInt8]?) {
        let count = bytes.count
        let utc = count > 3 && bytes[count - 3] == UInt8(ascii: "+") && bytes[count - 2] == 0x30 && bytes[count - 1] == 0x30
        let text = UnsafeRawBufferPointer(rebasing: bytes[0..<(utc ? count - 3 : count)])
        let space = text.firstIndex(of: UInt8(ascii: " "))
        guard text.allSatisfy({ (0x20..<0x7F).contains($0) && $0 != 0x22 && $0 != 0x5C && $0 != 0x2C }) else {
            var iso = Array(text)
            if let space { iso[space] = UInt8(ascii: "T") }
            if utc { iso.append(UInt8(ascii: "Z")) }
            iso.withUnsafeBytes { encodeString($0, json: &json, csv: &csv) }
            return
        }
        json.append(UInt8(ascii: "\""))
        let start = json.count
        if let space {
            json.append(contentsOf: UnsafeRawBufferPointer(rebasing: text[..<space]))
            json.append(UInt8(ascii: "T"))
            json.append(contentsOf: UnsafeRawBufferPointer(rebasing: text[(space + 1)...]))
        } else {
            json.append(contentsOf: text)
        }
        if utc { json.append(UInt8(ascii: "Z")) }
        if csv != nil { csv!.append(contentsOf: json[start...]) }
        json.append(UInt8(ascii: "\""))
    }

    private static func encodeString(_ bytes: UnsafeRawBufferPointer, json: inout [UInt8], csv: inout [UInt8]?) {
        appendJSONString(bytes, to: &json)
        if csv != nil { appendCSVField(bytes, to: &csv!) }
    }

    private static let null = Array("null".utf8)
    private static let `true` = Array("true".utf8)
    private static let `false` = Array("false".utf8)

    /// PostgreSQL's text form of a finite number ends in a digit; NaN and ±Infinity do not.
    static func isFiniteNumber(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let last = bytes.last, let first = bytes.first else { return false }
        return (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(last)
            && (first == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first))
    }

    /// Appends `bytes` (UTF-8) as a JSON string: quotes, backslashes and control characters
    /// escaped, and U+2028/U+2029 too so the file is also valid JavaScript. Runs of plain
    /// bytes are copied in one go.
    static func appendJSONString(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var runStart = 0
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            // Most bytes are plain: one test, then the next.
            if byte >= 0x20 && byte != 0x22 && byte != 0x5C && byte != 0xE2 {
                index += 1
                continue
            }
            var escape: [UInt8]?
            var width = 1
            switch byte {
            case UInt8(ascii: "\""): escape = [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): escape = [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "\n"): escape = [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case UInt8(ascii: "\r"): escape = [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case UInt8(ascii: "\t"): escape = [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20: escape = Array(String(format: "\\u%04x", byte).utf8)
            case 0xE2 where index + 2 < count && bytes[index + 1] == 0x80 && (bytes[index + 2] == 0xA8 || bytes[index + 2] == 0xA9):
                escape = Array((bytes[index + 2] == 0xA8 ? "\\u2028" : "\\u2029").utf8)
                width = 3
            default: break
            }
            if let escape {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<index]))
                out.append(contentsOf: escape)
                index += width
                runStart = index
            } else {
                index += 1
            }
        }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<count]))
        out.append(UInt8(ascii: "\""))
    }

    /// Appends a JSON document, turning `\uXXXX` escapes of letters (what many applications
    /// write into `json` columns: Python's `json.dumps` escapes all Thai) into UTF-8, so the
    /// person can read their own name. Escapes of control characters, quotes, backslashes and
    /// U+2028/U+2029 stay as they are; a lone surrogate stays escaped.
    static func appendJSONWithReadableText(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let backslash = UInt8(ascii: "\\")
        guard bytes.contains(backslash) else {
            out.append(contentsOf: bytes)
            return
        }
        func hex(at offset: Int) -> UInt32? {
            guard offset + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for byte in bytes[offset..<(offset + 4)] {
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == backslash, index + 1 < bytes.count else {
                out.append(byte)
                index += 1
                continue
            }
            // An escape: `\u` with four hex digits may become a character; any other is copied whole.
            guard bytes[index + 1] == UInt8(ascii: "u"), var scalar = hex(at: index + 2) else {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<(index + 2)]))
                index += 2
                continue
            }
            var width = 6
            if (0xD800...0xDBFF).contains(scalar), index + 12 <= bytes.count, bytes[index + 6] == backslash,
                bytes[index + 7] == UInt8(ascii: "u"), let low = hex(at: index + 8), (0xDC00...0xDFFF).contains(low)
            {
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                width = 12
            }
            if scalar >= 0x80, scalar != 0x2028, scalar != 0x2029, let character = Unicode.Scalar(scalar) {
                out.append(contentsOf: Array(String(character).utf8))
            } else {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<(index + width)]))
            }
            index += width
        }
    }

    /// Appends `bytes` as one CSV field (RFC 4180): quoted, with quotes doubled, only when it
    /// holds a comma, quote or line break.
    static func appendCSVField(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let special: (UInt8) -> Bool = {
            $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r")
        }
        guard bytes.contains(where: special) else {
            out.append(contentsOf: bytes)
            return
        }
        out.append(UInt8(ascii: "\""))
        for byte in bytes {
            if byte == UInt8(ascii: "\"") { out.append(byte) }
            out.append(byte)
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// A row whose columns can be read as raw text-format bytes (`nil` for NULL).
protocol RowFields {
    func withField<R>(at index: Int, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R
}

extension PostgresRow: RowFields {
    func withField<R>(at index: Int, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        try withBytes(at: index, body)
    }
}

/// A row of `COPY ... TO STDOUT`, its fields unescaped into a buffer the rows share.
struct CopyRowFields: RowFields {
    let row: CopyTextRow
    let scratch: CopyScratch

    func withField<R>(at index: Int, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        // The scratch buffer (a class's property: an exclusivity check) only for escaped bytes.
        switch row.field(at: index) {
        case .null: return try body(nil)
        case .bytes(let bytes): return try body(bytes)
        case .escaped: return try row.withField(at: index, scratch: &scratch.bytes, body)
        }
    }
}

/// The bytes of an escaped field, reused from row to row.
final class CopyScratch {
    var bytes: [UInt8] = []
}

/// Values from a store that is not PostgreSQL, read as bytes.
private struct DecodedRow: RowFields {
    let values: [TableFileWriter.Value]

    func withField<R>(at index: Int, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        switch values[index] {
        case .null: return try body(nil)
        case .string(var text), .json(var text): return try text.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
        }
    }
}
