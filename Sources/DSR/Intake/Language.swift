/// The language of everything dsrd writes to a person or the DPO: notices, export summaries,
/// refusal reasons (`dsr.requests.locale`, `dsr.outbox.locale`). Thai unless English was asked for.
public enum Language: String, Sendable, CaseIterable, Codable {
    case thai = "th"
    case english = "en"

    /// The language for a stored code; anything unknown falls back to Thai, the seed
    /// company's language.
    public init(code: String?) { self = code.flatMap(Language.init(rawValue:)) ?? .thai }

    /// The English text when English was asked for, else the Thai.
    public func pick(thai: String, english: String) -> String { self == .english ? english : thai }
}
