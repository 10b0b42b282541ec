import ArgumentParser
import DSR

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show queue health, open requests and overdue requests (the dsr.* views, for people without psql).")

    @OptionGroup var options: CommonOptions

    @Option(help: "Most open requests to list.") var limit = 50

    mutating func run() async throws {
        let options = self.options
        let limit = self.limit
        try await reportingFailures {
            let configuration = try options.loadConfiguration()
            let connection = try await options.connect(configuration)
            print(try await StatusReport.load(from: connection, limit: limit).text)
        }
    }
}
