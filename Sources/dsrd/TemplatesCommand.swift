import ArgumentParser
import DSR

struct Templates: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render every notice template with sample values; show SMS segment counts.",
        discussion: "Checks that all templates parse (as `dsrd run` does at start) and prints each rendering.")

    @OptionGroup var options: CommonOptions

    @Flag(help: "Print only the SMS segment table.") var smsOnly = false

    mutating func run() async throws {
        let options = self.options
        let smsOnly = self.smsOnly
        try await reportingFailures {
            let configuration = try options.loadConfiguration()
            let preview: TemplatePreview
            do {
                preview = try TemplatePreview(configuration: configuration)
            } catch let error as ConfigurationError {
                throw Failure(message: "configuration: \(error)", exitCode: .configuration)
            }
            print(try preview.report(includeRenderings: !smsOnly))
        }
    }
}
