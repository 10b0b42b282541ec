import ArgumentParser
import DSR

struct Indexes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the CREATE INDEX statements each SQL store still needs for dsrd's lookups.",
        discussion: """
            dsrd finds a person by expressions (lower(btrim(email)), a phone-normalising \
            expression, a document number without separators), by customer ids in the column's \
            own type, and by parent keys. Each needs an index, or every request scans the store's \
            tables. This asks each store's planner which lookups no existing index serves (whatever \
            its name or shape) and prints only the indexes that are missing. Review the output and \
            run it in each store's database; CONCURRENTLY keeps a busy store writable (PostgreSQL \
            refuses it on a partitioned table, which gets a plain CREATE INDEX, commented: it blocks \
            writes while it builds). `dsrd check` checks the rest of the mapping.
            """)

    @OptionGroup var options: CommonOptions
    @Option(help: "Only this store.") var store: String?

    mutating func run() async throws {
        let options = self.options
        let only = store
        try await reportingFailures {
            let configuration = try options.loadConfiguration()
            let (stores, kinds) = try options.storeMappings(configuration, only: only)
            var incomplete = false
            for mapping in stores where mapping.kind == .postgres {
                let connector = SQLConnector(mapping: mapping, maxConnections: 1)
                let lookups = try await connector.lookupIndexes(extraKinds: kinds)
                let missing = lookups.filter { !$0.isServed }
                print("-- store \(mapping.name): \(lookups.count - missing.count) of \(lookups.count) lookups have an index")
                let invisible = try await connector.invisibleTables().filter(mapping.lists)
                if !invisible.isEmpty {
                    incomplete = true
                    print(
                        "-- not checked, not visible to this connection: \(invisible.joined(separator: ", ")) (missing, or in a schema its role has no USAGE on; `dsrd check` says which)"
                    )
                }
                let unreadable = try await connector.unreadableTables()
                if !unreadable.isEmpty {
                    incomplete = true
                    print("-- not checked, its role may not read them: \(unreadable.joined(separator: ", ")) (grant SELECT: `dsrd grants`)")
                }
                for lookup in missing {
                    print("-- \(lookup.table): \(lookup.lookup)")
                    print(lookup.statement(concurrently: true))
                }
                print("")
            }
            if incomplete { throw ExitCode(1) }
        }
    }
}
