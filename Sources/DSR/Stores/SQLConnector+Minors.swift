import Postgres

extension SQLConnector {
    /// Customer ids of people younger than the table's `minor_check.age` whose guardian's
    /// consent is not on record (the seed policy: their data is deleted when found).
    public func unconsentedMinors() async throws -> [String] {
        var found: [String] = []
        for table in mapping.tables {
            guard let check = table.minorCheck, let idColumn = table.identity[.customerID] else { continue }
            let sql = """
                SELECT t0.\(Self.quote(idColumn))::text AS id FROM \(Self.quote(table.name)) AS t0
                 WHERE t0.\(Self.quote(check.birthDate)) > current_date - make_interval(years => $1::int)
                   AND NOT coalesce(t0.\(Self.quote(check.guardianConsent)), false)
                 ORDER BY 1
                """
            let rows = try await pool.withConnection { connection in try await connection.query(sql, [check.age]) }
            found += try rows.map { try $0.decode("id", as: String.self) }
        }
        return found
    }
}

extension SQLConnector {
    /// Per table with a `minor_check`: records whose date of birth is missing, so whether
    /// they are minors cannot be told (the DPO is told, rather than skipping them silently).
    public func recordsOfUnknownAge() async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for table in mapping.tables {
            guard let check = table.minorCheck else { continue }
            let sql = "SELECT count(*) AS n FROM \(Self.quote(table.name)) AS t0 WHERE t0.\(Self.quote(check.birthDate)) IS NULL"
            let rows = try await pool.withConnection { connection in try await connection.query(sql) }
            let count = try rows[0].decode("n", as: Int.self)
            if count > 0 { counts[table.name] = count }
        }
        return counts
    }
}

extension SQLConnector {
    /// Whether a record this store holds for the person says they are younger than the
    /// table's `minor_check.age` (PDPA s.20: under 20, a parent or guardian acts with them).
    public func holdsAMinor(_ identity: IdentitySet) async throws -> Bool {
        // A store without a minor_check is not asked (nor reached: it may be down).
        guard mapping.tables.contains(where: { $0.minorCheck != nil }) else { return false }
        let statements = try await statements()
        for table in mapping.tables {
            guard let check = table.minorCheck else { continue }
            let (sql, parameters) = statements.statement(table, identity: identity) { match, binder in
                let age = binder.bind(check.age, as: "int")
                return """
                    SELECT 1 FROM \(Self.quote(table.name)) AS t0
                     WHERE \(match) AND t0.\(Self.quote(check.birthDate)) > current_date - make_interval(years => \(age)) LIMIT 1
                    """
            }
            if try await run({ connection in try await connection.query(sql, parameters) }).isEmpty == false { return true }
        }
        return false
    }
}
