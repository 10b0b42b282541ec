import DSR
import Foundation
import Mustache

/// The portal's pages: Mustache templates in `<notices.templates_dir>/portal` (`layout` wraps
/// every page) and the words of each language in `th.json` / `en.json` there, so a company
/// changes wording without a build. Everything a page shows is HTML-escaped by Mustache.
struct PortalPages: Sendable {
    static let pages = ["form", "verify", "status", "message"]

    private let library: MustacheLibrary
    private let words: [Language: [String: String]]
    private let company: DSRConfiguration.Company
    let stylesheet: String

    init(directory: String, company: DSRConfiguration.Company) throws {
        self.company = company
        var library = MustacheLibrary()
        for name in Self.pages + ["layout"] {
            let path = "\(directory)/\(name).mustache"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError("portal: missing template \(path)")
            }
            do {
                try library.register(text, named: name)
            } catch {
                throw ConfigurationError("\(path): not a valid Mustache template (\(error))")
            }
        }
        var words: [Language: [String: String]] = [:]
        for language in [Language.thai, .english] {
            let path = "\(directory)/\(language.rawValue).json"
            guard let data = FileManager.default.contents(atPath: path),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: String]
            else { throw ConfigurationError("portal: \(path) must be a JSON object of texts") }
            words[language] = object
        }
        let missing = Set(words[.thai]!.keys).symmetricDifference(words[.english]!.keys)
        guard missing.isEmpty else { throw ConfigurationError("portal: th.json and en.json differ in \(missing.sorted())") }
        guard let stylesheet = try? String(contentsOfFile: "\(directory)/style.css", encoding: .utf8) else {
            throw ConfigurationError("portal: missing \(directory)/style.css")
        }
        self.library = library
        self.words = words
        self.stylesheet = stylesheet
    }

    /// A whole HTML page: `page` inside the layout, with the language's words as `t`.
    func render(_ page: String, language: Language, values: [String: Any] = [:], path: String) -> String {
        var context = values
        context["t"] = words[language] ?? [:]
        context["lang"] = language.rawValue
        context["is_thai"] = language == .thai
        context["path"] = path
        context["company_name"] = language == .thai ? company.nameTH : company.nameEN
        context["contact_email"] = company.contactEmail
        context["contact_phone"] = company.contactPhone
        let body = library.render(context, withTemplate: page) ?? ""
        context["body"] = body
        return library.render(context, withTemplate: "layout") ?? body
    }

    func word(_ key: String, _ language: Language) -> String { wordIfAny(key, language) ?? key }

    /// The word for `key` in `language`, or nil when the portal's words have none.
    func wordIfAny(_ key: String, _ language: Language) -> String? { words[language]?[key] }
}
