import ArgumentParser
import DSR

struct ShowConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check the configuration and print the values in force (passwords hidden).")

    @OptionGroup var options: CommonOptions

    mutating func run() async throws {
        let options = self.options
        try await reportingFailures {
            print(try options.loadConfiguration().rendered())
        }
    }
}
