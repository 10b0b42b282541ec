import ArgumentParser
import DSR
import Foundation

struct Ropa: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the register of processing activities (PDPA s.39) from the store mappings, as CSV or HTML.",
        discussion: """
            One row per table of every store (postgres, http and manual): the data categories, \
            purposes, recipients, transfers abroad, retention, lawful basis and sources its \
            mapping states, in Thai or English words. No database is needed. CSV is RFC 4180 \
            with a UTF-8 byte order mark (spreadsheets then read the Thai text); HTML is one \
            self-contained page. Columns a mapping leaves empty are reported on stderr (and shown \
            as "not stated"); with --strict they make the command fail. `dsrd run` publishes the \
            same rows to dsr.register.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case csv, html }

    @OptionGroup var options: CommonOptions
    @Option(help: "csv or html.") var format: Format = .csv
    @Option(help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file")) var output: String?
    @Option(help: "th or en; default notices.dpo_locale.") var lang: DocumentLanguage?
    @Option(help: "Only this store.") var store: String?
    @Flag(help: "Exit 1 when a table's mapping leaves a column of the register empty.") var strict = false

    mutating func run() async throws {
        let (options, format, output, lang, only, strict) = (self.options, format, output, lang, store, strict)
        try await reportingFailures {
            let configuration = try options.loadConfiguration()
            let (stores, _) = try options.storeMappings(configuration, only: only)
            let register = ProcessingRegister(stores: stores)
            let locale = lang?.rawValue ?? (configuration.notices.dpoLocale == "en" ? "en" : "th")
            let timeZone = TimeZone(identifier: configuration.notices.timeZone) ?? TimeZone(identifier: "UTC")!
            let text =
                switch format {
                case .csv: register.csv(locale: locale)
                case .html: register.html(locale: locale, company: configuration.company, generatedAt: Date(), timeZone: timeZone)
                }
            try DocumentOutput.write(text, to: output)
            var gaps = 0
            for entry in register.entries where !entry.missing.isEmpty {
                gaps += 1
                let columns = entry.missing.map(\.rawValue).joined(separator: ", ")
                FileHandle.standardError.write(Data("dsrd ropa: \(entry.store).\(entry.table): not stated: \(columns)\n".utf8))
            }
            if strict && gaps > 0 { throw ExitCode(1) }
        }
    }
}
