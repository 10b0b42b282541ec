import ArgumentParser
import DSR
import Foundation
import Postgres

struct Breach: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Personal data breaches (PDPA s.37(4)): record one, find the people affected, tell them, draft the PDPC notification.",
        discussion: """
            The 72 hours to the PDPC count from when the company became aware; the DPO is \
            alarmed at 24, 48 and 66 hours until `SELECT dsr.record_pdpc_notification(id, \
            'reference')`. `SELECT * FROM dsr.breach_status` shows every breach's clock and notices.
            """,
        subcommands: [Report.self, Affected.self, Notify.self, Draft.self])

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record a breach (dsr.report_breach) and tell the DPO; prints its number.")

        @OptionGroup var options: CommonOptions
        @Option(help: "What happened.") var summary: String
        @Option(help: "When the company became aware (ISO 8601, e.g. 2026-11-26T09:00:00+07:00).") var awareAt: String
        @Option(help: "unlikely, risk or high (high: the people affected are told too).") var risk: String
        @Option(help: "A category of personal data affected (repeat for more).") var category: [String] = []
        @Option(help: "A store or system affected (repeat for more).") var system: [String] = []
        @Option(help: "Likely consequences for the people affected.") var consequences = ""
        @Option(help: "Measures taken or proposed.") var measures = ""

        mutating func run() async throws {
            let options = self.options
            let command = self
            try await reportingFailures {
                guard let aware = DateTexts.parseISO(command.awareAt) else {
                    throw Failure(message: "--aware-at: not an ISO 8601 time (2026-11-26T09:00:00+07:00)", exitCode: .usage)
                }
                let connection = try await options.connect(try options.loadConfiguration())
                let id = try await connection.query(
                    "SELECT dsr.report_breach($1, $2::text[], $3::text[], $4, $5, $6, $7) AS id",
                    [command.summary, command.category, command.system, aware, command.risk, command.consequences, command.measures]
                )[0].decode("id", as: Int64.self)
                print(id)
            }
        }
    }

    struct Affected: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find the people a breach affects and record them (dsr.breach_subjects).",
            discussion: """
                Give identifiers in a file (one person per line: kind:value, or a bare email or \
                phone), or a read-only query run in one store whose columns are named like \
                identifier kinds (SELECT email, phone, id AS customer_id FROM customers WHERE ...). \
                Each is resolved across every store, as a request is, so a person is recorded \
                once with the contacts the stores hold. Running it again adds only new people.
                """)

        @OptionGroup var options: CommonOptions
        @Argument(help: "The breach number.") var breach: Int64
        @Option(help: "File of identifiers, one person per line.") var identifiers: String?
        @Option(help: "Store to run --query in.") var store: String?
        @Option(help: "Read-only query returning identifier columns.") var query: String?

        mutating func run() async throws {
            let options = self.options
            let command = self
            try await reportingFailures {
                let configuration = try options.loadConfiguration()
                let pool = ConnectionPool(
                    conninfo: try configuration.databaseConninfo(), maximum: 2, settings: configuration.database.sessionSettings)
                let fanOut = try FanOut.make(configuration: configuration, pool: pool)
                let affected = AffectedPeople(fanOut: fanOut)
                let given: [IdentitySet]
                let foundBy: String
                switch (command.identifiers, command.store, command.query) {
                case (let file?, nil, nil):
                    guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                        throw Failure(message: "cannot read \(file)", exitCode: .usage)
                    }
                    given = try AffectedPeople.identifiers(fromList: text, kinds: try configuration.identifiers.kinds())
                    foundBy = "identifier list \(URL(fileURLWithPath: file).lastPathComponent)"
                case (nil, let store?, let query?):
                    given = try await affected.identifiers(store: store, query: query)
                    foundBy = "query on store \(store)"
                default:
                    throw Failure(message: "give --identifiers FILE, or --store NAME with --query SQL", exitCode: .usage)
                }
                let people = try await affected.resolve(given, concurrency: max(2, configuration.queue.workers))
                let added = try await affected.record(people, breach: command.breach, foundBy: foundBy)
                print("\(given.count) identifiers, \(people.count) people, \(added) new for breach \(command.breach)")
            }
        }
    }

    struct Notify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue the breach notice to every person affected not yet told (dsr.notify_breach_subjects).",
            discussion: """
                One notice per person, by email or else SMS (template breach_notice), spaced so \
                that `dsrd run` sends them at --per-minute. Queued once: running it again queues \
                only people added since; a daemon stopped half way resumes where it was.
                """)

        @OptionGroup var options: CommonOptions
        @Argument(help: "The breach number.") var breach: Int64
        @Option(help: "Notices per minute (keep under what the mail and SMS providers accept).") var perMinute = 600

        mutating func run() async throws {
            let options = self.options
            let command = self
            try await reportingFailures {
                let connection = try await options.connect(try options.loadConfiguration())
                let queued = try await connection.query(
                    "SELECT dsr.notify_breach_subjects($1, $2) AS queued", [command.breach, command.perMinute]
                )[0].decode("queued", as: Int.self)
                print("\(queued) notices queued for breach \(command.breach) at \(command.perMinute) per minute")
            }
        }
    }

    struct Draft: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the draft of the breach's notification to the PDPC, from its record (template pdpc_breach_draft).")

        @OptionGroup var options: CommonOptions
        @Argument(help: "The breach number.") var breach: Int64
        @Option(help: "th or en.") var lang = "th"

        mutating func run() async throws {
            let options = self.options
            let command = self
            try await reportingFailures {
                let configuration = try options.loadConfiguration()
                guard let language = Language(rawValue: command.lang) else {
                    throw Failure(message: "--lang is th or en", exitCode: .usage)
                }
                // The draft names the controller and its contact: not with blanks.
                let missing = configuration.company.missingKeys
                guard missing.isEmpty else {
                    throw Failure(
                        message: "configuration: \(missing.joined(separator: ", ")) not set (the draft names the company and its contact)",
                        exitCode: .configuration)
                }
                let connection = try await options.connect(configuration)
                let draft = try await BreachDraft(configuration: configuration).render(
                    breach: command.breach, language: language, on: connection)
                print((draft.subject ?? "") + "\n\n" + draft.text)
            }
        }
    }
}
