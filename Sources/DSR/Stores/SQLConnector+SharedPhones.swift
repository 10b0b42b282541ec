import Postgres

extension SQLConnector {
    /// The person's phone numbers that another person's record in an authoritative table
    /// also carries: a row there with that phone and a strong identifier that is not the
    /// person's (a family's landline, a shop's counter phone). Such a phone tells nobody
    /// apart, so rows found by it alone (a support ticket that gave only a phone) may be
    /// anyone's of them: they are neither exported to nor erased for the person.
    public func sharedPhones(_ identity: IdentitySet) async throws -> Set<String> {
        guard !identity.phones.isEmpty, identity.hasStrongIdentifier else { return [] }
        let tables = mapping.tables.filter { $0.authoritative && $0.identity[.phone] != nil }
        guard !tables.isEmpty else { return [] }
        let statements = try await statements()
        var shared = Set<String>()
        for table in tables {
            guard let column = table.identity[.phone] else { continue }
            let phone = SQLStatements.lookupExpression(.phone, column: "t0.\(Self.quote(column))")
            let (sql, parameters) = statements.statement(table, identity: identity) { match, binder in
                let phones = binder.bind(identity.phones)
                return """
                    SELECT DISTINCT \(phone) AS phone FROM \(Self.quote(table.name)) AS t0
                     WHERE \(phone) = ANY(\(phones)) AND NOT coalesce(\(match), false)
                    """
            }
            let rows = try await run { connection in try await connection.query(sql, parameters) }
            for row in rows { if let value = try row.decode("phone", as: String?.self) { shared.insert(value) } }
        }
        return shared
    }
}
