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
