import ArgumentParser
import DSR

struct Indexes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the CREATE INDEX statements each SQL store needs for dsrd's lookups.",
        discussion: """
            dsrd finds a person by expressions (lower(btrim(email)), a phone-normalising \
            expression, national id without spaces and dashes) and by parent keys. Each needs an \
            index on exactly that expression, or every request scans the store's tables. Review \
            the output and run it in each store's database (CREATE INDEX CONCURRENTLY on a busy one).
            """)

    @OptionGroup var options: CommonOptions
    @Option(help: "Only this store.") var store: String?

    mutating func run() async throws {
        let options = self.options
        let only = store
        try await reportingFailures {
            let configuration = try options.loadConfiguration()
            let stores: [StoreMapping]
            do {
                stores = try ConnectorCatalog.load(directory: configuration.resolvedPath(configuration.connectors.directory))
            } catch let error as ConfigurationError {
                throw Failure(message: "configuration: \(error)", exitCode: .configuration)
            }
            let chosen = stores.filter { only == nil || $0.name == only }
            guard !chosen.isEmpty else {
                throw Failure(message: "no store named \(only ?? "") in \(configuration.connectors.directory)", exitCode: .configuration)
            }
            for mapping in chosen where mapping.kind == .postgres {
                print("-- store \(mapping.name)")
                SQLConnector.lookupIndexes(for: mapping).forEach { print($0) }
                print("")
            }
        }
    }
}
