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
    /// The youngest age a record this store holds for the person gives (PDPA s.20): under the
    /// table's `minor_check.age` (20) a parent or guardian acts with them, under
    /// `guardian_only_under` (10) only a parent or guardian may act.
    public func age(of identity: IdentitySet) async throws -> RequestLifecycle.Age {
        // A store without a minor_check is not asked (nor reached: it may be down).
        guard mapping.tables.contains(where: { $0.minorCheck != nil }) else { return .adultOrUnknown }
        let statements = try await statements()
        var youngest = RequestLifecycle.Age.adultOrUnknown
        for table in mapping.tables {
            guard let check = table.minorCheck else { continue }
            let (sql, parameters) = statements.statement(table, identity: identity) { match, binder in
                let age = binder.bind(check.age, as: "int")
                let childAge = binder.bind(check.guardianOnlyUnder, as: "int")
                let born = "t0.\(Self.quote(check.birthDate))"
                return """
                    SELECT bool_or(\(born) > current_date - make_interval(years => \(childAge))) AS child FROM \(Self.quote(table.name)) AS t0
                     WHERE \(match) AND \(born) > current_date - make_interval(years => \(age))
                    """
            }
            let rows = try await run { connection in try await connection.query(sql, parameters) }
            switch try rows.first?.decode("child", as: Bool?.self) {
            case true?: return .child
            case false?: youngest = .minor
            case nil: continue
            }
        }
        return youngest
    }
}
