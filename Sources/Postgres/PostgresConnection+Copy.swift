import CLibPQ
import Glibc

extension PostgresConnection {
    /// Runs `COPY (query) TO STDOUT` (text format) and hands each row to `body` as it
    /// arrives: one round trip and no per-row result object, the fastest way out of
    /// PostgreSQL. COPY takes no bound parameters, so `sql` must hold no values: pass them
    /// with `set_config` in the same transaction and read them with `current_setting`.
    /// Each row is the text-format line without its newline: fields separated by tabs,
    /// `\N` for NULL, backslash escapes (see ``CopyTextRow``).
    public func copyOut(_ sql: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try sendPendingBegin()
        let handle = try liveHandle()
        roundTrips += 1
        guard let start = PQexec(handle, sql) else {
            throw PostgresError.from(connection: handle, fallback: "no result from server")
        }
        guard PQresultStatus(start) == PGRES_COPY_OUT else {
            var error = PostgresError.from(result: start)
            if PQstatus(handle) != CONNECTION_OK { error.kind = .connection }
            PQclear(start)
            throw error
        }
        PQclear(start)
        var failure: Error?
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(handle, &buffer, 0)
            if length < 0 { break }
            defer { PQfreemem(buffer) }
            guard failure == nil, let buffer else { continue }
            // Each buffer is one row ending in a newline.
            let bytes = UnsafeRawBufferPointer(start: buffer, count: Int(length))
            do {
                try body(UnsafeRawBufferPointer(rebasing: bytes[0..<(bytes.last == 0x0A ? bytes.count - 1 : bytes.count)]))
            } catch {
                // Stop the server sending the rest; keep draining until it says so.
                failure = error
                stopSending()
            }
        }
        var serverError: Error?
        while let result = PQgetResult(handle) {
            if PQresultStatus(result) != PGRES_COMMAND_OK, serverError == nil {
                var error = PostgresError.from(result: result)
                if PQstatus(handle) != CONNECTION_OK { error.kind = .connection }
                serverError = error
            }
            PQclear(result)
        }
        if let failure { throw failure }
        if let serverError { throw serverError }
    }
}

/// One row of `COPY ... TO STDOUT` in text format, its fields found and unescaped on demand:
/// tabs separate fields, `\N` is NULL, and `\\`, `\t`, `\n`, `\r`, `\b`, `\f`, `\v`, octal
/// `\ooo` and hex `\xhh` escapes stand for bytes.
public struct CopyTextRow {
    public let line: UnsafeRawBufferPointer
    /// Start and end (exclusive) of each field in `line`.
    public private(set) var fields: [(start: Int, end: Int)] = []

    public init(_ line: UnsafeRawBufferPointer, expecting count: Int) {
        var storage: [(start: Int, end: Int)] = []
        storage.reserveCapacity(count)
        self.init(line, reusing: &storage)
    }

    /// Finds the fields in `storage`, whose memory the rows of one `COPY` share: a row is
    /// done with before the next one comes, so no row allocates.
    public init(_ line: UnsafeRawBufferPointer, reusing storage: inout [(start: Int, end: Int)]) {
        self.line = line
        storage.removeAll(keepingCapacity: true)
        var start = 0
        if let base = line.baseAddress {
            while let tab = memchr(base + start, 0x09, line.count - start) {
                let index = base.distance(to: UnsafeRawPointer(tab))
                storage.append((start, index))
                start = index + 1
            }
        }
        storage.append((start, line.count))
        fields = storage
    }

    /// A field as the line holds it.
    public enum Field {
        case null
        /// Bytes that need no unescaping: the value itself.
        case bytes(UnsafeRawBufferPointer)
        /// Bytes with backslash escapes: read them with `withField(at:scratch:_:)`.
        case escaped
    }

    /// Field `index` as the line holds it, without copying.
    public func field(at index: Int) -> Field {
        let (start, end) = fields[index]
        let field = UnsafeRawBufferPointer(rebasing: line[start..<end])
        if field.count == 2 && field[0] == 0x5C && field[1] == 0x4E { return .null }  // \N
        guard let base = field.baseAddress, memchr(base, 0x5C, field.count) != nil else { return .bytes(field) }
        return .escaped
    }

    /// Calls `body` with field `index`'s bytes (nil for NULL), unescaped into `scratch` when needed.
    public func withField<R>(at index: Int, scratch: inout [UInt8], _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        switch self.field(at: index) {
        case .null: return try body(nil)
        case .bytes(let bytes): return try body(bytes)
        case .escaped: break
        }
        let (start, end) = fields[index]
        let field = UnsafeRawBufferPointer(rebasing: line[start..<end])
        scratch.removeAll(keepingCapacity: true)
        var position = 0
        while position < field.count {
            let byte = field[position]
            guard byte == 0x5C, position + 1 < field.count else {
                scratch.append(byte)
                position += 1
                continue
            }
            let next = field[position + 1]
            position += 2
            switch next {
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "v"): scratch.append(0x0B)
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var value = UInt32(next - UInt8(ascii: "0"))
                var digits = 1
                while digits < 3, position < field.count, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(field[position]) {
                    value = value * 8 + UInt32(field[position] - UInt8(ascii: "0"))
                    position += 1
                    digits += 1
                }
                scratch.append(UInt8(truncatingIfNeeded: value))
            case UInt8(ascii: "x"):
                var value: UInt32 = 0
                var digits = 0
                while digits < 2, position < field.count, let digit = Self.hexValue(field[position]) {
                    value = value * 16 + digit
                    position += 1
                    digits += 1
                }
                if digits == 0 { scratch.append(UInt8(ascii: "x")) } else { scratch.append(UInt8(value)) }
            default:
                scratch.append(next)  // \\ and any other escaped character stand for themselves
            }
        }
        return try scratch.withUnsafeBytes { try body($0) }
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
