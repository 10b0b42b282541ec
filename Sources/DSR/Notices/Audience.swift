/// Who a notice is for (`dsr.outbox.audience`): the person the request is about, or the DPO
/// (whose address comes from `notices.dpo_email`, never from the outbox row).
public enum Audience: String, Sendable, CaseIterable, Codable {
    case subject
    case dpo
}
