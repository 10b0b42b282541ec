import ArgumentParser
import DSR

struct Grants: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the GRANT statements each SQL store's dsrd user needs, from the mappings.",
        discussion: """
            SELECT on every mapped table; DELETE only where the mapping deletes rows (erasure \
            _row = "delete", on_objection = "delete"); UPDATE only of the columns dsrd writes \
            (erasure strategies, restrict_flag, rectify, on_objection); INSERT on the \
            suppression table. Nothing is run: the catalog is read with the mapping's connection \
            (override it with DSRD_STORE_<NAME>_URL when that role cannot see the tables yet); \
            review the output and run it in each store's database as the tables' owner, e.g. \
            `dsrd grants --store shop | psql "dbname=shop user=owner"`. `dsrd check` reports privileges the store's user lacks, and \
            those it holds but dsrd never uses.
            """)

    @OptionGroup var options: CommonOptions
    @Option(help: "Only this store.") var store: String?
    @Option(help: "The role to grant to: give the user of the store's connection string when it is not dsrd.") var role = "dsrd"

    mutating func run() async throws {
        let options = self.options
        let only = store
        let role = self.role
        try await reportingFailures {
            let configuration = try options.loadConfiguration()
            let (stores, _) = try options.storeMappings(configuration, only: only)
            for mapping in stores where mapping.kind == .postgres {
                // The catalog names each table's schema; a store not reachable yet gets the
                // names as mapped.
                var schema: StoreSchema?
                do {
                    let connector = SQLConnector(mapping: mapping, maxConnections: 1)
                    schema = try await connector.schema()
                    print("-- store \(mapping.name) (run in its database)")
                    let invisible = try await connector.invisibleTables()
                    if !invisible.isEmpty {
                        print(
                            "-- not visible to this connection, so named as mapped: \(invisible.joined(separator: ", ")) (missing, or in a schema its role has no USAGE on: run this as the tables' owner to have them named with their schema and USAGE granted)"
                        )
                    }
                } catch {
                    print(
                        "-- store \(mapping.name) (run in its database; its catalog could not be read, so tables are named as mapped: tables outside public also need GRANT USAGE ON SCHEMA <schema>)"
                    )
                }
                for statement in StoreGrants(mapping).statements(role: role, schema: schema) { print(statement) }
                print("")
            }
        }
    }
}
