import ArgumentParser
import DSR
import Foundation

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the DPO's monthly report as HTML; --email also queues it to the DPO.",
        discussion: """
            For one month in notices.time_zone: requests received by right and status; requests \
            answered (completed or refused), the share answered on time (completed_at <= due_at, \
            the deadline as extended), median and longest days from receipt to answer; refusals \
            by ground; what was open and overdue at the month's end; breaches, when dsr.breaches \
            exists. Inline SVG charts, no script, no personal data. The page goes to --output, \
            else to standard output (unless --email is given alone). --email queues it once per \
            month as an email to notices.dpo_email: the dpo_monthly_report template's summary as \
            text, the whole report as the HTML part; `dsrd run` sends it like every DPO notice.
            """)

    @OptionGroup var options: CommonOptions
    @Option(help: ArgumentHelp("The month, YYYY-MM; default the previous month.", valueName: "YYYY-MM")) var month: String?
    @Option(help: ArgumentHelp("Write the HTML to this file.", valueName: "file")) var output: String?
    @Option(help: "th or en; default notices.dpo_locale.") var lang: DocumentLanguage?
    @Flag(help: "Queue the report as an email to the DPO (once per month).") var email = false

    func validate() throws {
        if let month, ReportMonth(month, timeZone: TimeZone(identifier: "UTC")!) == nil {
            throw ValidationError("--month must be YYYY-MM, e.g. 2026-11")
        }
    }

    mutating func run() async throws {
        let (options, month, output, lang, email) = (self.options, month, output, lang, email)
        try await reportingFailures {
            let configuration = try options.loadConfiguration()
            let timeZone = TimeZone(identifier: configuration.notices.timeZone) ?? TimeZone(identifier: "UTC")!
            let now = Date()
            let chosen = month.flatMap { ReportMonth($0, timeZone: timeZone) } ?? ReportMonth.previous(to: now, timeZone: timeZone)
            guard chosen.start <= now else { throw Failure(message: "\(chosen) has not begun", exitCode: .dataError) }
            let locale = lang?.rawValue ?? (configuration.notices.dpoLocale == "en" ? "en" : "th")
            let connection = try await options.connect(configuration)
            let report = try await MonthlyReport.load(from: connection, month: chosen, now: now)
            if output != nil || !email {
                try DocumentOutput.write(report.html(locale: locale, company: configuration.company, timeZone: timeZone), to: output)
            }
            if email {
                let templates: NoticeTemplates
                do {
                    templates = try NoticeTemplates(directory: configuration.resolvedPath(configuration.notices.templatesDirectory))
                } catch let error as ConfigurationError {
                    throw Failure(message: "configuration: \(error)", exitCode: .configuration)
                }
                let file = output.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
                let queued = try await report.queueForDPO(
                    on: connection, templates: templates, locale: locale, company: configuration.company, timeZone: timeZone, file: file)
                let message =
                    queued.map { "dsrd report: the \(chosen) report is queued to the DPO (outbox \($0)); dsrd run sends it\n" }
                    ?? "dsrd report: the \(chosen) report was queued before; nothing new queued (SELECT * FROM dsr.notices)\n"
                FileHandle.standardError.write(Data(message.utf8))
                if configuration.notices.dpoEmail.isEmpty {
                    FileHandle.standardError.write(Data("dsrd report: notices.dpo_email is not set: the email waits until it is\n".utf8))
                }
            }
            await connection.close()
        }
    }
}
