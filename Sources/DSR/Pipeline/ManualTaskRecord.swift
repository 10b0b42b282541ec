import Foundation

/// What the owner of a manual store recorded with `dsr.complete_manual_task`: the task's
/// outcome as the proof, the completion report and the export summary state it.
public struct ManualTaskRecord: Codable, Sendable, Equatable {
    public var store: String
    public var task: Int64
    /// found, not_found, done or refused.
    public var outcome: String
    /// The owner's words: what was done, or why not.
    public var evidence: String?
    public var openedAt: String
    public var completedAt: String
    public var completedBy: String

    enum CodingKeys: String, CodingKey {
        case store, task, outcome, evidence
        case openedAt = "opened_at"
        case completedAt = "completed_at"
        case completedBy = "completed_by"
    }

    /// Whether the owner found the person's records (and acted on them, or refused to).
    var holdsSomething: Bool { outcome != "not_found" }

    /// The outcome in the person's language, for the export summary.
    func sentence(locale: Language) -> String {
        let text: String
        switch outcome {
        case "found": text = locale.pick(thai: "พบข้อมูล", english: "records found")
        case "not_found": text = locale.pick(thai: "ไม่พบข้อมูลของท่าน", english: "no records of you found")
        case "done": text = locale.pick(thai: "ดำเนินการแล้ว", english: "done")
        default: text = locale.pick(thai: "ไม่ดำเนินการ", english: "not done")
        }
        return evidence.map { "\(text): \($0)" } ?? text
    }
}

/// A finished task's `dsr.request_tasks.outcome`, read for what is not a store's own result:
/// a manual task's record (written by `dsr.complete_manual_task`) or a processor's
/// acknowledgement.
struct TaskOutcomeKind: Decodable {
    struct Manual: Decodable {
        var task: Int64
        var outcome: String
        var evidence: String?
        var openedAt: String
        var completedAt: String
        var completedBy: String

        enum CodingKeys: String, CodingKey {
            case task, outcome, evidence
            case openedAt = "opened_at"
            case completedAt = "completed_at"
            case completedBy = "completed_by"
        }
    }

    var manual: Manual?
    var processor: ProcessorWebhook.Acknowledgement?

    static func read(_ text: String?) -> TaskOutcomeKind? {
        guard let text else { return nil }
        return try? JSONDecoder().decode(TaskOutcomeKind.self, from: Data(text.utf8))
    }

    func manualRecord(store: String) -> ManualTaskRecord? {
        manual.map {
            ManualTaskRecord(
                store: store, task: $0.task, outcome: $0.outcome, evidence: $0.evidence, openedAt: $0.openedAt,
                completedAt: $0.completedAt, completedBy: $0.completedBy)
        }
    }
}
