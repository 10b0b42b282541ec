extension PostgresConnection {
    /// Exports the snapshot of the transaction open on this connection
    /// (`pg_export_snapshot()`), so transactions on other connections can read exactly what
    /// this one reads (``transaction(readingSnapshotOf:_:)``). It stays importable while
    /// this transaction is open. Nil on a server in recovery (a replica), which may not
    /// export one: a failed attempt would abort the transaction.
    public func exportSnapshot() throws -> SnapshotID? {
        guard inTransaction else { throw PostgresError(kind: .usage, message: "a snapshot is exported from an open transaction") }
        let text = try query("SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_export_snapshot() END AS snapshot")[0].decode(
            "snapshot", as: String?.self)
        guard let text else { return nil }
        guard let snapshot = SnapshotID(text) else {
            throw PostgresError(kind: .server, message: "pg_export_snapshot() returned an unexpected identifier")
        }
        return snapshot
    }

    /// Runs `body` in a read-only REPEATABLE READ transaction that sees the snapshot another
    /// connection exported: a table read here agrees with every table read there.
    @discardableResult
    public func transaction<T: Sendable>(
        readingSnapshotOf snapshot: SnapshotID, _ body: @Sendable (isolated PostgresConnection) throws -> T
    ) throws -> T {
        try transaction(.repeatableReadOnly) { connection in
            // SET takes no bound parameters; the identifier is the server's own, checked to be
            // hexadecimal digits and dashes when it was read (SnapshotID).
            try connection.execute("SET TRANSACTION SNAPSHOT '\(snapshot.text)'")
            return try body(connection)
        }
    }

    /// Runs `body` isolated to this connection (statements without interleaving), in
    /// whatever transaction is open on it: for work continued on a connection after
    /// ``transaction(_:_:_:)`` has handed it to its `beforeCommit`.
    public func perform<T: Sendable>(_ body: @Sendable (isolated PostgresConnection) throws -> T) throws -> T {
        try body(self)
    }
}

/// The identifier of an exported snapshot (`00000003-0000001B-1`): hexadecimal digits and
/// dashes only, so it can be written into `SET TRANSACTION SNAPSHOT`, which binds no
/// parameters.
public struct SnapshotID: Sendable, Hashable {
    public let text: String

    public init?(_ text: String) {
        guard !text.isEmpty, text.count <= 64, text.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || $0.isHexDigit }) else {
            return nil
        }
        self.text = text
    }
}

extension UInt8 {
    fileprivate var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
            || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
    }
}
