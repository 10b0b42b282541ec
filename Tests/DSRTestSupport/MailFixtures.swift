import Foundation
import Postgres
import TestSupport

/// Decodes RFC 2047 `=?UTF-8?B?...?=` words (folded with CRLF + space).
public func decodeHeader(_ value: String) -> String {
    value.replacingOccurrences(of: "\r\n ", with: " ").split(separator: " ").map { token -> String in
        guard token.hasPrefix("=?UTF-8?B?"), token.hasSuffix("?=") else { return String(token) }
        return String(decoding: Data(base64Encoded: String(token.dropFirst(10).dropLast(2))) ?? Data(), as: UTF8.self)
    }.joined()
}

/// One header's (unfolded) value from a raw message.
public func header(_ name: String, in message: String) -> String? {
    let lines = message.components(separatedBy: "\r\n\r\n")[0].components(separatedBy: "\r\n")
    guard let start = lines.firstIndex(where: { $0.hasPrefix(name + ": ") }) else { return nil }
    var value = String(lines[start].dropFirst(name.count + 2))
    var index = start + 1
    while index < lines.count, lines[index].hasPrefix(" ") {
        value += "\r\n" + lines[index]
        index += 1
    }
    return value
}

/// The decoded text/plain part of a message built by dsrd (base64 body).
public func plainText(of message: String) -> String {
    guard
        let part = message.components(separatedBy: "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
            .last,
        let encoded = part.components(separatedBy: "\r\n--").first
    else { return "" }
    return String(decoding: Data(base64Encoded: encoded.replacingOccurrences(of: "\r\n", with: "")) ?? Data(), as: UTF8.self)
}

/// The one-time code of a verification mail: on a line of its own in the body, indented, and
/// never in the subject (mailbox previews and lock screens show subjects).
public func verificationCode(in message: String) -> String? {
    plainText(of: message).split(whereSeparator: \.isNewline).first { $0.wholeMatch(of: #/ {4}\d{6}\s*/#) != nil }
        .map { String($0.trimmingCharacters(in: .whitespaces)) }
}

extension TestDatabase {
    public func noticeArguments(smtpPort: Int, extra: [String] = []) -> [String] {
        runArguments(
            [
                "--set", "email.smtp_url=smtp://127.0.0.1:\(smtpPort)", "--set", "email.require_tls=false",
                "--set", "email.from_address=privacy@smarttec.example", "--set", "notices.dpo_email=dpo@smarttec.example",
            ] + extra)
    }
}

extension TestDatabase {
    /// Runs the daemon in-process, its clock following real time, until the outbox's one
    /// notice made from `template` has been sent to `sink`.
    public func sendNotice(_ template: String, to sink: ScriptedServer, on connection: PostgresConnection) async throws {
        try await InProcessDaemon.run(arguments: noticeArguments(smtpPort: sink.port), log: LogCapture(), realTime: true) { daemon in
            try await daemon.until("the \(template) notice sent") {
                try await connection.count("SELECT count(*) FROM dsr.outbox WHERE template = $1 AND state = 'sent'", [template]) == 1
            }
        }
    }
}

extension PostgresConnection {
    /// Notice tests look at notices alone: the requests' own jobs (which would plan, reach
    /// stores and send more notices) are cancelled.
    public func cancelRequestJobs() throws {
        try execute("SELECT dsr.cancel_job(id, 'notice test') FROM dsr.jobs WHERE kind = 'request' AND state = 'available'")
    }
}
