/// SQL text as the key of a connection's prepared statements, compared and hashed by its
/// UTF-8 bytes. `String`'s own hashing compares canonical equivalence: for text that is not
/// all ASCII (a statement that folds Thai and full-width digits) it normalises the whole
/// statement on every lookup, which cost 2% of the daemon's CPU on erasures. Statements are
/// the same statement when their bytes are.
struct StatementText: Hashable, Sendable {
    let sql: String

    init(_ sql: String) { self.sql = sql }

    static func == (lhs: StatementText, rhs: StatementText) -> Bool {
        lhs.sql.utf8.count == rhs.sql.utf8.count && lhs.sql.utf8.elementsEqual(rhs.sql.utf8)
    }

    func hash(into hasher: inout Hasher) {
        var copy = sql
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
