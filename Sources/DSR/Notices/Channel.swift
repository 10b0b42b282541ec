/// How a notice travels (`dsr.outbox.channel`, `dsr.requests.channels`).
public enum Channel: String, Sendable, CaseIterable, Codable {
    case email
    case sms
}
