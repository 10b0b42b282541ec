/// Who a notice is for (`dsr.outbox.audience`): the person the request is about, the DPO
/// (whose address comes from `notices.dpo_email`, never from the outbox row), or the owner of
/// a manual store (address and language from its mapping, through `dsr.manual_tasks`).
public enum Audience: String, Sendable, CaseIterable, Codable {
    case subject
    case dpo
    case owner
}
