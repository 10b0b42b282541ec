import ArgumentParser
import DSR

struct ShowConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check the configuration and the store mappings; print the values in force (passwords hidden).")

    @OptionGroup var options: CommonOptions

    mutating func run() async throws {
        let options = self.options
        try await reportingFailures {
            let configuration = try options.loadConfiguration()
            // The mappings too: a typo in one fails here, not when the daemon starts.
            let (stores, _) = try options.storeMappings(configuration)
            print(configuration.rendered())
            print("# store mappings (\(configuration.connectors.directory)): " + stores.map(\.name).joined(separator: ", "))
        }
    }
}
