import CLibPQ
import Foundation

/// An error from libpq or the server.
///
/// `description` holds the SQLSTATE and the server's primary message only. The server's
/// `detail` can quote row values (for example the duplicated key of a unique violation),
/// so it is kept in its own field and never part of `description`; log it only where the
/// data is known not to be personal.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// Could not connect, or the connection broke.
        case connection
        /// The server rejected a statement; `sqlState` says why.
        case server
        /// A value could not be decoded into the requested Swift type.
        case decoding
        /// The caller misused the API (wrong column name, bad channel name).
        case usage
    }

    public var kind: Kind
    /// Five-character SQLSTATE code, e.g. `23505` for a unique violation.
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var hint: String?
    public var constraint: String?

    public init(
        kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil,
        hint: String? = nil, constraint: String? = nil
    ) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
    }

    public var description: String {
        if let sqlState { return "\(sqlState): \(message)" }
        return message
    }

    /// Whether retrying the same operation on a fresh connection may succeed:
    /// connection failures, serialization failures, deadlocks, server shutdown.
    public var isTransient: Bool {
        if kind == .connection { return true }
        guard let sqlState else { return false }
        return sqlState.hasPrefix("08") || sqlState == "40001" || sqlState == "40P01"
            || sqlState == "57P01" || sqlState == "57P02" || sqlState == "57P03"
    }

    /// What a statement on a cancelled connection fails with: the server's own error for a
    /// cancelled statement (SQLSTATE 57014).
    static let canceled = PostgresError(kind: .server, sqlState: "57014", message: "canceling statement due to user request")

    static func from(result: OpaquePointer) -> PostgresError {
        func field(_ code: Int32) -> String? {
            guard let value = PQresultErrorField(result, code) else { return nil }
            return String(cString: value)
        }
        let sqlState = field(Int32(UInt8(ascii: "C")))
        return PostgresError(
            kind: sqlState.map { $0.hasPrefix("08") } == true ? .connection : .server,
            sqlState: sqlState,
            message: field(Int32(UInt8(ascii: "M"))) ?? "unknown server error",
            detail: field(Int32(UInt8(ascii: "D"))),
            hint: field(Int32(UInt8(ascii: "H"))),
            constraint: field(Int32(UInt8(ascii: "n")))
        )
    }

    static func from(connection: OpaquePointer?, fallback: String) -> PostgresError {
        var message = fallback
        if let connection, let text = PQerrorMessage(connection) {
            let trimmed = String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty { message = trimmed }
        }
        return PostgresError(kind: .connection, message: message)
    }
}

extension PostgresError {
    /// "cached plan must not change result type" (0A000) after a table changed shape, or a
    /// prepared statement the server no longer knows (26000): the statement is prepared afresh.
    var meansStalePreparedStatement: Bool { sqlState == "0A000" || sqlState == "26000" }
}
