import ArgumentParser
import DSR
import Foundation
import Postgres

struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Submit a rights request; prints its id.",
        discussion: """
            KIND is one of: access, portability, erasure, rectification, restriction, objection, \
            consent_withdrawal. Give at least one identifier. Validation is done by dsr.submit in \
            the database, so psql users get the same rules. Invalid input exits 65 with the \
            reason and writes nothing.

            Kinds that dsr.verification_policy marks required (access, portability, erasure, \
            rectification, restriction by default) wait until the person is verified: dsrd sends \
            a one-time code to a contact the stores hold for them. An operator who took the \
            request in person or by phone and checked the identity says so with --verified, \
            --evidence and --operator, and no code is sent.

            Example: dsrd submit access --email somchai@example.co.th --locale th
            Example: dsrd submit erasure --customer-id C0000042 --verified in_person \
              --evidence "Thai ID card seen at the Bangkok office" --operator nok
            """)

    @OptionGroup var options: CommonOptions

    @Argument(help: "Request kind.")
    var kind: String

    @Option(help: "The person's email address.") var email: String?
    @Option(help: "The person's phone number (Thai numbers in any common form).") var phone: String?
    @Option(help: "Customer id in the customer store.") var customerID: String?
    @Option(help: "Thai national ID (13 digits).") var nationalID: String?
    @Option(help: "Notice language: th (default) or en.") var locale: String?
    @Option(name: .customLong("channel"), help: "Notice channel: email or sms (repeatable).") var channels: [String] = []
    @Option(help: "Caller's key: resubmitting with it returns the existing request.") var idempotencyKey: String?
    @Option(help: "When the request was received (ISO 8601), if earlier than now.") var receivedAt: String?
    @Option(name: .customLong("change"), help: "Rectification: field=corrected value (repeatable).") var changes: [String] = []
    @Option(name: .customLong("purpose"), help: "Consent withdrawal/objection: purpose (repeatable).") var purposes: [String] = []
    @Flag(help: "Restriction: lift an earlier restriction instead of imposing one.") var lift = false
    @Option(help: "You verified the person's identity: in_person, documents or call_back.") var verified: String?
    @Option(help: "With --verified: what you checked (never a copy of the document).") var evidence: String?
    @Option(name: .customLong("operator"), help: "With --verified: who checked (default: your login name).") var verifier: String?

    mutating func run() async throws {
        if lift && kind != "restriction" { throw ValidationError("--lift goes with the restriction kind") }
        var submission = RequestSubmission(kind: kind)
        submission.lift = lift
        submission.subject["email"] = email
        submission.subject["phone"] = phone
        submission.subject["customer_id"] = customerID
        submission.subject["national_id"] = nationalID
        submission.locale = locale
        submission.channels = channels.isEmpty ? nil : channels
        submission.idempotencyKey = idempotencyKey
        submission.receivedAt = receivedAt
        submission.purposes = purposes.isEmpty ? nil : purposes
        if let verified {
            guard let evidence else { throw ValidationError("--verified needs --evidence: what you checked") }
            let login = ProcessInfo.processInfo.environment["USER"] ?? ProcessInfo.processInfo.environment["LOGNAME"] ?? "operator"
            submission.verification = .init(method: verified, evidence: evidence, operator: verifier ?? login)
        } else if evidence != nil || verifier != nil {
            throw ValidationError("--evidence and --operator go with --verified")
        }
        if !changes.isEmpty {
            var parsed: [String: String] = [:]
            for change in changes {
                guard let equals = change.firstIndex(of: "="), equals != change.startIndex else {
                    throw ValidationError("--change takes field=value")
                }
                parsed[String(change[..<equals])] = String(change[change.index(after: equals)...])
            }
            submission.changes = parsed
        }
        let options = self.options
        let request = submission
        try await reportingFailures {
            let configuration = try options.loadConfiguration()
            let connection = try await options.connect(configuration)
            do {
                print(try await request.submit(on: connection).uuidString.lowercased())
            } catch let error as PostgresError where error.sqlState == "22023" {
                let hint = error.hint.map { " (\($0))" } ?? ""
                throw Failure(message: "request refused: \(error.message)\(hint)", exitCode: .dataError)
            }
        }
    }
}
