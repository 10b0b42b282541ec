import CLibPQ
import Foundation

/// The rows of one statement's result. Owns its `PGresult` and frees it.
///
/// A `PGresult` is immutable once returned by libpq, so reading it from any thread is safe.
public final class PostgresRows: @unchecked Sendable, RandomAccessCollection {
    /// Column names, types and the name index of a result. Single-row mode returns one
    /// result per row with the same shape, so `stream` computes it once and shares it.
    final class Shape: Sendable {
        let columns: [String]
        let columnTypes: [UInt32]
        let columnIndex: [String: Int]

        init(result: OpaquePointer) {
            let fieldCount = Int(PQnfields(result))
            var columns: [String] = []
            columns.reserveCapacity(fieldCount)
            var index: [String: Int] = [:]
            for field in 0..<fieldCount {
                let name = String(cString: PQfname(result, Int32(field)))
                columns.append(name)
                if index[name] == nil { index[name] = field }
            }
            self.columns = columns
            self.columnTypes = (0..<fieldCount).map { UInt32(PQftype(result, Int32($0))) }
            self.columnIndex = index
        }

        func matches(_ result: OpaquePointer) -> Bool {
            Int(PQnfields(result)) == columns.count
                && columnTypes.indices.allSatisfy { UInt32(PQftype(result, Int32($0))) == columnTypes[$0] }
        }
    }

    let result: OpaquePointer
    let shape: Shape
    public var columns: [String] { shape.columns }
    /// Each column's type OID (`pg_type.oid`), e.g. 16 bool, 20 int8, 3802 jsonb.
    public var columnTypes: [UInt32] { shape.columnTypes }
    public let count: Int

    init(result: OpaquePointer, reusing previous: Shape? = nil) {
        self.result = result
        if let previous, previous.matches(result) {
            self.shape = previous
        } else {
            self.shape = Shape(result: result)
        }
        self.count = Int(PQntuples(result))
    }

    deinit { PQclear(result) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
    public subscript(position: Int) -> PostgresRow { PostgresRow(rows: self, index: position) }

    func column(named name: String) throws -> Int {
        guard let index = shape.columnIndex[name] else {
            throw PostgresError(kind: .usage, message: "no column named \(name) in the result")
        }
        return index
    }
}

/// One row of a result; read columns by name or position.
public struct PostgresRow: Sendable {
    let rows: PostgresRows
    let index: Int

    public var columns: [String] { rows.columns }
    public var columnTypes: [UInt32] { rows.columnTypes }

    /// Calls `body` with the raw text-format bytes of a column (`nil` for NULL), without
    /// copying them. The buffer is valid only during the call.
    public func withBytes<R>(at field: Int, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        let row = Int32(index)
        let column = Int32(field)
        guard PQgetisnull(rows.result, row, column) == 0, let pointer = PQgetvalue(rows.result, row, column) else {
            return try body(nil)
        }
        return try body(UnsafeRawBufferPointer(start: pointer, count: Int(PQgetlength(rows.result, row, column))))
    }

    /// Whether the column holds SQL NULL.
    public func isNull(_ column: String) throws -> Bool {
        PQgetisnull(rows.result, Int32(index), Int32(try rows.column(named: column))) == 1
    }

    /// The raw text form of a column, `nil` for NULL.
    public func text(at field: Int) -> Substring? {
        let row = Int32(index)
        let column = Int32(field)
        if PQgetisnull(rows.result, row, column) == 1 { return nil }
        let length = Int(PQgetlength(rows.result, row, column))
        guard let pointer = PQgetvalue(rows.result, row, column) else { return nil }
        let buffer = UnsafeRawBufferPointer(start: pointer, count: length)
        return Substring(String(decoding: buffer, as: UTF8.self))
    }

    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try decode(at: try rows.column(named: column), as: type, name: column)
    }

    public func decode<T: PostgresDecodable>(_ column: String, as type: T?.Type = T?.self) throws -> T? {
        let field = try rows.column(named: column)
        if text(at: field) == nil { return nil }
        return try decode(at: field, as: T.self, name: column)
    }

    public func decode<T: PostgresDecodable>(at field: Int, as type: T.Type = T.self) throws -> T {
        guard field >= 0, field < rows.columns.count else {
            throw PostgresError(kind: .usage, message: "column \(field) is out of range")
        }
        return try decode(at: field, as: type, name: rows.columns[field])
    }

    /// Decodes a `json`/`jsonb` column into a `Decodable` type.
    public func decodeJSON<T: Decodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        let field = try rows.column(named: column)
        guard let text = text(at: field) else {
            throw PostgresError(kind: .decoding, message: "column \(column) is NULL")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch {
            throw PostgresError(kind: .decoding, message: "column \(column) does not decode as \(T.self)")
        }
    }

    private func decode<T: PostgresDecodable>(at field: Int, as type: T.Type, name: String) throws -> T {
        guard let text = text(at: field) else {
            throw PostgresError(kind: .decoding, message: "column \(name) is NULL, expected \(T.self)")
        }
        guard let value = T(postgresText: text) else {
            // The value itself stays out of the message: it may be personal data.
            throw PostgresError(kind: .decoding, message: "column \(name) is not a valid \(T.self)")
        }
        return value
    }
}
