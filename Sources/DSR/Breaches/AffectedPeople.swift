import Foundation
import Postgres

/// Finds the people a personal data breach affects and records them for their notices
/// (`dsr.breach_subjects`). Starting points are identifiers (a list, or a read-only query the
/// DPO runs against a store); each is resolved across every store as a request would be, so
/// one person found through an email and a customer id is told once, on the contact the stores
/// hold for them.
public struct AffectedPeople: Sendable {
    let fanOut: FanOut

    public init(fanOut: FanOut) { self.fanOut = fanOut }

    /// One person: every identifier the stores hold, and where the notice goes.
    public struct Person: Encodable, Sendable, Equatable {
        public var identity: IdentitySet
        public var email: String?
        public var phone: String?
    }

    /// An identifier list: one person per line, `kind:value` (`email:a@b.example`,
    /// `customer_id:C-1`) or a bare email or phone; `#` starts a comment.
    public static func identifiers(fromList text: String, kinds: [IdentityKind]) throws -> [IdentitySet] {
        var people: [IdentitySet] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line =
                raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first?
                .trimmingCharacters(in: .whitespaces) ?? ""
            if line.isEmpty { continue }
            var identity = IdentitySet()
            if let colon = line.firstIndex(of: ":"), let kind = kinds.first(where: { $0.rawValue == line[..<colon] }) {
                identity.add(String(line[line.index(after: colon)...]), as: kind)
            } else if line.contains("@") {
                identity.add(line, as: .email)
            } else {
                identity.add(line, as: .phone)
            }
            guard !identity.kinds.isEmpty else {
                throw ConfigurationError("line \(number + 1): not an identifier (write kind:value, e.g. customer_id:C-17)")
            }
            people.append(identity)
        }
        return people
    }

    /// The rows of a query run read-only in one store: one person per row, from the columns
    /// named like identifier kinds (`SELECT email, phone, id AS customer_id FROM ...`).
    public func identifiers(store: String, query: String) async throws -> [IdentitySet] {
        let mapping = try fanOut.connector(named: store).mapping
        guard mapping.kind == .postgres else { throw ConfigurationError("store \(store) is not a postgres store: give an identifier list") }
        let kinds = try fanOut.identifiers.kinds()
        let connection = try await PostgresConnection.connect(mapping.url)
        do {
            let people = try await connection.transaction(.repeatableReadOnly) { connection in
                try Self.people(in: connection.query(query), kinds: kinds)
            }
            await connection.close()
            return people
        } catch {
            await connection.close()
            throw error
        }
    }

    static func people(in rows: PostgresRows, kinds: [IdentityKind]) throws -> [IdentitySet] {
        let columns = rows.columns.enumerated().compactMap { index, name in kinds.first { $0.rawValue == name }.map { (index, $0) } }
        guard !columns.isEmpty else {
            throw ConfigurationError(
                "the query names no identifier column (\(kinds.map(\.rawValue).joined(separator: ", "))): alias them, e.g. id AS customer_id"
            )
        }
        return rows.compactMap { row in
            var identity = IdentitySet()
            for (index, kind) in columns {
                if let text = row.text(at: index) { identity.add(String(text), as: kind) }
            }
            return identity.kinds.isEmpty ? nil : identity
        }
    }

    /// Resolves each starting point across the stores, `concurrency` at a time; people found
    /// twice (through two of their identifiers) are kept once, in the order first found.
    public func resolve(_ given: [IdentitySet], concurrency: Int) async throws -> [Person] {
        let resolver = RequestHandler(fanOut: fanOut)
        var found = [Person?](repeating: nil, count: given.count)
        try await withThrowingTaskGroup(of: (Int, Person).self) { group in
            var next = 0
            func start() {
                guard next < given.count else { return }
                let index = next
                next += 1
                group.addTask {
                    let resolution = try await resolver.resolve(given[index], contactsElsewhere: false)
                    let onFile = resolution.onFile
                    return (
                        index,
                        Person(
                            identity: resolution.identity, email: (onFile[.email].min() ?? given[index][.email].min()),
                            phone: (onFile[.phone].min() ?? given[index][.phone].min()))
                    )
                }
            }
            for _ in 0..<max(1, concurrency) { start() }
            while let (index, person) = try await group.next() {
                found[index] = person
                start()
            }
        }
        var seen = Set<String>()
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return try found.compactMap { $0 }.filter { seen.insert(String(decoding: try encoder.encode($0.identity), as: UTF8.self)).inserted }
    }

    /// Adds the people to the breach (`dsr.add_breach_subjects`, 1,000 per statement);
    /// returns how many were new.
    public func record(_ people: [Person], breach: Int64, foundBy: String) async throws -> Int {
        var added = 0
        for start in stride(from: 0, to: people.count, by: 1000) {
            let batch = Array(people[start..<min(start + 1000, people.count)])
            let json = String(decoding: try JSONEncoder().encode(batch), as: UTF8.self)
            added += try await fanOut.pool.withConnection { connection in
                try await connection.query("SELECT dsr.add_breach_subjects($1, $2::jsonb, $3) AS added", [breach, json, foundBy])[0]
                    .decode("added", as: Int.self)
            }
        }
        return added
    }
}
